"""Balances hold for any sequence of conversions, refunds, approvals, redemptions, payouts and
expiries: a Hypothesis state machine.

After every step it reads the store back and checks, for every user: the balance is never
below zero; balance - debt == approved - redeemed - paid out - expired, from the ledger's own
entries (the documented rule: a reversal after spending leaves a debt, spending never does);
the ledger only grows. Each spending call is checked against the balance read just before it:
it succeeds exactly when the balance covers it, and a refused call stores nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import refkit

from .support.settings import SECRET, STORE_KINDS, clean_postgres

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REFERRERS = ("ann", "ben")
REFEREES = ("r0", "r1", "r2", "r3", "r4", "r5")
USERS = REFERRERS + REFEREES
AMOUNTS = st.sampled_from([Decimal(a) for a in ("0.01", "1", "2.50", "5", "7.77", "12", "40")])
SPEND_KINDS = ("redeemed", "paid_out", "expired")
SETTINGS = {
    "memory": settings(max_examples=25, stateful_step_count=30, deadline=None),
    "sqlite": settings(max_examples=12, stateful_step_count=30, deadline=None),
    "postgres": settings(max_examples=8, stateful_step_count=30, deadline=None),
}
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=timedelta(days=14),
    credit_expires_after=timedelta(days=30),
)


def fresh_store(kind: str, postgres_url: str) -> tuple[refkit.Store, Callable[[], None]]:
    if kind == "memory":
        store = refkit.open_store("memory://")
        return store, store.close
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="refkit-credit-")
        store = refkit.open_store(f"sqlite:///{Path(directory) / 'refkit.db'}")

        def remove() -> None:
            store.close()
            shutil.rmtree(directory, ignore_errors=True)

        return store, remove
    clean_postgres(postgres_url)
    store = refkit.open_store(postgres_url)
    return store, store.close


class CreditMachine(RuleBasedStateMachine):
    kind = "memory"
    postgres_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.clock = refkit.FrozenClock(START)
        self.store, self._dispose = fresh_store(self.kind, self.postgres_url)
        self.program = refkit.ReferralProgram(
            secret_key=SECRET, store=self.store, rules=RULES, clock=self.clock
        )
        for n, referee in enumerate(REFEREES):
            self.program.attribute(referee, self.program.code_for(REFERRERS[n % 2]))
        self.orders: list[str] = []
        self.references: dict[str, tuple[str, str, Decimal]] = {}
        self.seen: list[refkit.LedgerEntry] = []

    def teardown(self) -> None:
        self._dispose()

    # -- steps ---------------------------------------------------------------------------

    @rule(referee=st.sampled_from(REFEREES), amount=AMOUNTS)
    def convert(self, referee: str, amount: Decimal) -> None:
        order = f"order-{len(self.orders)}"
        self.program.record_conversion(order, referee, amount * 10, "EUR")
        self.orders.append(order)

    @rule(data=st.data(), full=st.booleans())
    def refund(self, data: st.DataObject, full: bool) -> None:
        if not self.orders:
            return
        order = data.draw(st.sampled_from(self.orders))
        stored = self.program.conversion(order)
        assert stored is not None
        left = stored.amount - stored.refunded_amount
        if left > 0:
            self.program.refund(order, None if full else (left / 2).quantize(Decimal("0.01")))

    @rule(days=st.integers(1, 20))
    def approve(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))
        self.program.approve_due()

    @rule(
        user=st.sampled_from(USERS),
        amount=AMOUNTS,
        kind=st.sampled_from(["redeem", "pay_out"]),
        replay=st.booleans(),
    )
    def spend(self, user: str, amount: Decimal, kind: str, replay: bool) -> None:
        if replay and self.references:  # the same call again: the same entry, nothing new
            reference = sorted(self.references)[0]
            kind, user, amount = self.references[reference]
            before = self.program.ledger()
            entry = getattr(self.program, kind)(user, amount, "EUR", reference=reference)
            assert entry.reference == reference
            assert self.program.ledger() == before
            return
        reference = f"ref-{len(self.references)}-{kind}"
        balance = self.program.balance(user, "EUR")
        before = self.program.ledger()
        call = getattr(self.program, kind)
        if amount > balance:
            with pytest.raises(refkit.InsufficientBalance):
                call(user, amount, "EUR", reference=reference)
            assert self.program.ledger() == before
            return
        entry = call(user, amount, "EUR", reference=reference)
        assert entry.approved == -amount
        assert self.program.balance(user, "EUR") == balance - amount
        self.references[reference] = (kind, user, amount)

    @rule(days=st.integers(0, 40))
    def expire(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))
        self.program.expire_credit()
        assert self.program.expire_credit() == []  # running it twice expires nothing more

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def balances_follow_the_ledger(self) -> None:
        entries = self.program.ledger()
        assert entries[: len(self.seen)] == self.seen  # the ledger only grows
        self.seen = list(entries)
        for user in USERS:
            mine = [e for e in entries if e.beneficiary_id == user and e.currency == "EUR"]
            approved = sum((e.approved for e in mine if e.reward_id is not None), Decimal(0))
            spent = {
                k: -sum((e.approved for e in mine if e.kind == k), Decimal(0)) for k in SPEND_KINDS
            }
            assert all(value >= 0 for value in spent.values())
            net = approved - spent["redeemed"] - spent["paid_out"] - spent["expired"]
            balance = self.program.balance(user, "EUR")
            stats = self.program.stats_for(user)
            assert balance >= 0
            assert balance == max(net, Decimal(0)) == stats.balance
            assert stats.debt_by_currency.get("EUR", Decimal(0)) == max(-net, Decimal(0))


def machine_for(kind: str, postgres_url: str) -> type[CreditMachine]:
    return type(
        f"CreditMachine_{kind}", (CreditMachine,), {"kind": kind, "postgres_url": postgres_url}
    )


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_balances_hold_for_any_sequence(kind: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_database") if kind == "postgres" else ""
    run_state_machine_as_test(machine_for(kind, url), settings=SETTINGS[kind])
