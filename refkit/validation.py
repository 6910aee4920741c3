"""Input checks shared by every entry point: ids, times, names.

Each function returns the normalized value or raises :class:`~refkit.errors.ValidationError`
naming the argument, so bad input is refused before anything is stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import ValidationError

__all__ = [
    "to_aware",
    "to_campaign",
    "to_channel",
    "to_id",
    "to_optional_duration",
    "to_tag",
    "to_text",
]

MAX_ID_LENGTH = 255
MAX_CAMPAIGN_LENGTH = 100
MAX_CHANNEL_LENGTH = 32
#: A channel name: a lower-case ASCII letter or digit, then up to 31 of those, ``.``, ``_``
#: or ``-`` (``email``, ``whatsapp``, ``instagram-story``).
_CHANNEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


#: C0 and C1 control characters (U+0000 to U+001F, U+007F to U+009F).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Lone surrogates (U+D800 to U+DFFF): a str can hold them, UTF-8 cannot.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_text(text: str, name: str) -> None:
    """Refuse control characters, and lone surrogates (not Unicode text: no database stores
    them, and they would fail deep inside the driver instead of here)."""
    if _CONTROL.search(text):
        raise ValidationError(f"{name} must not contain control characters: {text!r}")
    if _SURROGATE.search(text):
        raise ValidationError(
            f"{name} contains a lone surrogate and is not valid Unicode text: {text!r}; "
            "decode the bytes it came from as UTF-8"
        )


def to_id(value: object, name: str = "user_id") -> str:
    """A user or order id: a str of 1 to 255 characters without control characters, or an int
    (turned into its string). ``bool`` is refused: ``True`` is not a user."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"{name} must be a str or an int, got {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > 1024:  # far over 255 digits
        raise ValidationError(f"{name} must have 1 to {MAX_ID_LENGTH} characters")
    text = str(value)
    if not 1 <= len(text) <= MAX_ID_LENGTH:
        raise ValidationError(f"{name} must have 1 to {MAX_ID_LENGTH} characters, got {len(text)}")
    _check_text(text, name)
    return text


def to_text(value: object, name: str) -> str:
    """A short required text (a grant's reason): a str of 1 to 255 characters without
    control characters, not only spaces."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{name} must be a str of 1 to {MAX_ID_LENGTH} characters")
    _check_text(value, name)
    return value


def to_campaign(value: object) -> str | None:
    """An optional campaign name: 1 to 100 printable characters, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CAMPAIGN_LENGTH:
        raise ValidationError(f"campaign must be a str of 1 to {MAX_CAMPAIGN_LENGTH} characters")
    _check_text(value, "campaign")
    return value


def to_tag(value: object, name: str) -> str | None:
    """An optional free-text tag (a UTM value): 1 to 100 characters without control
    characters, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CAMPAIGN_LENGTH:
        raise ValidationError(f"{name} must be a str of 1 to {MAX_CAMPAIGN_LENGTH} characters")
    _check_text(value, name)
    return value


def to_channel(value: object) -> str | None:
    """An optional channel name, lower-cased: 1 to 32 ASCII letters, digits, ``.``, ``_``
    or ``-``, starting with a letter or digit (``"email"``, ``"qr"``), or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"channel must be a str or None, got {type(value).__name__}")
    name = value.lower()
    if not _CHANNEL.fullmatch(name):
        raise ValidationError(
            f"channel must be 1 to {MAX_CHANNEL_LENGTH} ASCII letters, digits, '.', '_' or "
            f"'-', starting with a letter or digit (like 'email' or 'qr'), got {value!r}"
        )
    return name


def to_aware(value: object, name: str = "at") -> datetime:
    """A timezone-aware ``datetime``, converted to UTC. Naive datetimes are refused: refkit
    cannot guess which zone they mean."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{name} is a naive datetime; pass an aware one, e.g. datetime.now(timezone.utc)"
        )
    return value.astimezone(UTC)


def to_optional_duration(value: object, name: str) -> timedelta | None:
    """``None`` or a non-negative ``timedelta``."""
    if value is None:
        return None
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError(f"{name} must be a non-negative timedelta or None")
    return value
