"""Blinker signals mirroring the core's events.

Each is sent with the Flask app as sender and the record as ``record``::

    from refkit_flask import signals

    @signals.reward_created.connect
    def notify(app, record):
        send_mail(record.beneficiary_id, f"You earned {record.value}")
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

__all__ = [
    "SIGNALS",
    "conversion_recorded",
    "milestone_reached",
    "referral_captured",
    "referral_created",
    "reward_approved",
    "reward_created",
    "reward_granted",
    "reward_reversed",
    "reward_revoked",
]

_signals = Namespace()

#: Sent when a referee is bound to a referrer (``record`` is the :class:`~refkit.Referral`).
referral_created: NamedSignal = _signals.signal("refkit.referral-created")
#: Sent when a purchase is recorded, not when the same order is recorded again (``record``
#: is the :class:`~refkit.Conversion`).
conversion_recorded: NamedSignal = _signals.signal("refkit.conversion-recorded")
#: Sent for each reward a conversion creates (``record`` is the :class:`~refkit.EarnedReward`).
reward_created: NamedSignal = _signals.signal("refkit.reward-created")
#: Sent when a pending reward is approved (``record`` is the :class:`~refkit.EarnedReward`).
reward_approved: NamedSignal = _signals.signal("refkit.reward-approved")
#: Sent when a pending reward is revoked: a full refund, by hand, or taken over by an order
#: of the same referee dated earlier (``record`` is the :class:`~refkit.EarnedReward`).
reward_revoked: NamedSignal = _signals.signal("refkit.reward-revoked")
#: Sent when an approved reward is reversed by a refund (``record`` is the
#: :class:`~refkit.EarnedReward`).
reward_reversed: NamedSignal = _signals.signal("refkit.reward-reversed")
#: Sent when a reward is given by hand (``record`` is the :class:`~refkit.EarnedReward`,
#: ``role="grant"``; see :meth:`~refkit.ReferralProgram.grant`).
reward_granted: NamedSignal = _signals.signal("refkit.reward-granted")
#: Sent when a referrer reaches a :class:`~refkit.Milestone` (``record`` is the bonus, an
#: approved :class:`~refkit.EarnedReward` with ``milestone`` set).
milestone_reached: NamedSignal = _signals.signal("refkit.milestone-reached")
#: Sent when a visitor arrives with a valid code (``record`` is the canonical code).
referral_captured: NamedSignal = _signals.signal("refkit.referral-captured")

#: The core event each signal mirrors.
SIGNALS: dict[str, NamedSignal] = {
    "referral.created": referral_created,
    "conversion.recorded": conversion_recorded,
    "reward.created": reward_created,
    "reward.approved": reward_approved,
    "reward.revoked": reward_revoked,
    "reward.reversed": reward_reversed,
    "reward.granted": reward_granted,
    "milestone.reached": milestone_reached,
}
