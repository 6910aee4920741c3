"""In the shop's Alembic ``env.py``: leave refkit's tables to refkit.

refkit migrates its own tables (prefixed ``refkit_``, versioned in ``refkit_alembic_version``);
the shop's autogenerate should neither drop them nor diff them.
"""


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and (name or "").startswith("refkit_"))


# context.configure(connection=connection, target_metadata=target_metadata,
#                   include_name=include_name)
assert include_name("customers", "table", {}) and not include_name("refkit_rewards", "table", {})
