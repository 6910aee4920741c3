"""Spending credit: :meth:`balance`, :meth:`redeem`, :meth:`pay_out`, :meth:`expire_credit`
and :meth:`balances`, and giving it by hand: :meth:`grant`; mixed into
:class:`refkit.ReferralProgram` (the ledger side is :mod:`refkit.steps.credit`, grants are
in :mod:`refkit.steps.milestones`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from .. import joined
from ..errors import ValidationError
from ..models import Balance, EarnedReward, LedgerEntry
from ..money import from_minor, to_amount, to_currency, to_minor
from ..rules import Reward
from ..steps import credit, milestones
from ..validation import to_id, to_text
from .base import Base

__all__ = ["Credit"]


class Credit(Base):
    """The credit calls of :class:`refkit.ReferralProgram` (see the module's doc)."""

    def balance(self, user_id: str | int, currency: str | None) -> Decimal | int:
        """What ``user_id`` can spend or be paid now in ``currency`` (``None``: points, an
        ``int``): approved rewards minus what was redeemed, paid out or expired. Never below
        zero: a reversal after the credit was spent leaves a debt that later credit pays
        first (``stats_for(user).debt_by_currency``)."""
        uid, money = to_id(user_id), _credit_currency(currency)
        units, _ = self.store.read(lambda c: credit.balance_of(c, uid, money))
        return units if money is None else from_minor(units, money)

    def redeem(
        self,
        user_id: str | int,
        amount: Decimal | int | float | str,
        currency: str | None,
        *,
        reference: str | int,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> LedgerEntry:
        """Spend ``amount`` of the user's credit (or points, ``currency=None``), for example
        at checkout. Idempotent by ``reference``: the same call again returns the same entry.
        With ``connection=``, it is written in the caller's transaction (:mod:`refkit.joined`).

        :raises InsufficientBalance: more than the balance; nothing is stored.
        :raises ConflictError: ``reference`` was used for another user, amount or kind.
        :raises ValidationError: a bad id, amount (zero included), currency or time.
        """
        return self._spend("redeemed", user_id, amount, currency, reference, at, connection)

    def pay_out(
        self,
        user_id: str | int,
        amount: Decimal | int | float | str,
        currency: str | None,
        *,
        reference: str | int,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> LedgerEntry:
        """Record a cash payout of ``amount`` of the user's approved balance; as
        :meth:`redeem`, with the ledger kind ``"paid_out"``."""
        return self._spend("paid_out", user_id, amount, currency, reference, at, connection)

    def _spend(
        self,
        kind: str,
        user_id: object,
        amount: object,
        currency: object,
        ref: object,
        at: datetime | None,
        connection: joined.Joinable | None,
    ) -> LedgerEntry:
        uid, money = to_id(user_id), _credit_currency(currency)
        if money is None:
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise ValidationError(f"points to spend must be a positive int, got {amount!r}")
            units = amount
        else:
            units = to_minor(to_amount(amount, currency=money), money)
            if units == 0:
                raise ValidationError("the amount to spend must be more than zero")
        new = credit.Spend(kind, uid, units, money, to_id(ref, "reference"), self._now(at))
        entry, _ = self._write(lambda c: credit.spend(c, new), connection)
        return entry

    def grant(
        self,
        user_id: str | int,
        reward: Reward,
        *,
        reference: str | int,
        reason: str,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> EarnedReward:
        """Give ``user_id`` a reward by hand (goodwill, a contest prize): approved at once,
        in the ledger and the balance, with ``role="grant"``. Idempotent by ``reference``:
        the same call again returns the same reward and stores nothing. The
        ``"reward.granted"`` event fires once, after the commit. With ``connection=``, it
        is written in the caller's transaction (:mod:`refkit.joined`).

        :param reward: :meth:`Reward.fixed <refkit.Reward.fixed>` or
            :meth:`Reward.points <refkit.Reward.points>` (a percent has no order).
        :param reason: why, for the statement and the dashboard (1 to 255 characters).
        :raises ConflictError: ``reference`` was used for another user or reward.
        :raises ValidationError: a bad id, reward, reference, reason or time; nothing is
            stored.
        """
        uid = to_id(user_id)
        if not isinstance(reward, Reward) or reward.kind not in ("fixed", "points"):
            raise ValidationError(
                f"grant needs a Reward.fixed(...) or Reward.points(...) to give, got {reward!r}"
            )
        new = milestones.Grant(
            uid, reward, to_id(reference, "reference"), to_text(reason, "reason"), self._now(at)
        )
        granted, _ = self._write(
            lambda c: milestones.grant(c, new),
            connection,
            lambda result: [("reward.granted", result[0])] if result[1] else [],
        )
        return granted

    def expire_credit(self, now: datetime | None = None) -> list[LedgerEntry]:
        """Expire approved credit older than the rules' ``credit_expires_after`` that was not
        spent (the oldest credit is spent first); run it daily. Running it again expires
        nothing more; without ``credit_expires_after`` nothing ever expires.

        :returns: the new ``"expired"`` ledger entries.
        """
        when = self._now(now, "now")
        after = None if self.rules is None else self.rules.credit_expires_after
        if after is None:
            return []
        return self.store.transaction(lambda c: credit.expire(c, when - after, when))

    def balances(
        self, *, minimum: Decimal | int | str | None = None, currency: str | None = None
    ) -> list[Balance]:
        """Positive money balances, by currency then user: a payout list (``refkit balances``).

        :param minimum: only balances of at least this amount (in each balance's currency).
        :param currency: only this currency.
        """
        money = None if currency is None else to_currency(currency)
        least = None if minimum is None else to_amount(minimum, "minimum")
        floor = None if least is None or money is None else to_minor(least, money, "minimum")
        rows = self.store.read(lambda c: credit.payable(c, money, floor))
        found = (Balance(user, code, from_minor(units, code)) for user, code, units in rows)
        return [line for line in found if least is None or line.amount >= least]


def _credit_currency(currency: object) -> str | None:
    """A balance's currency: an ISO code, or ``None`` for points."""
    return None if currency is None else to_currency(currency)
