"""Each hole of the docs' Django example (issue 17), shown on that example and closed by
refkit_django.

Every scenario runs against both shops of :mod:`tests.support.django_holes`: on the old
example (``git show c392c32:docs/examples/django_shop.py``, kept as
tests/support/old_django_example.py) the test asserts that the hole happens, so it documents
and proves it; on refkit_django it asserts that it does not. Each runs on memory, an SQLite
file and PostgreSQL, except the two about settings (the store's path, the key rotation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import refkit
from tests.support.django_holes import (
    APP,
    OLD,
    RULES,
    AppShop,
    Shop,
    client,
    fresh_old_module,
    old_shop,
    unique,
)
from tests.support.settings import SECRET

pytestmark = pytest.mark.usefixtures("django_environment")
Configure = Callable[..., refkit.ReferralProgram]
COOKIE = "refkit_referral"
ROTATED = "an-older-django-secret-key-0123456789abcdef"


@pytest.fixture(params=[OLD, APP])
def shop(request: pytest.FixtureRequest, django_refkit: Configure) -> Iterator[Shop]:
    """Each shop on the test's store and clock, with the old example's rules."""
    if request.param == APP:
        yield AppShop(django_refkit(RULES=RULES))
        return
    make_program = request.getfixturevalue("make_program")
    with old_shop(make_program(RULES)) as old:
        yield old


def holed(shop: Shop) -> bool:
    """Whether the hole must show: on the old example, never with refkit_django."""
    return shop.kind == OLD


def test_an_existing_customer_who_clicks_a_link_is_bound_and_rewarded_at_checkout(
    shop: Shop,
) -> None:
    program = shop.program
    customer = client()
    dave = shop.signup(customer, unique("dave"))  # an account from before any link
    customer.get("/", {"ref": program.code_for("alice")})
    shop.checkout(customer, unique("o"), "40.00", dave)
    referral = program.referral_for(dave)
    bound = referral is not None and referral.referrer_id == "alice"
    assert bound is holed(shop)
    assert (program.stats_for("alice").conversions == 1) is holed(shop)


def test_fast_purchase_fires_only_with_the_clicks_fingerprint(shop: Shop) -> None:
    program = shop.program  # the clock is frozen: the purchase comes at the click's time
    friend = client()
    friend.get("/", {"ref": program.code_for("alice")})
    bob = shop.signup(friend, unique("bob"))
    shop.checkout(friend, unique("o"), "30.00", bob)
    reasons = [r for f in program.flagged_referrals() for r in f.reasons]
    assert ("fast_purchase" not in reasons) is holed(shop)


def test_head_requests_and_link_preview_bots_count_visits(shop: Shop) -> None:
    program = shop.program
    code = program.code_for("alice")
    client("facebookexternalhit/1.1").get("/", {"ref": code})
    client().head("/", {"ref": code})
    assert (program.stats_for("alice").visits == 2) is holed(shop)
    if not holed(shop):
        assert program.stats_for("alice").visits == 0


def test_one_visit_per_visitor_code_and_day(shop: Shop) -> None:
    """The old example counts at most one visit per browser, ever: once its cookie exists it
    counts nothing, so it never counts the same visitor twice (its missing de-duplication
    shows with requests that keep no cookie: bots and HEAD, above) but misses a second
    referrer's visit. refkit_django counts one visit per visitor, code and day."""
    program = shop.program
    visitor = client()
    for _ in range(2):
        visitor.get("/", {"ref": program.code_for("alice")})
        visitor.get("/", {"ref": program.code_for("bob")})
    assert program.stats_for("alice").visits == 1
    assert (program.stats_for("bob").visits == 0) is holed(shop)
    if not holed(shop):
        assert program.stats_for("bob").visits == 1


def test_a_second_account_on_the_same_mailbox_refers_itself(shop: Shop) -> None:
    program = shop.program
    name = unique("alice")
    first = shop.signup(client(), name, f"{name}@example.com")
    again = client()
    again.get("/", {"ref": program.code_for(first)})
    second = shop.signup(again, unique("alice2"), f"{name}+shop@Example.com")
    assert (program.referral_for(second) is not None) is holed(shop)


def test_a_stale_cookie_blocks_a_new_capture(shop: Shop) -> None:
    program = shop.program
    friend = client()
    friend.cookies[COOKIE] = "a-stale-or-tampered-token"
    friend.get("/", {"ref": program.code_for("alice")})
    assert (program.stats_for("alice").visits == 0) is holed(shop)
    bob = shop.signup(friend, unique("bob"))
    assert (program.referral_for(bob) is None) is holed(shop)


def test_the_next_signup_on_a_shared_browser_is_attributed(shop: Shop) -> None:
    program = shop.program
    shared = client()
    shared.get("/", {"ref": program.code_for("alice")})
    bob = shop.signup(shared, unique("bob"))
    assert program.referral_for(bob).referrer_id == "alice"
    carol = shop.signup(shared, unique("carol"))  # the cookie was not cleared
    assert (program.referral_for(carol) is not None) is holed(shop)


def test_a_conversion_is_recorded_for_an_order_that_rolls_back(shop: Shop) -> None:
    program = shop.program
    customer = client()
    erin = shop.signup(customer, unique("erin"))
    order = unique("o")
    shop.checkout_rolled_back(customer, order, erin)
    assert (program.conversion(order) is not None) is holed(shop)


@contextlib.contextmanager
def _settings(**values: Any) -> Iterator[None]:
    from django.test import override_settings

    import refkit_django

    with override_settings(**values):
        refkit_django.reset()
        yield
    refkit_django.reset()


@contextlib.contextmanager
def _outside_tests() -> Iterator[None]:
    """As in production: refkit_django sees no Django test environment."""
    from django.core import mail

    outbox = mail.outbox
    del mail.outbox
    try:
        yield
    finally:
        mail.outbox = outbox


@pytest.mark.parametrize("kind", [OLD, APP])
def test_the_default_sqlite_store_follows_the_working_directory(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web server and a cron job started in different directories: one file or two."""
    files = []
    for where in ("web", "cron"):
        tmp_path.joinpath(where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        if kind == OLD:
            program = fresh_old_module(None).program
            files.append(Path(program.store.engine.url.database).resolve())
            program.store.close()
        else:
            from refkit_django.conf import read_settings

            with _settings(BASE_DIR=tmp_path / "site", REFKIT={}), _outside_tests():
                store = read_settings().store
            assert store.startswith("sqlite:///")
            files.append(Path(store.removeprefix("sqlite:///")))
            assert files[-1].is_absolute()
    assert (files[0] != files[1]) is (kind == OLD)


@pytest.mark.parametrize("kind", [OLD, APP])
def test_rotating_djangos_secret_key_invalidates_every_shared_code(
    kind: str, tmp_path: Path
) -> None:
    import refkit_django

    store = f"sqlite:///{tmp_path / 'refkit.db'}"

    def program() -> refkit.ReferralProgram:
        return fresh_old_module(store).program if kind == OLD else refkit_django.program()

    with _settings(SECRET_KEY=ROTATED, REFKIT={"TEST_STORE": store}):
        before = program()
        code = before.code_for("alice")
        if kind == OLD:
            before.store.close()
    rotated = {"SECRET_KEY": SECRET, "SECRET_KEY_FALLBACKS": [ROTATED]}
    with _settings(**rotated, REFKIT={"TEST_STORE": store}):
        after = program()
        if kind == OLD:
            with pytest.raises(refkit.InvalidCode):
                after.resolve(code)  # every link shared before the rotation is dead
            after.store.close()
        else:
            assert after.resolve(code) == "alice"
