"""Conversions and rewards: :meth:`record_conversion`, :meth:`conversion`, :meth:`refund`,
:meth:`approve_due`, :meth:`approve`, :meth:`revoke`, :meth:`rewards`, :meth:`ledger` and
:meth:`iter_ledger`, mixed into :class:`refkit.ReferralProgram`.

A purchase is recorded once per order and earns the rewards the rules decide; a reward is
pending, then approved (or revoked, or reversed by a refund); the ledger keeps its history.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import Connection

from .. import joined
from ..errors import ValidationError
from ..models import Conversion, EarnedReward, LedgerEntry
from ..money import to_amount, to_currency, to_minor
from ..steps import claims, conversions, ledger, milestones, rewards
from ..validation import to_aware, to_id
from .base import Base, Events

__all__ = ["Conversions"]


class Conversions(Base):
    """The conversion and reward calls of :class:`refkit.ReferralProgram` (see the module's
    doc)."""

    def record_conversion(
        self,
        order_id: str | int,
        customer_id: str | int,
        amount: Decimal | int | float | str,
        currency: str,
        *,
        code: object = None,
        at: datetime | None = None,
        email: str | None = None,
        variant: str | None = None,
        connection: joined.Joinable | None = None,
    ) -> Conversion:
        """Record a purchase and create the rewards it earns.

        Idempotent by ``order_id``: the same call again returns the stored conversion (with
        the rewards it created) and creates nothing.

        :param code: a code typed at (guest) checkout: binds the customer first if they are
            not bound yet. A code that would be a self-referral, or that names another
            referrer than the customer's, is ignored and explained in ``reasons``; so is one
            whose referrer registered the customer's email (:meth:`identify`), and one given
            by an existing customer (an earlier order, no referrer: ``"existing_customer"``).
        :param variant: in an A/B test (:class:`~refkit.Experiment`), the variant of the
            referral ``code`` makes (the one the guest was shown); by default assigned from
            the customer id (:meth:`variant_for`). The rewards follow the referral's
            variant's rules.
        :param email: the customer's email: a shortcut for :meth:`identify` first. A
            customer sharing their referrer's normalized email earns nobody a reward
            (reason ``"self_referral"``).
        :param connection: an SQLAlchemy ``Connection`` or ``Session`` (Flask-SQLAlchemy's
            ``db.session``) on the store's database, whose transaction the caller owns:
            refkit writes inside it, in a savepoint, and commits nothing, so the shop's order
            and its conversion commit together or not at all; the events fire after the
            caller's commit, never after a rollback (see :mod:`refkit.joined`).
        :raises ConflictError: the order id was recorded with another customer, amount or
            currency.
        :raises ValidationError: a bad id, amount, currency or time, or an unknown
            variant; nothing is stored.
        :raises InvalidCode: ``code`` is given and is not one of this program's.
        """
        order = to_id(order_id, "order_id")
        customer = to_id(customer_id, "customer_id")
        chosen = self._variant(variant, None if code is None else customer)
        if email is not None:
            self.identify(customer, email=email, at=at, connection=connection)
        money = to_currency(currency)
        value = to_amount(amount, currency=money)
        minor = to_minor(value, money)
        when = self._now(at)
        code_referrer = None if code is None else self.resolve(code)
        new = conversions.NewConversion(
            order,
            customer,
            value,
            minor,
            money,
            when,
            code_referrer,
            fast_purchase=self.fast_purchase,
            pseudonyms=self._pseudonyms(customer),
            variant=chosen,
            now=when if at is None else self._now(),
        )
        offers = self._offers
        result = self._write(
            lambda c: conversions.record(c, new, offers), connection, _conversion_events
        )
        return result.conversion

    def conversion(self, order_id: str | int) -> Conversion | None:
        """The stored conversion of ``order_id``, or ``None``."""
        order = to_id(order_id, "order_id")
        return self.store.read(lambda c: conversions.conversion_of(c, order))

    def refund(
        self,
        order_id: str | int,
        amount: Decimal | int | float | str | None = None,
        *,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> list[EarnedReward]:
        """Record a full refund (or a partial one of ``amount``).

        A full refund revokes the order's pending rewards and reverses its approved ones; a
        partial one lowers percent rewards in proportion. History is appended, never deleted.
        A friend's discount the order used is reversed by a full refund (it no longer counts
        in the reward cost) and kept by a partial one; either way it stays used: the referee
        gets no second discount.

        :returns: the rewards that changed.
        :raises ValidationError: an unknown order, or more than is left to refund.
        """
        order = to_id(order_id, "order_id")
        when = self._now(at)
        minor = None
        if amount is not None:
            stored = self._read(lambda c: conversions.conversion_of(c, order), connection)
            if stored is None:
                raise ValidationError(f"no conversion was recorded with order_id {order!r}")
            minor = to_minor(to_amount(amount, currency=stored.currency), stored.currency)

        def work(c: Connection) -> list[EarnedReward]:
            changed = rewards.refund(c, order, minor, when)
            claims.on_refund(c, order)  # a full refund reverses a used discount
            return changed

        return self._write(
            work,
            connection,
            lambda changed: [
                (f"reward.{r.status}", r) for r in changed if r.status in ("revoked", "reversed")
            ],
        )

    def approve_due(
        self, now: datetime | None = None, *, limit: int = 10_000
    ) -> list[EarnedReward]:
        """Approve pending rewards whose hold period has passed (run it from a daily job).

        In the same transaction, pays the milestones (:class:`~refkit.Milestone`) the
        approvals reached; the ``"milestone.reached"`` event fires for each after the
        commit. The bonuses are not in the returned list (they were never pending).
        """
        when = self._now(now, "now")

        def work(c: Connection) -> Approved:
            return self._with_milestones(c, rewards.approve_due(c, when, limit), when)

        approved, _ = self._write(work, None, _approval_events)
        return approved

    def approve(
        self,
        reward_id: int,
        *,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> EarnedReward | None:
        """Approve one pending reward now, hold period or not; ``None`` if not pending.
        Pays the milestones the approval reached, as :meth:`approve_due` does."""
        reward_id = _reward_id(reward_id)
        when = self._now(at)

        def work(c: Connection) -> Approved:
            reward = rewards.set_status(c, reward_id, "approved", when)
            return self._with_milestones(c, [] if reward is None else [reward], when)

        approved, _ = self._write(work, connection, _approval_events)
        return approved[0] if approved else None

    def _with_milestones(
        self, connection: Connection, approved: list[EarnedReward], at: datetime
    ) -> Approved:
        """The approved rewards, and the milestone bonuses their referrers reached."""
        goals = () if self.rules is None else tuple(self.rules.milestones)
        # each referrer once, in one order for every transaction (their row locks)
        referrers = sorted(
            {r.referrer_id for r in approved if r.role == "referrer" and r.order_id is not None}
        )
        reached = [
            bonus
            for referrer in referrers
            for bonus in milestones.reach(connection, referrer, goals, at)
        ]
        return approved, reached

    def revoke(self, reward_id: int, *, at: datetime | None = None) -> EarnedReward | None:
        """Revoke one pending reward (fraud, a cancelled order); ``None`` if not pending."""
        reward_id = _reward_id(reward_id)
        when = self._now(at)
        return self._write(
            lambda c: rewards.set_status(c, reward_id, "revoked", when),
            None,
            lambda reward: [] if reward is None else [("reward.revoked", reward)],
        )

    def rewards(
        self, *, user_id: str | int | None = None, status: str | None = None, limit: int = 100
    ) -> list[EarnedReward]:
        """Rewards, newest first, optionally for one beneficiary or in one status."""
        beneficiary = None if user_id is None else to_id(user_id)
        return self.store.read(lambda c: rewards.listing(c, beneficiary, status, limit))

    def ledger(
        self, user_id: str | int | None = None, *, until: datetime | None = None
    ) -> Sequence[LedgerEntry]:
        """The append-only reward history (a statement up to ``until`` when given)."""
        beneficiary = None if user_id is None else to_id(user_id)
        limit = None if until is None else to_aware(until, "until")
        return self.store.read(lambda c: ledger.entries(c, beneficiary, limit))

    def iter_ledger(self, batch: int = 1000) -> Iterator[LedgerEntry]:
        """Every ledger entry in order, read in batches of ``batch`` (for exports of any
        size: each batch is one short read transaction)."""
        last = 0
        while True:
            page = self.store.read(partial(ledger.page, after=last, size=batch))
            if not page:
                return
            yield from page
            last = page[-1].id


#: Rewards approved, and the milestone bonuses the approvals reached.
Approved = tuple[list[EarnedReward], list[EarnedReward]]


def _reward_id(reward_id: object) -> int:
    if isinstance(reward_id, bool) or not isinstance(reward_id, int):
        raise ValidationError("reward_id must be an int")
    return reward_id


def _approval_events(result: Approved) -> Events:
    approved, reached = result
    fired: Events = [("reward.approved", reward) for reward in approved]
    fired.extend(("milestone.reached", bonus) for bonus in reached)
    return fired


def _conversion_events(result: conversions.Recorded) -> Events:
    if not result.created:
        return []
    fired: Events = []
    if result.new_referral is not None:
        fired.append(("referral.created", result.new_referral))
    fired.append(("conversion.recorded", result.conversion))
    # first_purchase_only: the pending rewards this earlier-dated order took over
    fired.extend(("reward.revoked", reward) for reward in result.taken_over)
    fired.extend(
        ("reward.created", reward)
        for reward in result.conversion.rewards
        if reward.kind != "discount"  # given at checkout: nothing to hand over
    )
    return fired
