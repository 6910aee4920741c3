"""Clearing a flagged referral (the quickstart's own walk-through trips the fast-purchase flag):
``refkit review``, ``flask refkit review`` and the dashboard's "Reviewed: clear" button."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
from flask import Flask, request

import refkit
from refkit.cli import main
from refkit_flask import RefKit
from refkit_flask.testing import frozen_program_clock, referral_client
from tests.support.shop import MakeShop, browser, program_of, state_of

SECRET = "test-secret-key-0123456789abcdefghijklmnop"


def flag_bob(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"), email="bob@mailinator.com")
    assert [f.referee_id for f in program.flagged_referrals()] == ["bob"]


def test_refkit_review_lists_and_clears_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'refkit.db'}"
    monkeypatch.setenv("REFKIT_SECRET_KEY", SECRET)
    program = refkit.ReferralProgram(secret_key=SECRET, store=url)
    flag_bob(program)
    assert main(["review", "--db", url]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("bob\treferred by alice\tdisposable_email\tflagged ")
    assert "1 referral to review" in err
    assert main(["review", "--db", url, "--clear", "bob"]) == 0
    assert capsys.readouterr().out == "cleared 1 flag of bob\n"
    assert program.flagged_referrals() == []
    program.store.close()


def test_flask_refkit_review_clears_flags(make_shop: MakeShop) -> None:
    app = make_shop()
    flag_bob(program_of(app))
    runner = app.test_cli_runner()
    assert "bob" in runner.invoke(args=["refkit", "review"]).output
    result = runner.invoke(args=["refkit", "review", "--clear", "bob"])
    assert result.output == "cleared 1 flag of bob\n"
    assert program_of(app).flagged_referrals() == []


def admin_app(make_shop: MakeShop) -> Flask:
    app = make_shop(SECRET_KEY=SECRET)
    ext: RefKit = state_of(app).extension
    ext.admin_check(lambda: request.headers.get("X-User") == "admin")
    return app


def test_the_dashboard_clears_a_flag(make_shop: MakeShop) -> None:
    app = admin_app(make_shop)
    flag_bob(program_of(app))
    client = browser(app)
    page = client.get("/refkit/admin", headers={"X-User": "admin"}).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page
    assert "Reviewed: clear" in page
    answer = client.post(
        "/refkit/admin/referrals/clear",
        data={"csrf_token": token.group(1), "referee": "bob"},
        headers={"X-User": "admin"},
    )
    assert answer.status_code == 303
    assert program_of(app).flagged_referrals() == []
    notice = client.get(answer.location, headers={"X-User": "admin"}).text
    assert "Cleared 1 flag" in notice


def test_clearing_from_the_dashboard_needs_an_admin_and_the_token(make_shop: MakeShop) -> None:
    app = admin_app(make_shop)
    flag_bob(program_of(app))
    client = browser(app)
    assert client.post("/refkit/admin/referrals/clear", data={"referee": "bob"}).status_code == 403
    refused = client.post(
        "/refkit/admin/referrals/clear", data={"referee": "bob"}, headers={"X-User": "admin"}
    )
    assert refused.status_code in (400, 403)
    assert len(program_of(app).flagged_referrals()) == 1


def test_the_quickstart_walk_through_is_flagged_and_cleared_as_the_page_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quickstart section 3 by hand: click, sign up and buy within a minute. The referral is
    flagged, approve leaves its rewards alone, and ``flask refkit review --clear`` lets them
    through, as the page's note says."""
    examples = Path(__file__).resolve().parent.parent / "docs" / "examples"
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(examples))
    monkeypatch.delitem(sys.modules, "shop", raising=False)
    shop = importlib.import_module("shop")
    try:
        app = shop.create_app({"TESTING": True, "REFKIT_DATABASE_URL": "memory://"})
        with frozen_program_clock(app) as clock:
            friend = referral_client(app, "alice@example.com")
            friend.post("/signup", data={"email": "bob@example.com"})
            friend.post("/checkout", data={"product": "beans"})  # within the minute
            program = program_of(app)
            [flag] = program.flagged_referrals()
            assert flag.reasons == ("fast_purchase",)
            clock.advance(days=15)
            runner = app.test_cli_runner()
            assert "approved 0 rewards" in runner.invoke(args=["refkit", "approve"]).output
            cleared = runner.invoke(args=["refkit", "review", "--clear", "bob@example.com"])
            assert cleared.output == "cleared 1 flag of bob@example.com\n"
            assert "approved 2 rewards" in runner.invoke(args=["refkit", "approve"]).output
    finally:
        sys.modules.pop("shop", None)
    page = (examples.parent / "quickstart.rst").read_text()
    assert "flask --app shop refkit review --clear bob@example.com" in page
    assert "REFKIT_FAST_PURCHASE" in page
