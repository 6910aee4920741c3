"""Referral codes: short, typeable, signed, verified offline.

A code is 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L, U)::

    K7WQ9XMP3RDA
    |---------|+-- check character (Luhn mod 30): catches every single mistyped character
    hashids of (referrer number << 20 | tag)

* The **referrer number** is a random 23-bit integer the store assigns to a user once, so a
  code says nothing about how many referrers exist (hashids alone would not hide a counter:
  its salt can be recovered by known attacks, so refkit never relies on it for secrecy).
* The **tag** is 20 bits of an HMAC-SHA256 of the number under a key derived (itsdangerous,
  one salt per purpose) from the program's secret key. A forged or random code passes with
  odds of at most 2**-20 (under one in a million) even for an attacker who knows the format.
* The **check character** makes every single-character typo a certain refusal, and lets a
  shop tell a customer "that looks mistyped" rather than "that is not a code".

Parsing is strict and cheap: the length is checked before anything else (hashids decoding
cost grows with input length), then the alphabet, the check character, the canonical hashids
form and the tag. Everything but the lookup of the number's user happens offline.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
from typing import NamedTuple

from hashids import Hashids

from .errors import InvalidCode
from .keys import SecretKeys, derive_keys

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "MAX_INPUT_LENGTH",
    "MAX_NUMBER",
    "NUMBER_BITS",
    "TAG_BITS",
    "CodeCodec",
    "ParsedCode",
    "check_character",
    "normalize_code",
]

#: Upper-case letters and digits, without 0/O, 1/I/L and U.
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
NUMBER_BITS = 23
TAG_BITS = 20
BODY_LENGTH = 11
CODE_LENGTH = BODY_LENGTH + 1
#: Longer input is refused before any other work (separators and spaces included).
MAX_INPUT_LENGTH = 40
_HASHIDS_SALT = "refkit.codes.v1"  # public on purpose: secrecy lives in the tag
_TAG_SALT = b"refkit.code-tag"
_SEPARATORS = str.maketrans("", "", "- \t")
_ALPHABET_SET = frozenset(ALPHABET)
_TAG_MASK = (1 << TAG_BITS) - 1
MAX_NUMBER = (1 << NUMBER_BITS) - 1


class ParsedCode(NamedTuple):
    """A code that passed every offline check.

    :ivar code: the canonical form (12 upper-case characters).
    :ivar number: the referrer number the store maps to a user id.
    :ivar key_index: which secret key verified it (0 is the newest); older keys mean the code
        predates a rotation.
    """

    code: str
    number: int
    key_index: int


def normalize_code(text: object) -> str:
    """Return the canonical spelling of ``text``: upper case, no spaces or dashes.

    :raises InvalidCode: not a string, empty, over-long, non-ASCII, or of the wrong shape.
    """
    if not isinstance(text, str):
        raise InvalidCode(text, "not_a_string", f"a referral code is a str, not {type(text)!r}")
    if len(text) == CODE_LENGTH and _ALPHABET_SET.issuperset(text):
        return text  # already canonical: the common case, from a link
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidCode(text, "too_long")
    if not text.isascii():
        raise InvalidCode(text, "not_ascii")
    code = text.translate(_SEPARATORS).strip().upper()
    if not code:
        raise InvalidCode(text, "empty")
    if len(code) != CODE_LENGTH:
        raise InvalidCode(text, "bad_length")
    if not _ALPHABET_SET.issuperset(code):
        raise InvalidCode(text, "bad_characters")
    return code


def _luhn_addends(factor: int) -> dict[str, int]:
    base = len(ALPHABET)
    return {char: (factor * i) // base + (factor * i) % base for i, char in enumerate(ALPHABET)}


# Luhn mod N doubles every other character, counting from the right end of the body.
_DOUBLED, _SINGLE = _luhn_addends(2), _luhn_addends(1)
_WEIGHTS = tuple(
    _DOUBLED if (BODY_LENGTH - 1 - i) % 2 == 0 else _SINGLE for i in range(BODY_LENGTH)
)


def check_character(body: str) -> str:
    """Luhn mod 30 check character of an 11-character ``body`` of :data:`ALPHABET`.

    Luhn mod N detects every single-character substitution (and most swaps of neighbours).
    """
    total = sum(map(operator.getitem, _WEIGHTS, body))
    return ALPHABET[-total % len(ALPHABET)]


class CodeCodec:
    """Turns referrer numbers into signed codes and back, with key rotation.

    :param secret_key: one key or ``[newest, older...]``; each at least 32 characters.
    :param salt: the purpose salt for key derivation; programs that must not accept each
        other's codes while sharing a key can use different salts.
    """

    def __init__(self, secret_key: SecretKeys, *, salt: bytes = _TAG_SALT) -> None:
        self._tag_keys = derive_keys(secret_key, salt)
        # One keyed HMAC per key, copied for each tag: cheaper than keying one every time.
        self._tag_macs = [hmac.new(key, digestmod=hashlib.sha256) for key in self._tag_keys]
        self._hashids = Hashids(salt=_HASHIDS_SALT, min_length=BODY_LENGTH, alphabet=ALPHABET)

    def _tag(self, number: int, key_index: int = 0) -> int:
        mac = self._tag_macs[key_index].copy()
        mac.update(number.to_bytes(8, "big"))
        digest = mac.digest()
        return int.from_bytes(digest[:3], "big") >> (24 - TAG_BITS)

    def encode(self, number: int) -> str:
        """The code for referrer ``number`` under the newest key."""
        if not 0 <= number <= MAX_NUMBER:
            raise ValueError(f"referrer number must be in 0..{MAX_NUMBER}, got {number}")
        body: str = self._hashids.encode((number << TAG_BITS) | self._tag(number))
        return body + check_character(body)

    def parse(self, text: object) -> ParsedCode:
        """Verify ``text`` offline and return what it carries.

        :raises InvalidCode: with a ``reason`` for anything that is not a code signed by one
            of this codec's keys. Nothing else is ever raised.
        """
        code = normalize_code(text)
        body = code[:BODY_LENGTH]
        if check_character(body) != code[BODY_LENGTH]:
            raise InvalidCode(text, "typo", f"{code!r} looks mistyped: check each character")
        values = self._hashids.decode(body)
        if len(values) != 1 or values[0] >> (NUMBER_BITS + TAG_BITS):
            raise InvalidCode(text, "not_canonical")
        number, tag = values[0] >> TAG_BITS, values[0] & _TAG_MASK
        given = tag.to_bytes(3, "big")
        for key_index in range(len(self._tag_keys)):
            if hmac.compare_digest(given, self._tag(number, key_index).to_bytes(3, "big")):
                return ParsedCode(code=code, number=number, key_index=key_index)
        raise InvalidCode(text, "bad_signature")
