"""The steps of the data's way, one module each, in the order the data walks:

code (:mod:`~refkit.steps.referrers`) -> visit (:mod:`~refkit.steps.visits`) -> referral
(:mod:`~refkit.steps.referrals`) -> conversion (:mod:`~refkit.steps.conversions`, which asks
the pure :func:`refkit.rules.decide`) -> rewards (:mod:`~refkit.steps.rewards`) -> ledger
entries (:mod:`~refkit.steps.ledger`) -> spending the balance they make
(:mod:`~refkit.steps.credit`: redeem, pay out, expire); beside the way, review
(:mod:`~refkit.steps.review`: flags, emails, fraud signals) and erasure
(:mod:`~refkit.steps.erasure`).

Every step takes the open :class:`~sqlalchemy.engine.Connection` of the transaction the
program opened, runs its statements (built once, at import, so SQLAlchemy caches their
compiled form) and returns typed records. Steps never commit and never fire events: the
program does both once the transaction is over.
"""
