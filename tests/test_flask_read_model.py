"""Flask reads the core's public read model: the dashboard's "due" is approve_due's, and
refkit_flask imports nothing from refkit.storage."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import refkit
import refkit_flask
from tests.support.shop import MakeShop, program_of, state_of

RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"), hold_period=timedelta(days=14)
)


def test_the_dashboards_due_count_is_what_approve_all_due_approves(
    make_shop: MakeShop, store: refkit.Store, clock: refkit.FrozenClock
) -> None:
    app = make_shop(rules=RULES, store=store)
    app.config["SECRET_KEY"] = "dashboard-session-key"
    state_of(app).extension.admin_check(lambda: True)
    program = program_of(app)
    code = program.code_for("alice")
    program.attribute("bob", code)
    program.attribute("carol", code, email="carol@mailinator.com")  # flagged for review
    program.record_conversion("o-1", "bob", Decimal("30"), "EUR")
    program.record_conversion("o-2", "carol", Decimal("30"), "EUR")
    clock.advance(days=15)
    admin = app.test_client()
    text = admin.get("/refkit/admin").get_data(as_text=True)
    shown = re.search(r"Approve all (\d+) due", text)
    assert shown is not None, text
    token = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert token is not None
    response = admin.post("/refkit/admin/rewards/approve-due", data={"csrf_token": token[1]})
    assert response.headers["Location"].endswith(f"done=approved_due&count={shown[1]}#notice")
    assert shown[1] == "1"
    assert program.reports.due_count() == 0  # nothing stays "due" for good


def test_refkit_flask_imports_no_storage_internals() -> None:
    package = Path(refkit_flask.__file__).parent
    imported: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert "refkit" in imported  # the walk found refkit_flask's imports
    assert sorted(n for n in imported if n.startswith("refkit.storage")) == []
