"""The single-reward rules hold for any sequence of calls: a Hypothesis state machine.

The machine drives one program (double-sided rules, a minimum order, a hold period, a cap of
two referrer rewards) through random codes, referrals, purchases, replays, refunds, approvals
and clock moves, and keeps a plain-Python model of what the contract says must happen. After
every step it reads the store back (rewards, the ledger, referrals, stats) and checks the
invariants from the database's point of view, not from the values the calls returned.

Each example gets a fresh store: a new memory store, a new SQLite file, or PostgreSQL with
refkit's tables dropped.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

import refkit

from .support.settings import SECRET, STORE_KINDS, clean_postgres

USERS = ("ann", "ben", "cat", "dan")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN_ORDER = Decimal("20")
HOLD = timedelta(days=14)
WINDOW = timedelta(days=30)
CAP = 2
REFEREE_REWARD = Decimal("5.00")
AMOUNTS = st.sampled_from(  # mostly qualifying amounts, some below the minimum
    [Decimal(a) for a in ("0", "19.99", "20", "35.50", "100", "499.99", "600", "1234.56")]
)
CLOCK_STEPS = st.one_of(  # around the hold period and the attribution window
    st.integers(1, 72).map(lambda hours: timedelta(hours=hours)),
    st.sampled_from([timedelta(days=d) for d in (13, 14, 15, 29, 30, 31)]),
    st.builds(timedelta, days=st.integers(1, 40), seconds=st.integers(0, 86_399)),
)
ZERO = Decimal("0.00")
CENT = Decimal("0.01")

#: Examples and steps per store: together well under a minute on two cores.
SETTINGS = {
    "memory": settings(max_examples=25, stateful_step_count=25, deadline=None),
    "sqlite": settings(max_examples=20, stateful_step_count=25, deadline=None),
    "postgres": settings(max_examples=12, stateful_step_count=25, deadline=None),
}


def program_rules(first_purchase_only: bool) -> refkit.RewardRules:
    return refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        min_order_amount=MIN_ORDER,
        first_purchase_only=first_purchase_only,
        attribution_window=WINDOW,
        hold_period=HOLD,
        max_rewards_per_referrer=CAP,
    )


def fresh_store(kind: str, postgres_url: str) -> tuple[refkit.Store, Callable[[], None]]:
    """An empty store of ``kind``, and how to dispose of it after the example."""
    if kind == "memory":
        store = refkit.open_store("memory://")
        return store, store.close
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="refkit-stateful-")
        store = refkit.open_store(f"sqlite:///{Path(directory) / 'refkit.db'}")

        def remove() -> None:
            store.close()
            shutil.rmtree(directory, ignore_errors=True)

        return store, remove
    clean_postgres(postgres_url)
    store = refkit.open_store(postgres_url)
    return store, store.close


# -- the model -----------------------------------------------------------------------------


@dataclass
class ModelReward:
    id: int
    order_id: str
    referee_id: str
    beneficiary_id: str
    role: str
    kind: str
    original: Decimal
    value: Decimal
    status: str
    due_at: datetime


@dataclass
class ModelOrder:
    order_id: str
    customer_id: str
    amount: Decimal
    code: str | None
    referrer_id: str | None
    reasons: tuple[str, ...]
    reward_ids: list[int] = field(default_factory=list)
    refunded: Decimal = ZERO


def percent_of(amount: Decimal) -> Decimal:
    """10 percent, in cents, at most 50."""
    return min((amount / 10).quantize(CENT, ROUND_HALF_EVEN), Decimal("50"))


def minor(value: Decimal) -> int:
    return int(value * 100)


def after_partial_refund(reward: ModelReward, order: ModelOrder) -> Decimal:
    """A percent reward after a partial refund: its original value in proportion to what is
    left of the order, to the cent, half to even."""
    kept = Decimal(minor(order.amount - order.refunded)) / Decimal(minor(order.amount))
    return Decimal(int((minor(reward.original) * kept).to_integral_value(ROUND_HALF_EVEN))) / 100


class ReferralMachine(RuleBasedStateMachine):
    """Random use of one program, checked against a model after every step."""

    kind = "memory"
    postgres_url = ""

    referrers = Bundle("referrers")
    referees = Bundle("referees")
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.clock = refkit.FrozenClock(START)
        self.store, self._dispose = fresh_store(self.kind, self.postgres_url)
        self.first_purchase_only = False
        self.program = self._program()
        self.codes: dict[str, str] = {}
        self.referrals: dict[str, tuple[str, datetime]] = {}  # referee -> (referrer, at)
        self.buyers: set[str] = set()
        self.rewarded: dict[str, set[str]] = defaultdict(set)  # referee -> roles rewarded
        self.slots: Counter[str] = Counter()  # referrer -> referrer rewards created
        self.orders_by_id: dict[str, ModelOrder] = {}
        self.model_rewards: dict[int, ModelReward] = {}
        self.next_order = 0

    def _program(self) -> refkit.ReferralProgram:
        return refkit.ReferralProgram(
            secret_key=SECRET,
            store=self.store,
            rules=program_rules(self.first_purchase_only),
            clock=self.clock,
        )

    # -- model helpers -------------------------------------------------------------------

    def _referred_through(self, user: str, ancestor: str) -> bool:
        """Whether ``ancestor`` is up ``user``'s referral chain."""
        seen = set()
        while user in self.referrals and user not in seen:
            seen.add(user)
            user = self.referrals[user][0]
            if user == ancestor:
                return True
        return False

    def _binding(self, referee: str, referrer: str, *, self_first: bool) -> str:
        """What binding ``referee`` to ``referrer`` does: "new", "same", "already", "self",
        "existing" (an unreferred customer who bought before) or "cycle". :meth:`attribute`
        refuses a self-referral before looking at an existing referral; a code typed at
        checkout looks at the existing referral first."""
        if self_first and referee == referrer:
            return "self"
        if referee in self.referrals:
            return "same" if self.referrals[referee][0] == referrer else "already"
        if referee == referrer:
            return "self"
        if referee in self.buyers:
            return "existing"
        if self._referred_through(referrer, referee):
            return "cycle"
        return "new"

    # -- rules ---------------------------------------------------------------------------

    @initialize(
        target=referrers,
        first_purchase_only=st.booleans(),
        sharing=st.lists(st.sampled_from(USERS), min_size=2, unique=True),
    )
    def configure(self, first_purchase_only: bool, sharing: list[str]) -> MultipleResults[str]:
        """Pick the rules, and give some users their codes up front (others get theirs from
        :meth:`make_code` later), so that most purchases can be referred."""
        self.first_purchase_only = first_purchase_only
        self.program = self._program()
        return multiple(*(self._code_for(user) for user in sharing))

    @rule(target=referrers, user=st.sampled_from(USERS))
    def make_code(self, user: str) -> str:
        return self._code_for(user)

    def _code_for(self, user: str) -> str:
        """Issue (or re-issue: the same code every time) a user's code."""
        code = self.program.code_for(user)
        assert self.codes.setdefault(user, code) == code
        assert self.program.resolve(code) == user
        return user

    @rule(target=referees, referee=st.sampled_from(USERS), referrer=referrers)
    def attribute(self, referee: str, referrer: str) -> MultipleResults[str]:
        expected = self._binding(referee, referrer, self_first=True)
        code = self.codes[referrer]
        if expected in ("self", "cycle"):
            with pytest.raises(refkit.SelfReferral):
                self.program.attribute(referee, code)
            return multiple()
        if expected == "already":
            with pytest.raises(refkit.AlreadyReferred):
                self.program.attribute(referee, code)
            return multiple()
        if expected == "existing":
            with pytest.raises(refkit.ExistingCustomer):
                self.program.attribute(referee, code)
            return multiple()
        referral = self.program.attribute(referee, code)
        if expected == "new":
            self.referrals[referee] = (referrer, self.clock())
        assert (referral.referee_id, referral.referrer_id) == (referee, referrer)
        assert referral.created_at == self.referrals[referee][1]
        return multiple(referee)

    @rule(target=orders, customer=referees, amount=AMOUNTS)
    def referee_buys(self, customer: str, amount: Decimal) -> str:
        """A referred customer buys (again): where rewards, caps and windows are decided."""
        return self._buy(customer, amount, None)

    @rule(
        target=orders,
        customer=st.sampled_from(USERS),
        amount=AMOUNTS,
        code_of=st.one_of(st.none(), referrers),
    )
    def buy(self, customer: str, amount: Decimal, code_of: str | None) -> str:
        """A purchase, perhaps with a code typed at checkout (which binds a new customer)."""
        return self._buy(customer, amount, code_of)

    def _buy(self, customer: str, amount: Decimal, code_of: str | None) -> str:
        code = None if code_of is None else self.codes[code_of]
        now = self.clock()
        reasons: set[str] = set()
        if code is not None:
            assert code_of is not None
            binding = self._binding(customer, code_of, self_first=False)
            if binding == "new":
                self.referrals[customer] = (code_of, now)
            elif binding == "already":
                reasons.add("code_ignored_already_referred")
            elif binding in ("self", "cycle"):
                reasons.add("self_referral")
            elif binding == "existing":
                reasons.add("existing_customer")
        first = customer not in self.buyers
        self.buyers.add(customer)
        referrer = self.referrals[customer][0] if customer in self.referrals else None
        planned: list[tuple[str, str, str, Decimal]] = []
        if referrer is None:
            reasons.add("not_referred")
        elif now - self.referrals[customer][1] > WINDOW:
            reasons.add("outside_window")
        elif self.first_purchase_only and not first:
            reasons.add("not_first_purchase")
        elif amount < MIN_ORDER:
            reasons.add("below_min_order")
        else:
            for role, beneficiary, kind, value in (
                ("referrer", referrer, "percent", percent_of(amount)),
                ("referee", customer, "fixed", REFEREE_REWARD),
            ):
                if role in self.rewarded[customer]:
                    reasons.add("already_rewarded")
                elif role == "referrer" and self.slots[referrer] >= CAP:
                    reasons.add("cap_reached")
                else:
                    reasons.add(f"{role}_rewarded")
                    planned.append((role, beneficiary, kind, value))

        order_id = f"order-{self.next_order}"
        self.next_order += 1
        conversion = self.program.record_conversion(order_id, customer, amount, "EUR", code=code)

        assert (conversion.order_id, conversion.customer_id) == (order_id, customer)
        assert conversion.amount == amount
        assert conversion.currency == "EUR"
        assert conversion.referrer_id == referrer
        assert set(conversion.reasons) == reasons
        got = sorted((r.role, r.beneficiary_id, r.kind, r.value) for r in conversion.rewards)
        assert got == sorted(planned)
        order = ModelOrder(order_id, customer, amount, code, referrer, conversion.reasons)
        for reward in conversion.rewards:
            assert reward.status == "pending"
            assert (reward.created_at, reward.due_at) == (now, now + HOLD)
            assert (reward.order_id, reward.referee_id) == (order_id, customer)
            self.rewarded[customer].add(reward.role)
            if reward.role == "referrer":
                self.slots[reward.beneficiary_id] += 1
            self.model_rewards[reward.id] = ModelReward(
                reward.id,
                order_id,
                customer,
                reward.beneficiary_id,
                reward.role,
                reward.kind,
                reward.value,
                reward.value,
                "pending",
                reward.due_at,
            )
            order.reward_ids.append(reward.id)
        self.orders_by_id[order_id] = order
        return order_id

    @rule(order_id=orders)
    def replay(self, order_id: str) -> None:
        order = self.orders_by_id[order_id]
        again = self.program.record_conversion(
            order_id, order.customer_id, order.amount, "eur", code=order.code
        )
        assert again == self.program.conversion(order_id)
        assert [reward.id for reward in again.rewards] == order.reward_ids
        assert again.reasons == order.reasons
        assert again.refunded_amount == order.refunded

    @rule(order_id=orders, change=st.sampled_from(["customer", "amount", "currency"]))
    def conflicting_replay(self, order_id: str, change: str) -> None:
        order = self.orders_by_id[order_id]
        customer, amount, currency = order.customer_id, order.amount, "EUR"
        if change == "customer":
            customer = "someone-else"
        elif change == "amount":
            amount += CENT
        else:
            currency = "USD"
        with pytest.raises(refkit.ConflictError):
            self.program.record_conversion(order_id, customer, amount, currency)

    @rule(order_id=orders, full=st.booleans(), share=st.integers(1, 100))
    def refund(self, order_id: str, full: bool, share: int) -> None:
        order = self.orders_by_id[order_id]
        remaining = order.amount - order.refunded
        if full:
            refund, argument = remaining, None
        else:
            refund = max(CENT, (remaining * share / 100).quantize(CENT, ROUND_DOWN))
            argument = refund
            if refund > remaining:
                with pytest.raises(refkit.ValidationError):
                    self.program.refund(order_id, argument)
                return
        changed = self.program.refund(order_id, argument)
        if refund == 0:
            assert changed == []
            return
        order.refunded += refund
        everything = order.refunded == order.amount
        expected = set()
        for reward_id in order.reward_ids:
            reward = self.model_rewards[reward_id]
            if reward.status not in ("pending", "approved"):
                continue
            if everything:
                reward.status = "revoked" if reward.status == "pending" else "reversed"
            elif reward.kind == "percent":
                value = after_partial_refund(reward, order)
                if value >= reward.value:
                    continue
                reward.value = value
            else:
                continue
            expected.add((reward.id, reward.status, reward.value))
        assert {(r.id, r.status, r.value) for r in changed} == expected

    @precondition(lambda self: any(r.status == "pending" for r in self.model_rewards.values()))
    @rule()
    def approve_due(self) -> None:
        now = self.clock()
        due = {
            reward.id
            for reward in self.model_rewards.values()
            if reward.status == "pending" and reward.due_at <= now
        }
        approved = self.program.approve_due()
        assert {reward.id for reward in approved} == due
        assert all(reward.status == "approved" for reward in approved)
        for reward_id in due:
            self.model_rewards[reward_id].status = "approved"

    @precondition(lambda self: any(r.status == "pending" for r in self.model_rewards.values()))
    @rule(extra=st.integers(-1, 48))
    def hold_period_passes(self, extra: int) -> None:
        """About a hold period later (an hour short of it, or up to two days past it), the
        daily job runs: what is due is approved, the rest stays pending."""
        self.clock.advance(HOLD + timedelta(hours=extra))
        self.approve_due()

    @rule(step=CLOCK_STEPS, then_approve=st.booleans())
    def advance_clock(self, step: timedelta, then_approve: bool) -> None:
        """Time passes; then, as often as not, the shop's daily job approves what is due."""
        self.clock.advance(step)
        if then_approve:
            self.approve_due()

    # -- invariants, read back from the database -----------------------------------------

    @invariant()
    def database_keeps_the_rules(self) -> None:
        """Read the store once per step, then check every invariant against what it holds."""
        referrals = {user: self.program.referral_for(user) for user in USERS}
        stats = {user: self.program.stats_for(user) for user in USERS}
        rewards = self.program.rewards(limit=10_000)
        entries = self.program.ledger()
        self._check_referrals(referrals, stats)
        self._check_rewards(referrals, rewards)
        self._check_ledger(rewards, entries, stats)
        self._check_conversions(stats)

    def _check_referrals(
        self,
        referrals: dict[str, refkit.Referral | None],
        stats: dict[str, refkit.ReferrerStats],
    ) -> None:
        """One referrer per referee, as the model bound them; no self-referral, no cycle."""
        bound = {}
        for user, referral in referrals.items():
            if referral is not None:
                assert referral.referee_id == user
                assert referral.referrer_id != user
                bound[user] = referral.referrer_id
        assert bound == {referee: referrer for referee, (referrer, _) in self.referrals.items()}
        for user in bound:  # walking up any chain never comes back to where it started
            seen = {user}
            up = bound.get(user)
            while up is not None:
                assert up not in seen, f"referral cycle through {user!r}"
                seen.add(up)
                up = bound.get(up)
        for user in USERS:
            assert stats[user].signups == sum(1 for r in bound.values() if r == user)

    def _check_rewards(
        self, referrals: dict[str, refkit.Referral | None], rewards: list[refkit.EarnedReward]
    ) -> None:
        """One reward per role per referee, one level only, caps kept, as the model says."""
        per_role = Counter((reward.referee_id, reward.role) for reward in rewards)
        assert max(per_role.values(), default=0) <= 1, "two rewards for one role of a referee"
        for reward in rewards:
            referral = referrals[reward.referee_id]
            assert referral is not None, "a reward for a referee who was never referred"
            assert reward.referrer_id == referral.referrer_id
            if reward.role == "referrer":  # one level: the direct referrer, never above
                assert reward.beneficiary_id == referral.referrer_id
            else:
                assert reward.beneficiary_id == reward.referee_id
            order = self.orders_by_id[reward.order_id]
            assert order.customer_id == reward.referee_id
        caps = Counter(reward.beneficiary_id for reward in rewards if reward.role == "referrer")
        assert max(caps.values(), default=0) <= CAP, "max_rewards_per_referrer exceeded"
        assert {
            reward.id: (reward.beneficiary_id, reward.role, reward.status, reward.value)
            for reward in rewards
        } == {
            reward.id: (reward.beneficiary_id, reward.role, reward.status, reward.value)
            for reward in self.model_rewards.values()
        }

    def _check_ledger(
        self,
        rewards: list[refkit.EarnedReward],
        entries: Sequence[refkit.LedgerEntry],
        stats: dict[str, refkit.ReferrerStats],
    ) -> None:
        """Each reward's history adds up to its status and value; nothing is approved before
        its hold period ends; every user's ledger sums to their stats."""
        by_id = {reward.id: reward for reward in rewards}
        history: dict[int, list[refkit.LedgerEntry]] = defaultdict(list)
        for entry in entries:
            history[entry.reward_id].append(entry)
            assert entry.beneficiary_id == by_id[entry.reward_id].beneficiary_id
            assert entry.currency == by_id[entry.reward_id].currency
        assert set(history) == set(by_id)
        for reward_id, reward in by_id.items():
            lines = history[reward_id]
            assert lines[0].kind == "accrued"
            pending = sum((entry.pending for entry in lines), ZERO)
            approved = sum((entry.approved for entry in lines), ZERO)
            assert pending == (reward.value if reward.status == "pending" else ZERO)
            assert approved == (reward.value if reward.status == "approved" else ZERO)
            approvals = [entry for entry in lines if entry.kind == "approved"]
            assert len(approvals) == (1 if reward.status in ("approved", "reversed") else 0)
            for entry in approvals:
                assert entry.created_at >= reward.due_at, "approved before its due date"
        for user in USERS:
            mine = [entry for entry in entries if entry.beneficiary_id == user]
            balances = stats[user].rewards
            pending = sum((entry.pending for entry in mine), ZERO)
            approved = sum((entry.approved for entry in mine), ZERO)
            assert pending == balances.get("pending", ZERO)
            assert approved == balances.get("approved", ZERO) == stats[user].balance

    def _check_conversions(self, stats: dict[str, refkit.ReferrerStats]) -> None:
        """Every order is stored once, credited to the referrer it had when it was placed."""
        for user in USERS:
            referred = [o for o in self.orders_by_id.values() if o.referrer_id == user]
            assert stats[user].conversions == len(referred)
            assert stats[user].revenue == sum((o.amount - o.refunded for o in referred), ZERO)

    def teardown(self) -> None:
        if self.orders_by_id:  # the per-user ledger is the same history, filtered
            entries = self.program.ledger()
            for user in USERS:
                mine = [entry for entry in entries if entry.beneficiary_id == user]
                assert list(self.program.ledger(user)) == mine
        self._dispose()


def machine_for(kind: str, postgres_url: str) -> type[ReferralMachine]:
    """The machine on a fresh store of ``kind`` per example."""
    return type(
        f"ReferralMachine_{kind}",
        (ReferralMachine,),
        {"kind": kind, "postgres_url": postgres_url},
    )


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_the_single_reward_rules_hold_for_any_sequence(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_database") if kind == "postgres" else ""
    run_state_machine_as_test(machine_for(kind, url), settings=SETTINGS[kind])
