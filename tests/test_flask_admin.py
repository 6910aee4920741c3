"""Server-rendered pages: ``/refkit/admin`` and the ``refkit/invite.html`` snippet."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask

import refkit

from .support.api_shop import program_of, running_shop


@pytest.fixture
def app(tmp_path: Path, clock: refkit.FrozenClock) -> Iterator[Flask]:
    with running_shop(tmp_path, clock) as app:
        yield app


@pytest.fixture
def program(app: Flask) -> refkit.ReferralProgram:
    return program_of(app)


@pytest.fixture
def sales(program: refkit.ReferralProgram, clock: refkit.FrozenClock) -> refkit.ReferralProgram:
    """alice (2 visits) referred bob (100.00) and carol (50.00); dave referred erin (no order)."""
    alice, dave = program.code_for("alice"), program.code_for("dave")
    program.record_visit(alice)
    program.record_visit(alice)
    program.attribute("bob", alice)
    program.attribute("carol", alice)
    program.attribute("erin", dave)
    program.record_conversion("o-1", "bob", Decimal("100.00"), "EUR")
    clock.advance(days=5)
    program.record_conversion("o-2", "carol", Decimal("50.00"), "EUR")
    return program


def admin_page(app: Flask, user: str = "admin") -> str:
    response = app.test_client().get("/refkit/admin", headers={"X-User": user})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def metrics(page: str) -> dict[str, str]:
    found = re.findall(r'data-metric="([a-z_]+)">([^<]*)<', page)
    return {name: html.unescape(value) for name, value in found}


def leaderboard_rows(page: str) -> list[list[str]]:
    section = page.split('id="refkit-leaders"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()  # the referrer cell is a link
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        ]
        for row in rows
    ]


# -- who may see it ------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-User": "alice"}])
def test_admin_is_403_for_anonymous_and_ordinary_users(app: Flask, headers: dict[str, str]) -> None:
    assert app.test_client().get("/refkit/admin", headers=headers).status_code == 403


def test_admin_is_403_for_everyone_without_an_admin_check(tmp_path: Path) -> None:
    with running_shop(tmp_path, admin_check=False) as app:
        response = app.test_client().get("/refkit/admin", headers={"X-User": "admin"})
    assert response.status_code == 403


def test_admin_check_that_fails_denies_access(tmp_path: Path) -> None:
    def broken() -> bool:
        raise RuntimeError("the permission service is down")

    with running_shop(tmp_path, admin_check=False, REFKIT_RAISE_ERRORS=False) as app:
        app.extensions["refkit"].extension.admin_check(broken)
        response = app.test_client().get("/refkit/admin", headers={"X-User": "admin"})
    assert response.status_code == 403


# -- what it shows -------------------------------------------------------------------------


def test_admin_shows_zeros_for_a_new_program(app: Flask) -> None:
    page = admin_page(app)
    assert metrics(page) == {
        "referrers": "0",
        "visits": "0",
        "signups": "0",
        "conversions": "0",
        "conversion_rate": "0.0%",
        "revenue": "0.00 EUR",  # the currency of the rules' fixed reward
        "reward_cost": "0.00 EUR",
        "k_factor": "0.00",
        "due_rewards": "0",
        "due_count": "0",
    }
    assert "No referred purchases yet." in page


def test_admin_shows_the_program_summary(app: Flask, sales: refkit.ReferralProgram) -> None:
    shown = metrics(admin_page(app))
    summary = sales.summary()
    assert shown["referrers"] == str(summary.referrers) == "2"
    assert shown["visits"] == "2"
    assert shown["signups"] == "3"
    assert shown["conversions"] == "2"
    assert shown["conversion_rate"] == "66.7%"  # 2 of 3 referred signups bought
    assert shown["revenue"] == "150.00 EUR"
    assert shown["reward_cost"] == "25.00 EUR"  # 10 + 5 to alice, 5 + 5 referees
    assert shown["k_factor"] == "1.50"  # 3 signups / 2 referrers


def test_admin_counts_pending_rewards_once_their_hold_period_has_passed(
    app: Flask, sales: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    assert metrics(admin_page(app))["due_rewards"] == "0"
    clock.advance(days=10)  # o-1 was 15 days ago, o-2 10 days ago: o-1's two rewards are due
    assert metrics(admin_page(app))["due_rewards"] == "2"
    clock.advance(days=5)
    assert metrics(admin_page(app))["due_rewards"] == "4"
    sales.approve_due()
    assert metrics(admin_page(app))["due_rewards"] == "0"


def test_admin_shows_the_top_ten_referrers(app: Flask, program: refkit.ReferralProgram) -> None:
    for rank in range(12):  # referrer r00 has 12 referees who bought, r11 has 1
        code = program.code_for(f"r{rank:02}")
        for n in range(12 - rank):
            program.attribute(f"c{rank}-{n}", code)
            program.record_conversion(f"o{rank}-{n}", f"c{rank}-{n}", Decimal("20.00"), "EUR")
    rows = leaderboard_rows(admin_page(app))
    assert len(rows) == 10
    assert rows[0] == ["1", "r00", "12", "12", "240.00 EUR"]
    assert [row[1] for row in rows] == [f"r{rank:02}" for rank in range(10)]


def test_admin_escapes_user_ids_and_has_no_script_or_remote_assets(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    evil = "<script>alert(1)</script>"
    program.attribute("bob", program.code_for(evil))
    program.record_conversion("o-1", "bob", Decimal("30"), "EUR")
    page = admin_page(app)
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert leaderboard_rows(page)[0][1] == evil
    assert not re.search(r"\bsrc=", page)
    # links and forms stay on this site: the dashboard's own pages and actions, and its one
    # stylesheet from refkit's blueprint (moved out of an inline <style> for the strict CSP)
    targets = re.findall(r'\b(?:href|action)="([^"]*)"', page)
    assert targets
    assert all(
        target.startswith("/refkit/admin") or target in ("/refkit/static/admin.css", "#main")
        for target in targets
    )
    assert "http" not in page.split("<body>", 1)[1]


# -- the invite snippet --------------------------------------------------------------------


def test_invite_snippet_renders_nothing_when_anonymous(app: Flask) -> None:
    response = app.test_client().get("/invite")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip() == ""


def test_invite_snippet_shows_the_code_and_a_copyable_link(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    page = app.test_client().get("/invite", headers={"X-User": "alice"}).get_data(as_text=True)
    code = program.code_for("alice")
    assert f">{code}</strong>" in page
    field = re.search(r"<input[^>]*>", page)
    assert field is not None
    assert f'value="http://localhost/r/{code}"' in field.group()
    assert "readonly" in field.group()
    assert "<script" not in page


def test_invite_snippet_tags_the_link_with_a_campaign(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    page = (
        app.test_client()
        .get("/invite", query_string={"campaign": 'x"><b>'}, headers={"X-User": "alice"})
        .get_data(as_text=True)
    )
    assert f"/r/{program.code_for('alice')}?campaign=x%22%3E%3Cb%3E" in page
    assert "<b>" not in page


def test_invite_snippet_can_be_overridden_by_the_shop(app: Flask, tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "refkit"
    templates.mkdir(parents=True)
    (templates / "invite.html").write_text("shop's own: {{ refkit_code() }}")
    app.template_folder = str(tmp_path / "templates")
    page = app.test_client().get("/invite", headers={"X-User": "alice"}).get_data(as_text=True)
    assert page.startswith("shop's own: ")


def test_admin_counts_a_reward_as_due_the_moment_its_hold_period_ends(
    app: Flask, program: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("100"), "EUR")
    clock.advance(timedelta(days=14))
    assert metrics(admin_page(app))["due_rewards"] == "2"
