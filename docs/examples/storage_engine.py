"""Reusing the shop's own SQLAlchemy engine: refkit's tables live beside the shop's."""

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect

import refkit

engine = create_engine("sqlite:///shop.db")  # the shop's engine (PostgreSQL alike)
shop_tables = MetaData()
Table("customers", shop_tables, Column("id", Integer, primary_key=True), Column("email", String))
shop_tables.create_all(engine)

program = refkit.ReferralProgram(secret_key="dev only: 32+ random characters!", store=engine)
program.create_all()
assert set(inspect(engine).get_table_names()) >= {
    "customers",  # the shop's table, untouched
    "refkit_referrers", "refkit_visits", "refkit_referrals", "refkit_conversions",
    "refkit_rewards", "refkit_ledger", "refkit_counters", "refkit_alembic_version",
}  # fmt: skip
