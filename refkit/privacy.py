"""Keyed hashes for personal signals: emails, IP addresses, user agents, erased user ids.

refkit never stores these raw. Each is reduced to an HMAC-SHA256 under a *pepper*: a key
derived from the program's secret key with itsdangerous' key derivation and a salt of its own
(``"refkit.pepper"``), so the hashes cannot be reversed or matched by anyone without the key,
and cannot be confused with any other use of the key. The pepper comes from the newest key;
:meth:`Pepper.all_hashes` also gives the hashes under the older keys of a rotation list.

Email addresses are compared in a normalized form (:func:`normalize_email`, built on
``email-validator``), so ``Alice.Smith+promo@GoogleMail.com``, ``alicesmith@ｇｍａｉｌ.com``
and ``alicesmith@gmail.com`` are one person.
"""

from __future__ import annotations

import hmac
import ipaddress
import unicodedata

from disposable_email_domains import blocklist
from email_validator import EmailNotValidError, validate_email

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

    The address is checked and normalized by the maintained ``email-validator`` library
    (syntax only, no DNS): the domain goes through IDNA, so ``@ｇｍａｉｌ.com`` and
    ``@gmail。com`` are ``gmail.com``, and needless quotes around the local part are dropped
    (``"alice"@example.com`` is ``alice@example.com``). Before that, invisible format
    characters (zero-width spaces and joiners, the byte order mark, Unicode category ``Cf``)
    are removed and compatibility forms folded (NFKC: full-width letters and at-signs), as no
    mailbox differs from another by them; a trailing dot of the domain is dropped. Then case
    is ignored, a ``+tag`` is dropped from the local part everywhere, and for Gmail dots are
    dropped too, ``googlemail.com`` being ``gmail.com``.

    :raises ValidationError: not a string, longer than 320 characters, or not an email
        address by ``email-validator``'s rules (the message says which).
    """
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"email must be a str of at most {MAX_EMAIL_LENGTH} characters")
    visible = "".join(c for c in email if unicodedata.category(c) != "Cf")
    folded = unicodedata.normalize("NFKC", visible).strip().rstrip(".")
    try:
        checked = validate_email(
            folded,
            check_deliverability=False,
            allow_quoted_local=True,
            globally_deliverable=False,
            test_environment=True,
        )
    except EmailNotValidError as exc:
        raise ValidationError(f"email {email!r} is not an email address: {exc}") from exc
    local = checked.local_part.lower().split("+", 1)[0]
    domain = checked.domain.lower()
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
    :param retired: pepper keys of keys no longer in the list (:mod:`refkit.keyring`): only
        :meth:`pseudonyms` uses them, to find users erased under those keys.
    """

    def __init__(self, secret_key: SecretKeys, retired: tuple[bytes, ...] = ()) -> None:
        self._keys = derive_keys(secret_key, "refkit.pepper")
        self._retired = tuple(key for key in retired if key not in self._keys)

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The pepper keys of the secret keys, newest first."""
        return self._keys

    def with_retired(self, retired: tuple[bytes, ...]) -> Pepper:
        """This pepper, also finding pseudonyms made under the ``retired`` pepper keys."""
        other = Pepper.__new__(Pepper)
        other._keys = self._keys
        other._retired = tuple(key for key in retired if key not in self._keys)
        return other

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
        """The user's pseudonym under every key, the retired ones last (to find one made
        before a rotation)."""
        keys = self._keys + self._retired
        return tuple(PSEUDONYM_PREFIX + self._hash(key, "user", user_id) for key in keys)
