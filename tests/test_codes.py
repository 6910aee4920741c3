"""Referral codes: format, round trips across key rotation, and refusal of everything else."""

from __future__ import annotations

import string
import timeit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refkit
from refkit.codes import (
    ALPHABET,
    CODE_LENGTH,
    MAX_INPUT_LENGTH,
    MAX_NUMBER,
    CodeCodec,
    check_character,
)

from .support.settings import SECRET

OLD_KEY = "old-secret-key-0123456789abcdefghijklmnop"
numbers = st.integers(min_value=0, max_value=MAX_NUMBER)


@pytest.fixture(scope="module")
def codec() -> CodeCodec:
    return CodeCodec(SECRET)


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("0O1ILU") & set(ALPHABET)
    assert ALPHABET.upper() == ALPHABET
    assert len(set(ALPHABET)) == len(ALPHABET) == 30


@given(numbers)
def test_code_is_short_upper_case_and_in_alphabet(number: int) -> None:
    code = CodeCodec(SECRET).encode(number)
    assert len(code) == CODE_LENGTH <= 12
    assert set(code) <= set(ALPHABET)


@given(numbers)
def test_every_code_parses_back_to_its_number(number: int) -> None:
    codec = CodeCodec(SECRET)
    parsed = codec.parse(codec.encode(number))
    assert (parsed.number, parsed.key_index) == (number, 0)


@given(numbers, st.sampled_from(["lower", "spaces", "dashes", "mixed"]))
def test_parse_accepts_case_spaces_and_separators(number: int, style: str) -> None:
    codec = CodeCodec(SECRET)
    code = codec.encode(number)
    variant = {
        "lower": code.lower(),
        "spaces": f"  {code}\t",
        "dashes": f"{code[:4]}-{code[4:8]}-{code[8:]}",
        "mixed": f" {code[:6].lower()}-{code[6:]} ",
    }[style]
    assert codec.parse(variant).number == number


@given(numbers)
def test_codes_survive_key_rotation(number: int) -> None:
    old = CodeCodec(OLD_KEY)
    rotated = CodeCodec([SECRET, OLD_KEY])
    old_code = old.encode(number)
    assert rotated.parse(old_code) == (old_code, number, 1)
    new_code = rotated.encode(number)
    assert new_code == CodeCodec(SECRET).encode(number)
    assert rotated.parse(new_code).key_index == 0


@given(numbers)
def test_a_retired_key_no_longer_verifies(number: int) -> None:
    with pytest.raises(refkit.InvalidCode):
        CodeCodec(SECRET).parse(CodeCodec(OLD_KEY).encode(number))


@settings(max_examples=50)
@given(numbers)
def test_every_single_character_alteration_is_refused(number: int) -> None:
    codec = CodeCodec(SECRET)
    code = codec.encode(number)
    for position in range(len(code)):
        for replacement in ALPHABET:
            if replacement == code[position]:
                continue
            altered = code[:position] + replacement + code[position + 1 :]
            with pytest.raises(refkit.InvalidCode):
                codec.parse(altered)


@settings(max_examples=500)
@given(st.text(alphabet=ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH))
def test_random_codes_of_valid_shape_are_refused(text: str) -> None:
    with pytest.raises(refkit.InvalidCode):
        CodeCodec(SECRET).parse(text)


@settings(max_examples=300)
@given(st.text(alphabet=ALPHABET, min_size=CODE_LENGTH - 1, max_size=CODE_LENGTH - 1))
def test_random_codes_with_a_correct_check_character_are_refused(body: str) -> None:
    with pytest.raises(refkit.InvalidCode):
        CodeCodec(SECRET).parse(body + check_character(body))


@settings(max_examples=1000)
@given(st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.text(ALPHABET + "-  ")))
def test_parsing_never_raises_anything_but_invalid_code(value: object) -> None:
    with pytest.raises(refkit.InvalidCode) as caught:
        CodeCodec(SECRET).parse(value)
    assert caught.value.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("A" * (MAX_INPUT_LENGTH + 1), "too_long"),
        ("ÄBCDEFGHJKMN", "not_ascii"),
        ("ABCDEFGHJKM", "bad_length"),
        ("0BCDEFGHJKMN", "bad_characters"),
        ("ABCDEFGHJKM\x00", "bad_characters"),
    ],
)
def test_refusals_name_the_reason(codec: CodeCodec, text: str, reason: str) -> None:
    with pytest.raises(refkit.InvalidCode) as caught:
        codec.parse(text)
    assert caught.value.reason == reason


def test_a_typo_is_reported_as_one(codec: CodeCodec) -> None:
    code = codec.encode(4242)
    typo = code[:3] + next(c for c in ALPHABET if c != code[3]) + code[4:]
    with pytest.raises(refkit.InvalidCode) as caught:
        codec.parse(typo)
    assert caught.value.reason == "typo"


def test_over_long_input_is_refused_quickly(codec: CodeCodec) -> None:
    hostile = "A" * 1_000_000
    seconds = min(timeit.repeat(lambda: _refuse(codec, hostile), number=10, repeat=3)) / 10
    assert seconds < 0.001


def _refuse(codec: CodeCodec, text: str) -> None:
    with pytest.raises(refkit.InvalidCode):
        codec.parse(text)


def test_codes_do_not_reveal_the_number_of_referrers(program: refkit.ReferralProgram) -> None:
    codec_numbers = sorted(
        CodeCodec(SECRET).parse(program.code_for(f"user-{i}")).number for i in range(50)
    )
    # random numbers in 0..2**23: fifty consecutive users do not get 0..49
    assert codec_numbers[-1] > 1000
    assert codec_numbers != list(range(codec_numbers[0], codec_numbers[0] + 50))


@pytest.mark.parametrize(
    "key",
    [None, "", "short", "x" * 31, ["x" * 32, "short"], [], 12345],
)
def test_missing_or_short_keys_are_refused(key: object) -> None:
    with pytest.raises(refkit.ConfigurationError):
        CodeCodec(key)  # type: ignore[arg-type]


def test_bytes_keys_work() -> None:
    codec = CodeCodec(b"k" * 32)
    assert codec.parse(codec.encode(7)).number == 7


def test_uniform_alphabet_sanity() -> None:
    assert set(ALPHABET) <= set(string.ascii_uppercase + string.digits)
