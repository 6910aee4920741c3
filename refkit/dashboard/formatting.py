"""Numbers, money and dates as people read them on the dashboard.

Money uses the currency's own decimal places (ISO 4217: 2 for EUR, 0 for JPY, 3 for BHD), a
thousands separator and the currency code: ``1,234.50 EUR``. Dates are ``3 Mar 2026``. The
functions are locale-free (English month names, ``,`` for thousands) so a page reads the same
on every server.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from refkit import ValidationError
from refkit.money import exponent

__all__ = [
    "format_count",
    "format_date",
    "format_datetime",
    "format_money",
    "format_money_totals",
    "format_rate",
    "format_ratio",
    "format_short_date",
    "format_signed_money",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Shown where a rate has no denominator (no visits, no signups...).
NO_RATE = "\u2013"  # an en dash


def _places(currency: str) -> int | None:
    try:
        return exponent(currency)
    except ValidationError:
        return None


def format_money(amount: Decimal, currency: str | None) -> str:
    """``1,234.50 EUR``; points (``currency=None``) as ``1,200 points``.

    An amount is rounded to the currency's minor unit; an unknown currency keeps the digits.
    """
    if currency is None:
        return f"{int(amount):,} point{'' if int(amount) in (1, -1) else 's'}"
    places = _places(currency)
    if places is None:
        return f"{amount:,f} {currency}"
    return f"{amount:,.{places}f} {currency}"


def format_signed_money(amount: Decimal, currency: str | None) -> str:
    """A change in a balance: ``+5.00 EUR``, ``0.00 EUR``, or a loss with a true minus sign
    (U+2212) before ``5.00 EUR``."""
    if amount > 0:
        return "+" + format_money(amount, currency)
    if amount < 0:
        return "\u2212" + format_money(-amount, currency)
    return format_money(amount, currency)


def format_money_totals(totals: Mapping[str, Decimal], default_currency: str | None) -> str:
    """Amounts in several currencies, largest first: ``1,200.00 EUR + 35.00 USD``.

    Without any amount: zero in ``default_currency`` (``0.00 EUR``), or ``0``.
    """
    shown = [(currency, amount) for currency, amount in totals.items() if amount]
    if not shown:
        return format_money(Decimal(0), default_currency) if default_currency else "0"
    shown.sort(key=lambda item: (item[0] != default_currency, -item[1], item[0]))
    return " + ".join(format_money(amount, currency) for currency, amount in shown)


def format_count(value: int) -> str:
    """``12,345``."""
    return f"{value:,}"


def format_rate(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with one decimal (``66.7%``); :data:`NO_RATE`
    (an en dash) when ``whole`` is 0."""
    if whole <= 0:
        return NO_RATE
    return format_ratio(part / whole)


def format_ratio(value: float) -> str:
    """A ratio as a percentage with one decimal: ``0.6667`` -> ``66.7%``."""
    return f"{value * 100:,.1f}%"


def format_date(value: date) -> str:
    """``3 Mar 2026`` (a datetime is shown by its date in its own time zone)."""
    day = value.date() if isinstance(value, datetime) else value
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def format_short_date(value: date) -> str:
    """``3 Mar``: for chart axes, where the year is in the title."""
    return f"{value.day} {_MONTHS[value.month - 1]}"


def format_datetime(value: datetime) -> str:
    """``3 Mar 2026, 14:05 UTC``: an aware datetime, shown in UTC."""
    moment = value.astimezone(UTC)
    return f"{format_date(moment)}, {moment:%H:%M} UTC"
