"""Signed tokens for cookies and links."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

import refkit
from refkit import TokenSigner

from .support.settings import SECRET


@pytest.fixture
def signer(clock: refkit.FrozenClock) -> TokenSigner:
    return TokenSigner(SECRET, "referral-cookie", max_age=timedelta(days=30), clock=clock)


def test_round_trip(signer: TokenSigner) -> None:
    assert signer.loads(signer.dumps({"code": "ABC", "n": 1})) == {"code": "ABC", "n": 1}


def test_expired_tokens_are_refused(signer: TokenSigner, clock: refkit.FrozenClock) -> None:
    token = signer.dumps("x")
    clock.advance(days=29)
    assert signer.loads(token) == "x"
    clock.advance(days=2)
    with pytest.raises(refkit.ExpiredToken):
        signer.loads(token)
    assert signer.loads(token, max_age=timedelta(days=60)) == "x"


def test_tokens_are_bound_to_their_purpose(signer: TokenSigner, clock: refkit.FrozenClock) -> None:
    other = TokenSigner(SECRET, "share-link", clock=clock)
    with pytest.raises(refkit.InvalidToken):
        other.loads(signer.dumps("x"))


def test_rotation_verifies_old_tokens(clock: refkit.FrozenClock) -> None:
    old = TokenSigner(SECRET, "p", clock=clock)
    rotated = TokenSigner(["a-brand-new-secret-key-0123456789abcdef", SECRET], "p", clock=clock)
    assert rotated.loads(old.dumps(1)) == 1
    with pytest.raises(refkit.InvalidToken):
        old.loads(rotated.dumps(1))


@given(st.one_of(st.text(max_size=300), st.none(), st.integers(), st.binary()))
def test_garbage_is_refused_with_invalid_token(value: object) -> None:
    signer = TokenSigner(SECRET, "p")
    with pytest.raises(refkit.InvalidToken):
        signer.loads(value)


def test_tampering_is_refused(signer: TokenSigner) -> None:
    token = signer.dumps({"code": "ABC"})
    for position in range(len(token)):
        flipped = "A" if token[position] != "A" else "B"
        tampered = token[:position] + flipped + token[position + 1 :]
        with pytest.raises(refkit.InvalidToken):
            signer.loads(tampered)


def test_short_keys_are_refused() -> None:
    with pytest.raises(refkit.ConfigurationError):
        TokenSigner("short", "p")


def test_tokens_are_itsdangerous_tokens_with_hmac_key_derivation() -> None:
    # Keys are derived once, not per call; the tokens must not change because of it.
    old = "an-older-secret-key-0123456789abcdefghij"
    reference = URLSafeTimedSerializer(
        [old, SECRET],
        salt="refkit.referral-cookie",
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )
    signer = TokenSigner([SECRET, old], "referral-cookie")
    assert signer.loads(reference.dumps({"code": "X"})) == {"code": "X"}
    assert reference.loads(signer.dumps({"code": "Y"})) == {"code": "Y"}
    # A payload long enough to be compressed (refkit compresses with a smaller zlib window):
    # still itsdangerous' format, read both ways.
    seen = {f"CODE{n:04d}": "2026-12-06" for n in range(20)}
    token = signer.dumps({"code": "Z", "seen": seen})
    assert token.startswith(".")
    assert reference.loads(token) == {"code": "Z", "seen": seen}
    assert signer.loads(reference.dumps({"code": "Z", "seen": seen})) == {"code": "Z", "seen": seen}
