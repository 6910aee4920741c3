"""Secret keys: validation and the order itsdangerous expects.

refkit takes ``secret_key`` as one key or a list ``[newest, older...]``. New signatures use the
newest key; verification accepts any of them, so keys can be rotated without invalidating
codes, cookies or links already handed out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from itsdangerous import Signer

from .errors import ConfigurationError

__all__ = ["MIN_KEY_LENGTH", "SecretKeys", "derive_keys", "normalize_keys"]

MIN_KEY_LENGTH = 32

#: One key, or a sequence ``[newest, older...]``.
SecretKeys = str | bytes | Sequence[str | bytes]


def normalize_keys(secret_key: SecretKeys | None) -> tuple[bytes, ...]:
    """Return the keys as bytes, newest first.

    :raises ConfigurationError: no key, an empty list, a key that is not str/bytes, or a key
        shorter than :data:`MIN_KEY_LENGTH` characters.
    """
    if secret_key is None or (isinstance(secret_key, str | bytes) and not secret_key):
        raise ConfigurationError(
            "a secret_key is required: pass a random string of at least "
            f"{MIN_KEY_LENGTH} characters (for example secrets.token_urlsafe(32))"
        )
    if isinstance(secret_key, str | bytes):
        keys: list[object] = [secret_key]
    elif isinstance(secret_key, list | tuple):
        keys = list(secret_key)
    else:
        raise ConfigurationError(
            f"secret_key is a {type(secret_key).__name__}; give a str, bytes, or a list of them"
        )
    if not keys:
        raise ConfigurationError("secret_key is an empty list: give at least one key")
    result = []
    for position, key in enumerate(keys):
        if not isinstance(key, str | bytes):
            raise ConfigurationError(
                f"secret_key[{position}] is a {type(key).__name__}; keys are str or bytes"
            )
        if len(key) < MIN_KEY_LENGTH:
            where = "secret_key" if len(keys) == 1 else f"secret_key[{position}]"
            raise ConfigurationError(
                f"{where} has {len(key)} characters; use at least {MIN_KEY_LENGTH} random "
                "characters (generate one with: "
                'python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        result.append(key.encode() if isinstance(key, str) else bytes(key))
    return tuple(result)


def derive_keys(secret_key: SecretKeys | None, salt: str | bytes) -> tuple[bytes, ...]:
    """One HMAC key per secret, newest first, derived by itsdangerous (HMAC key derivation
    with ``salt``), so each purpose (code tags, hashes of personal data) has keys of its own.

    :raises ConfigurationError: as :func:`normalize_keys`.
    """
    keys = normalize_keys(secret_key)
    signer = Signer(
        list(reversed(keys)), salt=salt, key_derivation="hmac", digest_method=hashlib.sha256
    )
    return tuple(signer.derive_key(key) for key in keys)
