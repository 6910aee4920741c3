"""Key rotation keeps erasure: ``rotate_keys()`` / ``refkit rotate-keys`` (issue 13, finding 7).

A pseudonym is a keyed hash of a user id refkit no longer has, so it cannot be computed again
under a new key; ``rotate_keys`` stores the old keys' peppers in the keyring, wrapped under
the newest key (:mod:`refkit.keyring`), and a program holding only the newest key finds the
users erased under the old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

import refkit
from refkit import keyring
from refkit.cli import main
from refkit.keys import derive_keys
from refkit.storage.schema import keyring as keyring_table

from .support.settings import SECRET

MakeProgram = Callable[..., refkit.ReferralProgram]
K1, K2, K3 = (f"{SECRET}-key-{n}" for n in (1, 2, 3))
RULES = refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"))


def erase_a_referee(program: refkit.ReferralProgram) -> str:
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o1", "bob", "30", "EUR")
    return program.erase("bob")


def assert_still_erased(program: refkit.ReferralProgram, pseudonym: str) -> None:
    referral = program.referral_for("bob")
    assert referral is not None
    assert referral.referee_id == pseudonym
    with pytest.raises(refkit.AlreadyReferred):
        program.attribute("bob", program.code_for("erin"))
    assert program.record_conversion("o2", "bob", "30", "EUR").customer_id == pseudonym


def test_without_rotate_keys_dropping_the_old_key_forgets_the_erasure(
    make_program: MakeProgram,
) -> None:
    """Why the step exists: the same story without it binds the erased referee again."""
    erase_a_referee(make_program(RULES, secret_key=[K1]))
    after = make_program(RULES, secret_key=[K2])
    assert after.referral_for("bob") is None


def test_two_rotations_in_a_row_keep_the_first_keys_erasures(make_program: MakeProgram) -> None:
    pseudonym = erase_a_referee(make_program(RULES, secret_key=[K1]))
    assert make_program(RULES, secret_key=[K2, K1]).rotate_keys() == 1
    # K1 is gone; the next rotation unwraps its pepper with K2 and wraps it under K3
    assert make_program(RULES, secret_key=[K3, K2]).rotate_keys() == 2
    assert_still_erased(make_program(RULES, secret_key=[K3]), pseudonym)


def test_a_user_erased_again_after_the_rotation_keeps_their_pseudonym(
    make_program: MakeProgram,
) -> None:
    pseudonym = erase_a_referee(make_program(RULES, secret_key=[K1]))
    make_program(RULES, secret_key=[K2, K1]).rotate_keys()
    after = make_program(RULES, secret_key=[K2])
    assert after.erase("bob") == pseudonym


def test_the_keyring_holds_no_key_in_the_clear(make_program: MakeProgram) -> None:
    program = make_program(RULES, secret_key=[K2, K1])
    program.rotate_keys()
    with program.store.engine.connect() as connection:
        rows = connection.execute(select(keyring_table)).all()
    old_pepper = derive_keys(K1, "refkit.pepper")[0]
    assert [row.key_id for row in rows] == [keyring.key_id(old_pepper)]
    assert old_pepper.hex() not in rows[0].wrapped
    assert keyring.unwrap(rows[0].wrapped, [K2]) == old_pepper
    assert keyring.unwrap(rows[0].wrapped, [K1]) is None  # only the newest key unwraps it


def test_rotate_keys_refuses_when_the_keyring_key_was_dropped_too_early(
    make_program: MakeProgram,
) -> None:
    """[K2, K1] rotated; then K3 replaces K2 before a rotation with [K3, K2]: the keyring
    cannot be unwrapped, and rotate_keys says which key to put back, storing nothing."""
    make_program(RULES, secret_key=[K2, K1]).rotate_keys()
    program = make_program(RULES, secret_key=[K3, K1])
    with pytest.raises(refkit.ConfigurationError, match="rotate_keys"):
        program.rotate_keys()
    assert make_program(RULES, secret_key=[K3, K2]).rotate_keys() == 2  # K1's, and K2's


def test_refkit_rotate_keys_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The documented steps with the command: new key in front, ``refkit rotate-keys``
    with the old key, then the old key removed."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    monkeypatch.delenv("REFKIT_DATABASE_URL", raising=False)
    before = refkit.ReferralProgram(secret_key=K1, store=url, rules=RULES)
    pseudonym = erase_a_referee(before)
    before.store.close()
    monkeypatch.setenv("REFKIT_SECRET_KEY", K2)
    monkeypatch.setenv("REFKIT_OLD_SECRET_KEYS", K1)
    assert main(["--db", url, "rotate-keys"]) == 0
    assert capsys.readouterr().out.startswith("1 retired key in the keyring")
    monkeypatch.delenv("REFKIT_OLD_SECRET_KEYS")
    assert main(["--db", url, "rotate-keys", "--old-key", K1]) == 0  # the option, again
    after = refkit.ReferralProgram(secret_key=K2, store=url, rules=RULES)
    try:
        assert_still_erased(after, pseudonym)
    finally:
        after.store.close()


def test_refkit_rotate_keys_with_a_dropped_keyring_key_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    monkeypatch.setenv("REFKIT_SECRET_KEY", K2)
    assert main(["--db", url, "rotate-keys", "--old-key", K1]) == 0
    monkeypatch.setenv("REFKIT_SECRET_KEY", K3)
    capsys.readouterr()
    assert main(["--db", url, "rotate-keys", "--old-key", K1]) == 1
    error = capsys.readouterr().err
    assert error.startswith("refkit: error: the keyring's key")
    assert error.count("\n") == 1
