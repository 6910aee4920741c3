"""Keyed hashes for personal signals: emails, IP addresses, user agents, erased user ids.

refkit never stores these raw. Each is reduced to an HMAC-SHA256 under a *pepper*: a key
derived from the program's secret key with itsdangerous' key derivation and a salt of its own
(``"refkit.pepper"``), so the hashes cannot be reversed or matched by anyone without the key,
and cannot be confused with any other use of the key. The pepper comes from the newest key;
:meth:`Pepper.all_hashes` also gives the hashes under the older keys of a rotation list.

Email addresses are compared in a normalized form (:func:`normalize_email`), so
``Alice.Smith+promo@GoogleMail.com`` and ``alicesmith@gmail.com`` are one person.
"""

from __future__ import annotations

import hmac
import ipaddress

from disposable_email_domains import blocklist

from .errors import ValidationError
from .keys import SecretKeys, derive_keys

__all__ = ["PSEUDONYM_PREFIX", "Pepper", "is_disposable", "normalize_email", "normalize_ip"]

#: Every pseudonym :meth:`refkit.ReferralProgram.erase` writes starts with this.
PSEUDONYM_PREFIX = "refkit-erased:"
_GMAIL = ("gmail.com", "googlemail.com")
_HASH_LENGTH = 32  # hex characters: 128 bits
MAX_EMAIL_LENGTH = 320


def normalize_email(email: object) -> str:
    """The comparable form of an email address.

    Case is ignored, a ``+tag`` is dropped from the local part everywhere, and for Gmail
    dots are dropped too, ``googlemail.com`` being ``gmail.com``.

    :raises ValidationError: not a string holding one ``@`` between a local part and a domain.
    """
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"email must be a str of at most {MAX_EMAIL_LENGTH} characters")
    local, at, domain = email.strip().lower().rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain or any(c.isspace() for c in local + domain):
        raise ValidationError(f"email {email!r} is not an email address (local@domain)")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        domain = "gmail.com"
        local = local.replace(".", "")
    if not local:
        raise ValidationError(f"email {email!r} has an empty local part once normalized")
    return f"{local}@{domain}"


def is_disposable(email: str) -> bool:
    """Whether a (normalized) address is at a disposable email domain (or a subdomain of
    one), per the maintained ``disposable-email-domains`` list."""
    domain = email.rpartition("@")[2]
    parts = domain.split(".")
    return any(".".join(parts[i:]) in blocklist for i in range(len(parts) - 1))


def normalize_ip(ip: str) -> str:
    """An IPv4 address as is, an IPv6 address as its /64 network (privacy addresses rotate
    inside it); anything unparsable as given, stripped."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class Pepper:
    """HMAC-SHA256 under keys derived from the program's secret keys (salt ``refkit.pepper``).

    :param secret_key: one key or ``[newest, older...]``; hashes are made with the newest.
    """

    def __init__(self, secret_key: SecretKeys) -> None:
        self._keys = derive_keys(secret_key, "refkit.pepper")

    def hash(self, purpose: str, value: str) -> str:
        """The keyed hash of ``value`` for ``purpose`` (``"email"``, ``"ip"``...): 32 hex."""
        return self._hash(self._keys[0], purpose, value)

    def all_hashes(self, purpose: str, value: str) -> tuple[str, ...]:
        """The hash under every key of the rotation list, newest first."""
        return tuple(self._hash(key, purpose, value) for key in self._keys)

    @staticmethod
    def _hash(key: bytes, purpose: str, value: str) -> str:
        message = f"{purpose}\x00{value}".encode()
        return hmac.digest(key, message, "sha256").hex()[:_HASH_LENGTH]  # the one-shot C path

    def pseudonym(self, user_id: str) -> str:
        """The stable stand-in for an erased user id."""
        return PSEUDONYM_PREFIX + self.hash("user", user_id)

    def pseudonyms(self, user_id: str) -> tuple[str, ...]:
        """The user's pseudonym under every key (to find one made before a rotation)."""
        return tuple(PSEUDONYM_PREFIX + h for h in self.all_hashes("user", user_id))
