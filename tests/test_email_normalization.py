"""Email normalization (issue 13, finding 10): what IDNA, quoting and invisible characters hide.

``normalize_email`` is built on ``email-validator``: every spelling of one mailbox is one
person, so a second account on it is refused as a self-referral on every store.
"""

from __future__ import annotations

import pytest

import refkit
from refkit.privacy import normalize_email

SAME_AS_ALICE_AT_GMAIL = [
    "alice@ｇｍａｉｌ.com",  # full-width letters: IDNA maps them to ASCII
    "alice@gmail。com",  # an ideographic full stop separates labels in IDNA
    "alice@GMAIL．COM",  # a full-width full stop
    "alice＠gmail.com",  # a full-width at-sign
    "ａｌｉｃｅ@gmail.com",  # a full-width local part
    '"alice"@gmail.com',  # needless quotes
    '"a.lice+promo"@googlemail.com',  # quotes around Gmail's dots and a tag
    "al\u200bice@gmail.com",  # a zero-width space
    "ali\u200dce@gmail.com",  # a zero-width joiner
    "\ufeffalice@gmail.com",  # a byte order mark
    "alice@gma\u200cil.com",  # a zero-width non-joiner in the domain
    "alice\u2060@gmail.com",  # a word joiner
]


@pytest.mark.parametrize("spelling", SAME_AS_ALICE_AT_GMAIL)
def test_every_spelling_of_one_mailbox_normalizes_alike(spelling: str) -> None:
    assert normalize_email(spelling) == "alice@gmail.com"


def test_international_domains_are_one_form_whether_unicode_or_punycode() -> None:
    assert normalize_email("Bob@BÜCHER.de") == "bob@bücher.de"
    assert normalize_email("bob@xn--bcher-kva.de") == "bob@bücher.de"


def test_quotes_that_are_needed_are_kept() -> None:
    assert normalize_email('"a b"@example.com') == '"a b"@example.com'
    assert normalize_email('"a b"@example.com') != normalize_email("ab@example.com")


@pytest.mark.parametrize(
    "bad",
    [
        "alice@@example.com",
        "alice@exa mple.com",
        "alice@-example.com",
        "alice@localhost",  # a reserved name, no mailbox there
        "\u200b@example.com",  # nothing left once the invisible character is gone
    ],
)
def test_what_email_validator_refuses_is_a_validation_error(bad: str) -> None:
    with pytest.raises(refkit.ValidationError, match="email"):
        normalize_email(bad)


@pytest.mark.parametrize(
    "spelling", ["alice@ｇｍａｉｌ.com", '"alice"@gmail.com', "al\u200bice@gmail.com"]
)
def test_a_second_account_on_another_spelling_refers_itself(
    program: refkit.ReferralProgram, spelling: str
) -> None:
    program.identify("alice", email="alice@gmail.com")
    with pytest.raises(refkit.SelfReferral):
        program.attribute("alice-2", program.code_for("alice"), email=spelling)
    assert program.referral_for("alice-2") is None
