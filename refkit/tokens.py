"""Signed, timestamped tokens for cookies and links (itsdangerous).

A :class:`TokenSigner` serializes a small JSON payload into a URL-safe string signed with the
program's keys and a salt per purpose (``"referral-cookie"``, ``"share-link"``...), so a token
made for one purpose is refused for another. Tokens older than ``max_age`` are refused with
:class:`~refkit.errors.ExpiredToken`.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from datetime import timedelta
from typing import Any

from itsdangerous import (
    BadData,
    Serializer,
    SignatureExpired,
    TimestampSigner,
    URLSafeTimedSerializer,
    base64_encode,
)

from .clock import Clock, system_clock
from .errors import ExpiredToken, InvalidToken
from .keys import SecretKeys, normalize_keys

__all__ = ["TokenSigner"]

#: Tokens longer than this are refused unread.
MAX_TOKEN_LENGTH = 4096


def _clocked_signer(clock: Clock) -> type[TimestampSigner]:
    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return ClockedSigner


class _URLSafeTimedSerializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer, compressing with a small zlib window.

    ``zlib.compress`` sets up a 32 KB window and 128 KB of hash tables for every call: for a
    payload of a few hundred bytes that set-up is most of a cookie's signing time (about
    30 us). A 4 KB window (tokens are at most :data:`MAX_TOKEN_LENGTH` long) and smaller
    tables compress these payloads as well for a fifth of the cost. The token format is
    itsdangerous' own (``"."`` then the compressed JSON when that is shorter), so any
    itsdangerous loader reads these tokens and this one reads theirs.
    """

    def dump_payload(self, obj: Any) -> bytes:
        json = Serializer.dump_payload(self, obj)  # the JSON, before the URL-safe encoding
        compressor = zlib.compressobj(6, zlib.DEFLATED, 12, 4)
        compressed = compressor.compress(json) + compressor.flush()
        if len(compressed) < len(json) - 1:  # as itsdangerous decides
            return b"." + base64_encode(compressed)
        return base64_encode(json)


class TokenSigner:
    """Sign and verify payloads for one purpose.

    :param secret_key: one key or ``[newest, older...]``.
    :param purpose: a short name, used as the itsdangerous salt (``"refkit.<purpose>"``).
    :param max_age: how long a token stays valid; ``None`` for no limit.
    :param clock: where "now" comes from (for signing and for checking the age).
    """

    def __init__(
        self,
        secret_key: SecretKeys,
        purpose: str,
        *,
        max_age: timedelta | None = None,
        clock: Clock = system_clock,
    ) -> None:
        salt = f"refkit.{purpose}"
        # itsdangerous' "hmac" key derivation, done here once instead of on every call: the
        # same derived keys, so tokens are the same as with key_derivation="hmac".
        keys = [
            hmac.new(key, salt.encode(), hashlib.sha256).digest()
            for key in normalize_keys(secret_key)
        ]
        self.purpose = purpose
        self.max_age = max_age
        self._serializer = _URLSafeTimedSerializer(
            list(reversed(keys)),  # itsdangerous wants the newest key last
            salt=salt,
            signer=_clocked_signer(clock),
            signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256},
        )

    def dumps(self, payload: Any) -> str:
        """Sign ``payload`` (anything JSON can hold) and return the token."""
        token = self._serializer.dumps(payload)
        return token if isinstance(token, str) else token.decode()

    def loads(self, token: object, *, max_age: timedelta | None = None) -> Any:
        """Return the payload of a valid token.

        :param max_age: overrides the signer's ``max_age`` for this call.
        :raises ExpiredToken: the signature is good but the token is too old.
        :raises InvalidToken: anything else: not a string, over-long, tampered, other purpose.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken(f"not a {self.purpose} token")
        limit = max_age if max_age is not None else self.max_age
        seconds = None if limit is None else int(limit.total_seconds())
        try:
            return self._serializer.loads(token, max_age=seconds)
        except SignatureExpired as error:
            raise ExpiredToken(
                f"this {self.purpose} token has expired", payload=error.payload
            ) from None
        except (BadData, UnicodeError, ValueError):
            raise InvalidToken(
                f"this {self.purpose} token is invalid or was tampered with"
            ) from None
