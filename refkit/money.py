"""Amounts and currencies: validation, and exact conversion to integer minor units.

Amounts are :class:`~decimal.Decimal` (an ``int`` or a numeric ``str`` is accepted). A ``float``
(what ``db.Float`` columns give) is read from its shortest repr (``19.99`` is
``Decimal("19.99")``, not the binary fraction nearest to it) and, when the currency is known,
rounded half to even to the currency's minor unit (``0.1 + 0.2`` EUR is ``Decimal("0.30")``).
They are stored as integers in the currency's minor unit
(cents for EUR, yen for JPY, fils for BHD: ISO 4217 exponents from the ``iso4217`` package),
so the database never rounds and never holds NaN or infinity.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency

from .errors import ValidationError

__all__ = [
    "MAX_AMOUNT",
    "exponent",
    "from_minor",
    "quantize",
    "to_amount",
    "to_currency",
    "to_minor",
]

#: The largest amount accepted, in the currency's major unit.
MAX_AMOUNT = Decimal(10) ** 12
#: Significant digits an amount may have (13 before the point, plenty after).
MAX_DIGITS = 40


def to_amount(value: object, name: str = "amount", *, currency: str | None = None) -> Decimal:
    """A finite, non-negative Decimal of at most :data:`MAX_AMOUNT`.

    :param currency: the (valid, upper-case) currency the amount is in: a ``float`` is rounded
        half to even to its minor unit. Without it a float is only read from its shortest repr.
    :raises ValidationError: a bool, a non-numeric str, NaN, infinity, a negative or
        over-large amount.
    """
    if isinstance(value, bool):
        raise ValidationError(
            f"{name} must be a Decimal, an int, a float or a numeric str, not bool"
        )
    if isinstance(value, float):
        amount = _from_float(value, name)
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str) and len(value) <= 64:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(f"{name} {value!r} is not a number") from None
    else:
        raise ValidationError(f"{name} must be a Decimal, an int, a float or a numeric str")
    if not amount.is_finite():
        raise ValidationError(f"{name} must be a finite number, got {amount}")
    if len(amount.as_tuple().digits) > MAX_DIGITS:
        raise ValidationError(f"{name} has more than {MAX_DIGITS} digits; no price needs that many")
    if amount < 0:
        raise ValidationError(f"{name} must not be negative, got {amount}")
    if amount > MAX_AMOUNT:
        raise ValidationError(f"{name} must be at most 10^12, got {amount}")
    if isinstance(value, float) and currency is not None:
        amount = quantize(amount, currency)
    return amount


def _from_float(value: float, name: str) -> Decimal:
    """The Decimal a float was typed as: its shortest repr (``repr(19.99) == "19.99"``), and
    ``-0.0`` as plain zero."""
    amount = Decimal(repr(value))
    if amount.is_zero():
        amount = amount.copy_abs()
    return amount


@lru_cache(maxsize=512)
def _exponent(code: str) -> int | None:
    try:
        exponent = Currency(code).exponent
    except ValueError:
        return None
    return 0 if exponent is None else int(exponent)


def _preview(value: object) -> str:
    """A short, safe description of bad input for an error message (never the whole input:
    it may be megabytes, or an int too long to print)."""
    if isinstance(value, str):
        return repr(value[:16]) + ("..." if len(value) > 16 else "")
    return f"a {type(value).__name__}"


def to_currency(value: object) -> str:
    """An ISO 4217 code, any case in, upper case out (``"eur"`` -> ``"EUR"``).

    :raises ValidationError: not three ASCII letters, or not an ISO 4217 currency.
    """
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise ValidationError(
            f"currency must be three ASCII letters (ISO 4217), got {_preview(value)}"
        )
    code = value.upper()
    if _exponent(code) is None:
        raise ValidationError(f"currency {code!r} is not an ISO 4217 currency code")
    return code


def exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (2 for EUR, 0 for JPY, 3 for BHD)."""
    value = _exponent(currency)
    if value is None:
        raise ValidationError(f"currency {currency!r} is not an ISO 4217 currency code")
    return value


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the currency's minor unit, half to even (banker's rounding)."""
    return amount.quantize(Decimal(1).scaleb(-exponent(currency)), rounding=ROUND_HALF_EVEN)


def to_minor(amount: Decimal, currency: str, name: str = "amount") -> int:
    """``amount`` as an integer count of minor units, exactly.

    :raises ValidationError: the amount has more decimals than the currency allows
        (``Decimal("9.999")`` in EUR).
    """
    places = exponent(currency)
    # A context wide enough for every digit: the default one (28 digits) would round.
    context = Context(prec=len(amount.as_tuple().digits) + places + 2, Emin=MIN_EMIN, Emax=MAX_EMAX)
    scaled = amount.scaleb(places, context=context)
    if scaled != scaled.to_integral_value(context=context):
        raise ValidationError(
            f"{name} {amount} has more than {places} decimal places, "
            f"which {currency} does not allow"
        )
    return int(scaled)


def from_minor(units: int, currency: str) -> Decimal:
    """The Decimal amount of ``units`` minor units, with the currency's decimal places."""
    places = exponent(currency)
    return Decimal(units).scaleb(-places).quantize(Decimal(1).scaleb(-places))
