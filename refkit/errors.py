"""Every error refkit raises, in one tree.

Catch :class:`RefkitError` to handle all of them; each subclass names one kind of problem, and
where it helps callers it also subclasses the built-in it resembles::

    RefkitError (Exception)
     +-- InvalidCode (ValueError)        not a code this program issued
     +-- InvalidToken (ValueError)       a signed token (cookie, link) failed verification
     |    +-- ExpiredToken               ... because it is older than its max_age
     +-- SelfReferral (ValueError)       a user referring themselves, or a referral cycle
     +-- AlreadyReferred                 the referee is bound to another referrer for good
     +-- ExistingCustomer                the "referee" bought before: not a new customer
     +-- ConflictError                   an order id seen before with other details
     +-- ValidationError (ValueError)    bad input: amount, currency, id, naive datetime...
     |    +-- InsufficientBalance        spending more than a user's balance
     +-- StorageError                    the database failed; nothing partial was stored
     |    +-- StorageTimeout (TimeoutError)  ... or did not answer within the deadline
     +-- ConfigurationError              the program is set up wrongly (key, store URL, rules)

Each message says what was wrong and what to do about it. Errors carry the data a caller
needs as attributes (``code``, ``referee_id``, ``order_id``...).
"""

from __future__ import annotations

__all__ = [
    "AlreadyReferred",
    "ConfigurationError",
    "ConflictError",
    "ExistingCustomer",
    "ExpiredToken",
    "InvalidCode",
    "InsufficientBalance",
    "InvalidToken",
    "RefkitError",
    "SelfReferral",
    "StorageError",
    "StorageTimeout",
    "ValidationError",
]


class RefkitError(Exception):
    """Base class of every error refkit raises."""


class InvalidCode(RefkitError, ValueError):
    """A string that is not a referral code this program issued.

    :ivar code: the string given (truncated to 64 characters, so logs stay small).
    :ivar reason: a short machine-readable reason: ``"empty"``, ``"too_long"``,
        ``"not_ascii"``, ``"bad_characters"``, ``"bad_length"``, ``"typo"`` (the check
        character does not match: probably mistyped), ``"not_canonical"``, ``"bad_signature"``
        ``"unknown_referrer"`` or ``"revoked"`` (withdrawn with
        :meth:`~refkit.ReferralProgram.revoke_code`).
    """

    def __init__(self, code: object, reason: str, message: str | None = None) -> None:
        # Never format the whole input: it may be megabytes, or an int too long to print.
        self.code = code[:64] if isinstance(code, str) else f"<{type(code).__name__}>"
        self.reason = reason
        super().__init__(
            message
            or f"{self.code!r} is not a valid referral code ({reason}); "
            "check it was copied in full, or ask the referrer for their link"
        )


class InvalidToken(RefkitError, ValueError):
    """A signed token (a referral cookie, a signed link) failed verification."""


class ExpiredToken(InvalidToken):
    """A signed token whose signature is good but whose age exceeds ``max_age``.

    :ivar payload: the payload the token carried, for callers that want to inspect it.
    """

    def __init__(self, message: str, payload: object = None) -> None:
        super().__init__(message)
        self.payload = payload


class SelfReferral(RefkitError, ValueError):
    """A user cannot refer themselves, directly or through a cycle (B refers A after A
    referred B)."""

    def __init__(self, referee_id: str, referrer_id: str, message: str | None = None) -> None:
        self.referee_id = referee_id
        self.referrer_id = referrer_id
        super().__init__(
            message or f"user {referee_id!r} cannot be referred by {referrer_id!r}: self-referral"
        )


class AlreadyReferred(RefkitError):
    """The referee is already bound to another referrer, and the first binding wins."""

    def __init__(self, referee_id: str, referrer_id: str, attempted_referrer_id: str) -> None:
        self.referee_id = referee_id
        self.referrer_id = referrer_id
        self.attempted_referrer_id = attempted_referrer_id
        super().__init__(
            f"user {referee_id!r} was already referred by {referrer_id!r}; a referral never "
            f"changes, so {attempted_referrer_id!r} cannot take it over"
        )


class ExistingCustomer(RefkitError):
    """A referral is for a new customer: the user has bought before (a conversion is
    recorded for them) without a referrer, so no code can bind them now.

    :ivar referee_id: the existing customer.
    :ivar referrer_id: the referrer whose code was given.
    """

    def __init__(self, referee_id: str, referrer_id: str) -> None:
        self.referee_id = referee_id
        self.referrer_id = referrer_id
        super().__init__(
            f"user {referee_id!r} is an existing customer (an order was recorded for them "
            f"before), so {referrer_id!r} cannot refer them: a referral binds a new customer, "
            "before their first purchase"
        )


class ConflictError(RefkitError):
    """An order id recorded before with a different customer, amount or currency, or a
    spending ``reference`` (:meth:`~refkit.ReferralProgram.redeem`) used before for another
    user, amount, currency or kind, or a grant's (:meth:`~refkit.ReferralProgram.grant`)
    used before for another user or reward. ``order_id`` is the order id or the
    reference."""

    def __init__(self, order_id: str, message: str) -> None:
        self.order_id = order_id
        super().__init__(message)


class ValidationError(RefkitError, ValueError):
    """Bad input: nothing was stored. The message names the argument and the rule."""


class InsufficientBalance(ValidationError):
    """Spending (:meth:`~refkit.ReferralProgram.redeem`, :meth:`~refkit.ReferralProgram.pay_out`)
    more than the user's balance; nothing was stored.

    :ivar user_id: whose balance it is.
    :ivar currency: its currency (``None``: points).
    :ivar balance: the balance when the call was refused.
    :ivar amount: what the call tried to spend.
    """

    def __init__(self, user_id: str, currency: str | None, balance: object, amount: object) -> None:
        self.user_id = user_id
        self.currency = currency
        self.balance = balance
        self.amount = amount
        unit = currency or "points"
        super().__init__(
            f"user {user_id!r} has a balance of {balance} {unit}, less than the {amount} "
            f"{unit} to spend; nothing was stored: spend at most the balance "
            "(program.balance(user_id, currency))"
        )


class StorageError(RefkitError):
    """The database failed (unreachable, locked too long, a statement failed).

    The transaction was rolled back, so nothing partial is stored; retrying the same call
    (for example the same order id) is safe.
    """


class StorageTimeout(StorageError, TimeoutError):
    """The database did not answer within the program's deadline (``timeout=``,
    ``REFKIT_TIMEOUT``): a hung server, a lock held elsewhere, a lost connection.

    :ivar timeout: the deadline, in seconds.
    """

    def __init__(self, message: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(message)


class ConfigurationError(RefkitError):
    """The program is set up wrongly: a missing or short secret key, an unknown store URL,
    inconsistent reward rules."""
