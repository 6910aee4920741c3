"""One transaction with the shop's order: refkit writes in the caller's session."""

import contextlib
from decimal import Decimal

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import refkit

engine = create_engine("sqlite:///joined.db")  # the shop's engine (or postgresql+psycopg://...)
with engine.begin() as connection:
    connection.execute(text("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY)"))

program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store=engine,  # refkit's tables beside the shop's, in the same database
    rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR")),
)
program.create_all()  # before the first transaction that joins
program.attribute("bob", program.code_for("alice"))
created: list[str] = []
program.on("reward.created", lambda reward: created.append(reward.order_id))

# The payment failed: the shop rolls back, and refkit's conversion goes with its order.
with Session(engine) as session:
    session.execute(text("INSERT INTO orders VALUES ('A-1')"))
    program.record_conversion("A-1", "bob", "50.00", "EUR", connection=session)
    session.rollback()
assert program.conversion("A-1") is None
assert created == []  # nothing fires for a rollback

# The payment went through: one commit stores both; the events follow it.
with Session(engine) as session:
    session.execute(text("INSERT INTO orders VALUES ('A-2')"))
    conversion = program.record_conversion("A-2", "bob", "50.00", "EUR", connection=session)
    assert conversion.referrer_id == "alice"
    assert created == []  # not yet: the shop has not committed
    session.commit()
assert created == ["A-2"]

# A refusal rolls back refkit's part only (a savepoint): the shop's transaction goes on.
with Session(engine) as session:
    session.execute(text("INSERT INTO orders VALUES ('A-3')"))
    with contextlib.suppress(refkit.ConflictError):  # A-2 was recorded with 50.00
        program.record_conversion("A-2", "bob", "99.00", "EUR", connection=session)
    session.commit()
with engine.connect() as connection:
    assert connection.execute(text("SELECT count(*) FROM orders")).scalar() == 2
