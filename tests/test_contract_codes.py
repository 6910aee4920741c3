"""Codes (../shared/API.md, Core): ``code_for``, ``link_for``, ``resolve`` and ``record_visit``.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

import refkit

from .support.contract import (
    OTHER_SECRET,
    Program,
    refer,
)
from .support.settings import SECRET

# -- code_for ------------------------------------------------------------------------------


def test_code_for_is_a_str_and_the_same_every_time_for_the_same_user_and_key(
    make_program: Callable[..., Program],
) -> None:
    program = make_program()
    code = program.code_for("alice")
    assert isinstance(code, str)
    assert program.code_for("alice") == code
    assert make_program().code_for("alice") == code  # a new program, same key and store
    assert program.code_for("bob") != code


def test_any_user_can_be_a_referrer_referees_included(program: Program) -> None:
    refer(program, "bob", "alice")
    assert refer(program, "carol", "bob").referrer_id == "bob"


# -- link_for ------------------------------------------------------------------------------


def test_link_for_adds_the_code_and_campaign_keeping_existing_parameters(
    program: Program,
) -> None:
    url = "https://shop.example/p?q=a%20b&flag&x=1&x=2#top"
    link = program.link_for("alice", url, campaign="spring")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "shop.example",
        "/p",
        "top",
    )
    assert parts.query.startswith("q=a%20b&flag&x=1&x=2&")  # kept as written
    query = parse_qs(parts.query)
    assert query["ref"] == [program.code_for("alice")]
    assert query["campaign"] == ["spring"]


def test_link_for_without_campaign_adds_only_the_code(program: Program) -> None:
    link = program.link_for("alice", "https://shop.example/")
    assert parse_qs(urlsplit(link).query) == {"ref": [program.code_for("alice")]}


def test_a_link_code_resolves(program: Program) -> None:
    link = program.link_for(42, "https://shop.example/?a=1")
    assert program.resolve(parse_qs(urlsplit(link).query)["ref"][0]) == "42"


# -- resolve -------------------------------------------------------------------------------


def test_resolve_returns_the_referrers_user_id(program: Program) -> None:
    assert program.resolve(program.code_for("alice")) == "alice"


def test_resolve_accepts_any_case_separators_and_surrounding_spaces(program: Program) -> None:
    code = program.code_for("alice")
    spellings = [
        code.lower(),
        f"  {code}  ",
        f"{code}\n",
        f"{code[:4]}-{code[4:8]}-{code[8:]}",
        f" {code[:4]} {code[4:8]} {code[8:]} ".lower(),
    ]
    for spelling in spellings:
        assert program.resolve(spelling) == "alice", spelling


def test_resolve_raises_invalid_code_for_anything_this_program_did_not_issue(
    make_program: Callable[..., Program],
) -> None:
    program = make_program()
    code = program.code_for("alice")
    typo = code[:5] + ("A" if code[5] != "A" else "B") + code[6:]
    foreign = make_program(secret_key=OTHER_SECRET).code_for("alice")
    unissued = refkit.CodeCodec(SECRET).encode(4242)  # signed with our key, never issued
    for bad in ["", "   ", "nope", "ABCDEFGHJKMN", typo, foreign, unissued, None, 42, "x" * 1000]:
        with pytest.raises(refkit.InvalidCode):
            program.resolve(bad)


# -- record_visit --------------------------------------------------------------------------


def test_record_visit_returns_a_visit_record_counted_for_the_referrer(
    program: Program, clock: refkit.FrozenClock
) -> None:
    visit = program.record_visit(
        program.code_for("alice"), campaign="spring", visitor="v1", at=clock()
    )
    assert isinstance(visit, refkit.Visit)
    assert (visit.referrer_id, visit.campaign, visit.visitor, visit.created_at) == (
        "alice",
        "spring",
        "v1",
        clock(),
    )
    program.record_visit(program.code_for("alice"))
    assert program.stats_for("alice").visits == 2
    assert program.summary(campaign="spring").visits == 1


def test_record_visit_with_an_invalid_code_raises_invalid_code(program: Program) -> None:
    with pytest.raises(refkit.InvalidCode):
        program.record_visit("NOT-A-CODE")
    assert program.summary().visits == 0
