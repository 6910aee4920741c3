"""Django signals mirroring the core's events.

Each is sent with :class:`refkit.ReferralProgram` as sender and the record as ``record``,
after the change is stored (a failing receiver is logged and never undoes it)::

    from django.dispatch import receiver
    from refkit_django import signals

    @receiver(signals.reward_created)
    def notify(sender, record, **kwargs):
        send_mail(record.beneficiary_id, f"You earned {record.value}")
"""

from __future__ import annotations

import functools
import logging

from django.dispatch import Signal

from refkit import ReferralProgram

__all__ = [
    "SIGNALS",
    "connect",
    "conversion_recorded",
    "referral_captured",
    "referral_created",
    "reward_approved",
    "reward_created",
    "reward_reversed",
    "reward_revoked",
]

log = logging.getLogger("refkit.django")

#: Sent when a referee is bound to a referrer (``record``: the :class:`~refkit.Referral`).
referral_created = Signal()
#: Sent when a purchase is recorded, not when the same order is recorded again (``record``:
#: the :class:`~refkit.Conversion`).
conversion_recorded = Signal()
#: Sent for each reward a conversion creates (``record``: the :class:`~refkit.EarnedReward`).
reward_created = Signal()
#: Sent when a pending reward is approved (``record``: the :class:`~refkit.EarnedReward`).
reward_approved = Signal()
#: Sent when a pending reward is revoked (``record``: the :class:`~refkit.EarnedReward`).
reward_revoked = Signal()
#: Sent when an approved reward is reversed by a refund (``record``: the
#: :class:`~refkit.EarnedReward`).
reward_reversed = Signal()
#: Sent when a visitor arrives with a valid code (``record``: the canonical code).
referral_captured = Signal()

#: The core event each signal mirrors.
SIGNALS: dict[str, Signal] = {
    "referral.created": referral_created,
    "conversion.recorded": conversion_recorded,
    "reward.created": reward_created,
    "reward.approved": reward_approved,
    "reward.revoked": reward_revoked,
    "reward.reversed": reward_reversed,
}


def _send(signal: Signal, program: ReferralProgram, record: object) -> None:
    signal.send(sender=ReferralProgram, program=program, record=record)


def connect(program: ReferralProgram) -> None:
    """Send the signals for ``program``'s events (the core's hooks: after the change is
    stored, a failing receiver never loses it)."""
    for event, signal in SIGNALS.items():
        program.on(event, functools.partial(_send, signal, program))
