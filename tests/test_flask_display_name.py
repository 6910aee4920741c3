"""``@refkit.display_name``: names instead of user ids on the admin pages, escaped, cached for
the request, and never breaking a page."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask

import refkit
from refkit_flask import RefKit, RefKitState

from .support.api_shop import program_of, running_shop

HOSTILE = [
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "</text></svg><img src=x onerror=alert(1)>",
]


@pytest.fixture
def app(tmp_path: Path, clock: refkit.FrozenClock) -> Iterator[Flask]:
    with running_shop(tmp_path, clock) as app:
        yield app


def extension_of(app: Flask) -> RefKit:
    state = app.extensions["refkit"]
    assert isinstance(state, RefKitState)
    assert isinstance(state.extension, RefKit)
    return state.extension


@pytest.fixture
def shop(app: Flask, clock: refkit.FrozenClock) -> refkit.ReferralProgram:
    """alice referred bob (an order, rewards due) and carol (flagged: a disposable email);
    alice has approved credit to pay out."""
    program = program_of(app)
    alice = program.code_for("alice")
    program.attribute("bob", alice)
    program.attribute("carol", alice, email="carol@mailinator.com")
    program.record_conversion("o-1", "bob", Decimal("100"), "EUR")
    program.record_conversion("o-0", "carol", Decimal("20"), "EUR")
    clock.advance(days=15)
    program.approve_due()
    program.record_conversion("o-2", "bob", Decimal("10"), "EUR")  # no reward: bob's first
    program.attribute("dan", alice)
    program.record_conversion("o-3", "dan", Decimal("50"), "EUR")
    clock.advance(days=15)
    return program


def get(app: Flask, url: str) -> str:
    response = app.test_client().get(url, headers={"X-User": "admin"})
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def register(app: Flask, loader: Callable[[str], str | None]) -> None:
    extension_of(app).display_name(loader)


NAMES = {"alice": "Alice Martin", "bob": "Bob Stone", "carol": "Carol Diaz", "dan": "Dan Wu"}


def section(page: str, anchor: str) -> str:
    return page.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]


def test_names_replace_ids_everywhere_and_the_id_stays_beside_them(
    app: Flask, shop: refkit.ReferralProgram
) -> None:
    register(app, NAMES.get)
    page = get(app, "/refkit/admin")
    assert shop.reports.due_count() >= 1
    assert shop.flagged_referrals()
    for anchor, who in [
        ("referrers", "alice"),  # the leaderboard
        ("due", "dan"),  # the rewards to approve: dan's referee reward
        ("due", "alice"),
        ("balances", "alice"),  # alice's approved credit, to pay out
        ("flagged", "carol"),  # the referee under review
        ("flagged", "alice"),  # and her referrer
    ]:
        part = section(page, anchor)
        assert NAMES[who] in part, (anchor, who)
        assert f'<small class="user-id">{who}</small>' in part, (anchor, who)
    leaders = section(page, "referrers")
    assert '<a href="/refkit/admin/referrer?id=alice">Alice Martin</a>' in leaders
    assert 'aria-label="Record payout to Alice Martin (alice)"' in page
    assert 'aria-label="Reviewed: clear the flags of Carol Diaz (carol)"' in page

    referrer = get(app, "/refkit/admin/referrer?id=alice")
    assert "<title>Referrer Alice Martin (alice) · refkit</title>" in referrer
    assert re.search(
        r"<h1>Referrer Alice Martin <small[^>]*data-user>alice</small>\s*</h1>", referrer
    )
    assert "Alice Martin (alice)&#39;s referrals" in referrer  # the chart's title
    for who in ("bob", "carol", "dan"):  # referees and the orders' customers
        assert f'{NAMES[who]} <small class="user-id">{who}</small>' in section(
            referrer, "referrals"
        )
        if who != "carol":
            assert NAMES[who] in section(referrer, "orders")


def test_without_a_loader_the_pages_show_ids_as_before(
    app: Flask, shop: refkit.ReferralProgram
) -> None:
    page = get(app, "/refkit/admin")
    assert 'class="user-id"' not in page
    assert '<a href="/refkit/admin/referrer?id=alice">alice</a>' in page
    referrer = get(app, "/refkit/admin/referrer?id=alice")
    assert '<h1>Referrer <span class="id" data-user>alice</span></h1>' in referrer


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_never_reaches_the_page_unescaped(
    app: Flask, shop: refkit.ReferralProgram, name: str
) -> None:
    register(app, lambda user_id: name if user_id == "alice" else None)
    for url in ("/refkit/admin", "/refkit/admin/referrer?id=alice"):
        page = get(app, url)
        assert name not in page
        for raw in ("<script", "<svg onload", "<img", "</text></svg><"):
            assert raw not in page
        assert "alert(1)" in page  # shown, as text
    referrer = get(app, "/refkit/admin/referrer?id=alice")
    chart = re.search(
        r'<svg class="refkit-chart" id="refkit-referrer-chart".*?</svg>', referrer, re.S
    )
    assert chart is not None
    assert chart.group().count("</svg>") == 1  # the name did not close the chart
    assert chart.group().count("</text>") == chart.group().count("<text")


@pytest.mark.parametrize("answer", [None, "", "   "])
def test_no_name_shows_the_id(app: Flask, shop: refkit.ReferralProgram, answer: str | None) -> None:
    register(app, lambda user_id: answer)
    page = get(app, "/refkit/admin")
    assert '<a href="/refkit/admin/referrer?id=alice">alice</a>' in page
    assert 'class="user-id"' not in page


def test_a_failing_loader_shows_ids_and_logs_once_per_request(
    app: Flask, shop: refkit.ReferralProgram, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(user_id: str) -> str:
        calls.append(user_id)
        raise RuntimeError("the users' database is down")

    register(app, broken)
    with caplog.at_level(logging.WARNING, logger="refkit.flask"):
        page = get(app, "/refkit/admin")
        referrer = get(app, "/refkit/admin/referrer?id=alice")
    assert len(set(calls)) >= 4  # alice, carol, dan...: every id was tried
    assert '<a href="/refkit/admin/referrer?id=alice">alice</a>' in page
    assert '<span class="id" data-user>alice</span>' in referrer
    warnings = [r for r in caplog.records if "display_name" in r.getMessage()]
    assert len(warnings) == 2  # once per request, whatever the number of ids
    assert all(r.exc_info is not None for r in warnings)


def test_each_id_is_looked_up_once_per_request(app: Flask, shop: refkit.ReferralProgram) -> None:
    calls: Counter[str] = Counter()

    def counting(user_id: str) -> str:
        calls[user_id] += 1
        return user_id.title()

    register(app, counting)
    get(app, "/refkit/admin")
    assert calls["alice"] == 1  # on the leaderboard, the due list, the balances, the flags
    get(app, "/refkit/admin")
    assert calls["alice"] == 2  # a new request asks again: names may change


def test_long_names_are_cut_and_other_values_are_shown_as_text(
    app: Flask, shop: refkit.ReferralProgram
) -> None:
    register(app, lambda user_id: "A" * 200 if user_id == "alice" else 42)  # type: ignore[arg-type,return-value]
    page = get(app, "/refkit/admin")
    assert "A" * 79 + "…" in page
    assert "A" * 80 not in page
    bob = '<a href="/refkit/admin/referrer?id=bob">42</a> <small class="user-id">bob</small>'
    assert bob in page
