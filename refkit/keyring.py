"""Retired pepper keys, kept in the store wrapped under the newest secret key.

A pseudonym (:meth:`refkit.ReferralProgram.erase`) is a keyed hash of the user id under the
pepper of the key that was newest at the erasure. It cannot be computed again under another
key without the user id, which refkit no longer has: so before an old key leaves the list,
:meth:`refkit.ReferralProgram.rotate_keys` stores the old keys' peppers, each *wrapped*
(encrypted and authenticated) under a key derived from the newest secret key with its own
salt (``refkit.keyring``). A program holding only the newest key unwraps them and still finds
the users erased under the old ones; without the secret key the stored rows are random bytes.

The wrapping is encrypt-then-MAC from HMAC-SHA256 alone: a keystream ``HMAC(k, "stream" ||
nonce)`` XORed with the 32-byte pepper (a fresh random 16-byte nonce per wrapping), and a tag
``HMAC(k, "tag" || nonce || ciphertext)``, so a wrong key is detected, never used.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from .keys import SecretKeys, derive_keys

__all__ = ["key_id", "unwrap", "wrap"]

_SALT: Final = "refkit.keyring"
_NONCE: Final = 16
_TAG: Final = 16
_PEPPER: Final = 32


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.digest(key, b"\x00".join(parts), "sha256")


def key_id(pepper: bytes) -> str:
    """A public name for a pepper key (32 hex characters); reveals nothing of the key."""
    return _mac(pepper, b"refkit.key-id").hex()[:32]


def wrap(pepper: bytes, secret_key: SecretKeys) -> str:
    """``pepper`` encrypted and authenticated under the newest key of ``secret_key`` (hex)."""
    if len(pepper) != _PEPPER:
        raise ValueError("a pepper key is 32 bytes")
    key = derive_keys(secret_key, _SALT)[0]
    nonce = secrets.token_bytes(_NONCE)
    stream = _mac(key, b"stream", nonce)
    sealed = bytes(a ^ b for a, b in zip(pepper, stream, strict=True))
    tag = _mac(key, b"tag", nonce, sealed)[:_TAG]
    return (nonce + sealed + tag).hex()


def unwrap(wrapped: str, secret_key: SecretKeys) -> bytes | None:
    """The pepper in ``wrapped``, or ``None`` if no key of ``secret_key`` wrapped it."""
    try:
        raw = bytes.fromhex(wrapped)
    except ValueError:
        return None
    if len(raw) != _NONCE + _PEPPER + _TAG:
        return None
    nonce, sealed, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    for key in derive_keys(secret_key, _SALT):
        if hmac.compare_digest(_mac(key, b"tag", nonce, sealed)[:_TAG], tag):
            stream = _mac(key, b"stream", nonce)
            return bytes(a ^ b for a, b in zip(sealed, stream, strict=True))
    return None
