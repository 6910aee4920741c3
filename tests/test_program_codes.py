"""ReferralProgram.code_for / resolve / link_for on every store."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

import refkit

from .support.settings import SECRET


def test_code_for_is_stable_and_resolves(program: refkit.ReferralProgram) -> None:
    code = program.code_for("alice")
    assert program.code_for("alice") == code
    assert program.resolve(code) == "alice"
    assert program.resolve(f"  {code.lower()}  ") == "alice"
    assert program.resolve(f"{code[:4]}-{code[4:8]}-{code[8:]}") == "alice"


def test_int_user_ids_become_strings(program: refkit.ReferralProgram) -> None:
    assert program.code_for(42) == program.code_for("42")
    assert program.resolve(program.code_for(42)) == "42"


def test_distinct_users_get_distinct_codes(program: refkit.ReferralProgram) -> None:
    codes = {program.code_for(f"user-{i}") for i in range(200)}
    assert len(codes) == 200


def test_a_fresh_program_on_the_same_store_gives_the_same_code(
    make_program, program: refkit.ReferralProgram
) -> None:
    code = program.code_for("alice")
    assert make_program().code_for("alice") == code
    assert make_program().resolve(code) == "alice"


def test_key_rotation_keeps_old_codes_and_issues_new_ones(make_program) -> None:
    old = make_program(secret_key=SECRET)
    old_code = old.code_for("alice")
    newer = "newer-secret-key-0123456789abcdefghijkl"
    rotated = make_program(secret_key=[newer, SECRET])
    new_code = rotated.code_for("alice")
    assert new_code != old_code
    assert rotated.resolve(old_code) == rotated.resolve(new_code) == "alice"
    with pytest.raises(refkit.InvalidCode):
        old.resolve(new_code)


def test_another_programs_codes_are_refused(make_program) -> None:
    mine = make_program()
    theirs = make_program(secret_key="another-secret-0123456789abcdefghijklm")
    with pytest.raises(refkit.InvalidCode) as caught:
        mine.resolve(theirs.code_for("mallory"))
    assert caught.value.reason == "bad_signature"


def test_a_valid_code_for_an_unknown_number_is_refused(program: refkit.ReferralProgram) -> None:
    forged = refkit.CodeCodec(SECRET).encode(12345)
    with pytest.raises(refkit.InvalidCode) as caught:
        program.resolve(forged)
    assert caught.value.reason == "unknown_referrer"


@pytest.mark.parametrize("bad", ["", "nope", "ABCDEFGHJKMN", None, 42, "x" * 10_000])
def test_resolve_refuses_garbage(program: refkit.ReferralProgram, bad: object) -> None:
    with pytest.raises(refkit.InvalidCode):
        program.resolve(bad)


def test_link_for_keeps_existing_parameters(program: refkit.ReferralProgram) -> None:
    link = program.link_for("alice", "https://shop.example/p?color=red&ref=OLD", campaign="spring")
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "shop.example", "/p")
    assert query == {"color": ["red"], "ref": [program.code_for("alice")], "campaign": ["spring"]}


@pytest.mark.parametrize("bad", ["", "x" * 256, "a\nb", True, 1.5, None])
def test_bad_user_ids_are_refused(program: refkit.ReferralProgram, bad: object) -> None:
    with pytest.raises(refkit.ValidationError):
        program.code_for(bad)  # type: ignore[arg-type]


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(refkit.ConfigurationError):
        refkit.ReferralProgram(store="memory://")
    with pytest.raises(refkit.ConfigurationError):
        refkit.ReferralProgram(secret_key="too-short", store="memory://")
