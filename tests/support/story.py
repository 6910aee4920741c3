"""A month of a small program, seeded for the dashboard's tests (and its browser tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import refkit

from .api_shop import START


def ago(days: float) -> datetime:
    return START - timedelta(days=days)


def seed_story(program: refkit.ReferralProgram) -> None:
    """A month of a small program, up to ``START`` (1 Mar 2026, 12:00 UTC).

    Referrers (code holders): alice, bob, carol, zoe (zoe never shared): 4.
    Visits (days ago): alice "newsletter" 29 28 27 21 20 20 14 10, "instagram" 10 9 4 3;
    bob (no campaign) 19 18 7 6 1; carol "instagram" 13 12 12. 20 in all.
    Signups: alice <- bob 28 (newsletter), carol 20 (newsletter), dan 9, eve 3 (instagram);
    bob <- fay 18, gus 6; carol <- hal 12 (instagram). 7 in all.
    Orders (10% to the referrer, 5.00 EUR to the referee, 14 days' hold):

    ====  =====  ======  ==========  =====================================================
    id    who    amount  days ago    rewards
    ====  =====  ======  ==========  =====================================================
    o-1   bob    100.00  27          alice 10.00, bob 5.00: approved (13 days ago)
    o-2   bob     40.00  15          none (bob's rewards were earned on o-1)
    o-3   carol  250.00  19          alice 25.00, carol 5.00: pending, due 5 days ago
    o-4   fay     60.00  16          bob 6.00, fay 5.00: pending, due 2 days ago
    o-5   hal     80.00  11          carol 8.00, hal 5.00: pending, due in 3 days
    o-6   dan     30.00  8           alice 3.00, dan 5.00: revoked (refunded 6 days ago)
    o-7   gus     45.50  2           bob 4.55, gus 5.00: pending
    w-1   walt    20.00  5           not referred
    ====  =====  ======  ==========  =====================================================

    Last 30 days: funnel 20 visits -> 7 signups (35.0%) -> 6 first purchases (85.7%) -> 5
    rewarded (83.3%); 7 referred orders, revenue 575.50 EUR, reward cost 78.55 EUR, k-factor
    7 / 4 = 1.75; 4 rewards due (o-3's and o-4's).
    """
    alice, bob, carol = (program.code_for(user) for user in ("alice", "bob", "carol"))
    program.code_for("zoe")
    for days in (29, 28, 27, 21, 20, 20, 14, 10):
        program.record_visit(alice, campaign="newsletter", at=ago(days))
    for days in (10, 9, 4, 3):
        program.record_visit(alice, campaign="instagram", at=ago(days))
    for days in (19, 18, 7, 6, 1):
        program.record_visit(bob, at=ago(days))
    for days in (13, 12, 12):
        program.record_visit(carol, campaign="instagram", at=ago(days))
    signups = [
        ("bob", alice, 28, "newsletter"),
        ("carol", alice, 20, "newsletter"),
        ("dan", alice, 9, "instagram"),
        ("eve", alice, 3, "instagram"),
        ("fay", bob, 18, None),
        ("gus", bob, 6, None),
        ("hal", carol, 12, "instagram"),
    ]
    for referee, code, days, campaign in signups:
        program.attribute(referee, code, at=ago(days), campaign=campaign)
    orders = [
        ("o-1", "bob", "100.00", 27),
        ("o-3", "carol", "250.00", 19),
        ("o-4", "fay", "60.00", 16),
        ("o-2", "bob", "40.00", 15),
        ("o-5", "hal", "80.00", 11),
        ("o-6", "dan", "30.00", 8),
        ("w-1", "walt", "20.00", 5),
        ("o-7", "gus", "45.50", 2),
    ]
    for order, customer, amount, days in orders:
        program.record_conversion(order, customer, Decimal(amount), "EUR", at=ago(days))
        if order == "o-3":
            program.approve_due(ago(10))  # a daily job, 10 days ago: o-1's rewards
    program.refund("o-6", at=ago(6))
