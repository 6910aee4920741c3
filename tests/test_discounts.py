"""The friend's discount at checkout: offer -> claim -> pay -> convert, release, lapse,
refunds, and the offer always equal to what the conversion records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

import refkit
from refkit import Reward, RewardRules

MakeProgram = Callable[..., refkit.ReferralProgram]

DOUBLE_SIDED = RewardRules(
    currency="EUR",
    referrer_reward=Reward.percent(10, cap=Decimal("20")),
    referee_discount=Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=True,
    attribution_window=timedelta(days=30),
)


@pytest.fixture
def shop(make_program: MakeProgram) -> refkit.ReferralProgram:
    program = make_program(DOUBLE_SIDED)
    program.attribute("bob", program.code_for("alice"))
    return program


def test_the_offer_says_what_the_friend_gets(
    shop: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    offer = shop.offer_for("bob", Decimal("40"), "eur")
    assert offer == refkit.Offer(
        discount=Decimal("5"),
        currency="EUR",
        referrer_id="alice",
        reasons=("discount_offered",),
        expires_at=clock() + timedelta(days=30),
    )
    assert shop.offer_for("stranger", 40, "EUR").reasons == ("not_referred",)
    assert shop.offer_for("stranger", 40, "EUR").discount == 0
    assert shop.offer_for("bob", 40, "USD").reasons == ("currency_mismatch",)
    assert shop.offer_for("bob", 0, "EUR").reasons == ("zero_amount",)
    assert shop.offer_for("bob", 3, "EUR").discount == Decimal(3)  # never more than the order


def test_an_offer_stores_nothing(shop: refkit.ReferralProgram) -> None:
    shop.offer_for("bob", 40, "EUR")
    shop.offer_for("guest", 40, "EUR", code=shop.code_for("alice"))
    assert shop.referral_for("guest") is None
    assert shop.release_discount("anything") is False


def test_a_guest_offer_uses_the_typed_code(shop: refkit.ReferralProgram) -> None:
    offer = shop.offer_for("guest", 40, "EUR", code=shop.code_for("alice"))
    assert (offer.discount, offer.referrer_id) == (Decimal(5), "alice")
    with pytest.raises(refkit.InvalidCode):
        shop.offer_for("guest", 40, "EUR", code="NOT-A-CODE")


def test_checkout_offer_claim_pay_convert(shop: refkit.ReferralProgram) -> None:
    claim = shop.claim_discount("o1", "bob", Decimal("40"), "EUR")
    assert (claim.discount, claim.order_id, claim.reasons) == (
        Decimal(5),
        "o1",
        ("discount_claimed",),
    )
    assert shop.claim_discount("o1", "bob", Decimal("40"), "EUR") == claim  # same order: same
    conversion = shop.record_conversion("o1", "bob", Decimal("35"), "EUR")  # what was paid
    by_kind = {reward.kind: reward for reward in conversion.rewards}
    discount = by_kind["discount"]
    assert (discount.role, discount.status, discount.value, discount.beneficiary_id) == (
        "referee",
        "redeemed",
        Decimal("5.00"),
        "bob",
    )
    assert by_kind["percent"].value == Decimal("3.50")  # 10 percent of what was paid
    assert "discount_redeemed" in conversion.reasons
    assert shop.record_conversion("o1", "bob", Decimal("35"), "EUR") == conversion  # replay
    assert shop.summary().reward_cost_by_currency == {"EUR": Decimal("8.50")}
    used = shop.claim_discount("o1", "bob", Decimal("40"), "EUR")
    assert used.discount == Decimal(5)
    assert used.expires_at is None
    assert shop.release_discount("o1") is False  # used: nothing to release


def test_another_order_of_the_referee_gets_nothing(shop: refkit.ReferralProgram) -> None:
    shop.claim_discount("o1", "bob", 40, "EUR")
    other = shop.claim_discount("o2", "bob", 40, "EUR")
    assert (other.discount, other.reasons, other.order_id) == (
        Decimal(0),
        ("discount_already_claimed",),
        "o2",
    )
    with pytest.raises(refkit.ConflictError):
        shop.claim_discount("o1", "bob", 41, "EUR")


def test_a_released_claim_can_be_claimed_again(shop: refkit.ReferralProgram) -> None:
    shop.claim_discount("o1", "bob", 40, "EUR")
    assert shop.release_discount("o1") is True
    assert shop.release_discount("o1") is False
    assert shop.claim_discount("o2", "bob", 40, "EUR").discount == Decimal(5)
    assert shop.claim_discount("o1", "bob", 40, "EUR").discount == 0  # o2 holds it now
    assert shop.release_discount("o2") is True
    assert shop.claim_discount("o1", "bob", 40, "EUR").discount == Decimal(5)  # again


def test_a_claim_lapses_after_the_ttl(make_program: MakeProgram, clock: refkit.FrozenClock) -> None:
    program = make_program(DOUBLE_SIDED, claim_ttl=timedelta(minutes=10))
    program.attribute("bob", program.code_for("alice"))
    first = program.claim_discount("o1", "bob", 40, "EUR")
    assert first.expires_at == clock() + timedelta(minutes=10)
    clock.advance(minutes=9)
    assert program.claim_discount("o2", "bob", 40, "EUR").discount == 0
    clock.advance(minutes=1)
    assert program.claim_discount("o2", "bob", 40, "EUR").discount == Decimal(5)
    late = program.record_conversion("o1", "bob", 35, "EUR")  # o1 lapsed: no discount for it
    assert all(reward.kind != "discount" for reward in late.rewards)
    assert "discount_already_claimed" in late.reasons


def test_a_conversion_without_a_claim_records_no_discount(shop: refkit.ReferralProgram) -> None:
    """The shop gave no discount (a retry after a failed checkout): refkit grants none."""
    conversion = shop.record_conversion("o1", "bob", 40, "EUR")
    assert [reward.kind for reward in conversion.rewards] == ["percent"]
    assert "discount_not_claimed" in conversion.reasons


def test_a_guest_claim_binds_the_code(shop: refkit.ReferralProgram) -> None:
    claim = shop.claim_discount("o1", "guest", 40, "EUR", code=shop.code_for("alice"))
    assert claim.discount == Decimal(5)
    assert shop.referral_for("guest").referrer_id == "alice"  # type: ignore[union-attr]


def test_a_full_refund_reverses_the_discount_and_gives_no_second_one(
    shop: refkit.ReferralProgram,
) -> None:
    shop.claim_discount("o1", "bob", 40, "EUR")
    shop.record_conversion("o1", "bob", 35, "EUR")
    shop.refund("o1", 10)  # partial: the discount stays redeemed
    assert shop.summary().reward_cost_by_currency["EUR"] == Decimal("7.50")
    shop.refund("o1")
    stored = shop.conversion("o1")
    assert stored is not None
    assert [r.status for r in stored.rewards if r.kind == "discount"] == ["reversed"]
    assert shop.summary().reward_cost_by_currency == {}
    again = shop.claim_discount("o2", "bob", 40, "EUR")
    assert again.discount == 0
    assert again.reasons == ("not_first_purchase",)  # and the slot stays held:
    assert shop.offer_for("bob", 40, "EUR").discount == 0


def test_the_discount_fires_no_reward_created_event(shop: refkit.ReferralProgram) -> None:
    created: list[refkit.EarnedReward] = []
    shop.on("reward.created", created.append)
    shop.claim_discount("o1", "bob", 40, "EUR")
    shop.record_conversion("o1", "bob", 35, "EUR")
    assert [reward.kind for reward in created] == ["percent"]


@pytest.mark.parametrize(
    "options", [{"claim_ttl": timedelta(0)}, {"claim_ttl": None}, {"claim_ttl": 60}]
)
def test_bad_claim_ttl_is_refused(make_program: MakeProgram, options: dict[str, object]) -> None:
    with pytest.raises(refkit.ConfigurationError):
        make_program(DOUBLE_SIDED, **options)


def test_points_are_no_discount() -> None:
    with pytest.raises(refkit.ConfigurationError):
        RewardRules(referee_discount=Reward.points(10))


# -- the offer equals what the conversion records, for every rule -----------------------------

RULES = [
    DOUBLE_SIDED,
    RewardRules(referee_discount=Reward.percent(15)),
    RewardRules(referee_discount=Reward.percent(50, cap={"EUR": 8, "JPY": 900}), currency="EUR"),
    RewardRules(
        referrer_reward=Reward.percent(10),
        referee_reward=Reward.fixed(2, "EUR"),
        referee_discount=Reward.fixed(5, "EUR"),
        min_order_amount=Decimal(30),
    ),
    RewardRules(
        referrer_reward=Reward.fixed(7, "EUR"),
        referee_discount=Reward.percent(100),
        first_purchase_only=True,
    ),
]
ORDERS = [
    (Decimal("0"), "EUR"),
    (Decimal("0.03"), "EUR"),
    (Decimal("4"), "EUR"),
    (Decimal("29.99"), "EUR"),
    (Decimal("30"), "EUR"),
    (Decimal("120"), "EUR"),
    (Decimal("5000"), "JPY"),
    (Decimal("80"), "USD"),
]


@pytest.mark.parametrize("rules", RULES, ids=range(len(RULES)))
def test_the_offer_equals_what_the_conversion_records(
    make_program: MakeProgram, rules: RewardRules
) -> None:
    program = make_program(rules)
    for number, (amount, currency) in enumerate(ORDERS):
        friend = f"friend-{number}"
        program.attribute(friend, program.code_for("alice"))
        offer = program.offer_for(friend, amount, currency)
        claim = program.claim_discount(f"o{number}", friend, amount, currency)
        assert claim.discount == offer.discount, (amount, currency)
        paid = amount - claim.discount
        conversion = program.record_conversion(f"o{number}", friend, paid, currency)
        discounts = [r.value for r in conversion.rewards if r.kind == "discount"]
        assert discounts == ([offer.discount] if offer.discount else []), (amount, currency)
        # the referrer's reward is the decision's on the amount paid
        expected = refkit.rules.decide(
            rules,
            refkit.rules.ConversionContext(
                amount=amount,
                currency=currency,
                at=conversion.created_at,
                referral=program.referral_for(friend),
                is_first_purchase=True,
                rewarded_roles=frozenset(),
                claimed_discount=claim.discount if claim.discount else None,
            ),
        )
        assert [(p.role, p.value) for p in expected.rewards] == [
            (r.role, r.value) for r in conversion.rewards if r.kind != "discount"
        ]
        if not offer.discount and rules.referee_discount is not None:
            assert offer.reasons
            assert claim.reasons


def test_a_refunded_discount_keeps_the_referees_slot(make_program: MakeProgram) -> None:
    program = make_program(RewardRules(referee_discount=Reward.fixed(5, "EUR")))
    program.attribute("bob", program.code_for("alice"))
    program.claim_discount("o1", "bob", 40, "EUR")
    program.record_conversion("o1", "bob", 35, "EUR")
    program.refund("o1")
    again = program.claim_discount("o2", "bob", 40, "EUR")
    assert (again.discount, again.reasons) == (Decimal(0), ("discount_already_claimed",))


def test_an_offer_ignores_a_claim_whose_time_ran_out(
    shop: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    shop.claim_discount("o1", "bob", 40, "EUR")
    assert shop.offer_for("bob", 40, "EUR").reasons == ("discount_already_claimed",)
    clock.advance(shop.claim_ttl)
    assert shop.offer_for("bob", 40, "EUR").discount == Decimal(5)
    assert shop.claim_discount("o2", "bob", 40, "EUR").discount == Decimal(5)
    assert shop.release_discount("o1") is False  # it lapsed


def test_campaigns_count_the_discount_in_their_reward_cost(make_program: MakeProgram) -> None:
    program = make_program(DOUBLE_SIDED)
    program.attribute("bob", program.code_for("alice"), campaign="spring")
    program.claim_discount("o1", "bob", 40, "EUR")
    program.record_conversion("o1", "bob", 35, "EUR")
    spring = next(c for c in program.reports.campaigns() if c.campaign == "spring")
    assert spring.reward_cost == {"EUR": Decimal("8.50")}
    assert program.summary(campaign="spring").reward_cost == Decimal("8.50")


def test_reward_cost_by_bucket_counts_the_discount(shop: refkit.ReferralProgram) -> None:
    shop.claim_discount("o1", "bob", 40, "EUR")
    shop.record_conversion("o1", "bob", 35, "EUR")
    buckets = shop.reports.reward_cost_by_bucket()
    assert sum((b.amount for b in buckets), Decimal(0)) == Decimal("8.50")


def test_a_released_order_can_claim_again_with_another_total(
    shop: refkit.ReferralProgram,
) -> None:
    shop.claim_discount("o1", "bob", 40, "EUR")
    shop.release_discount("o1")
    again = shop.claim_discount("o1", "bob", 60, "EUR")
    assert (again.discount, again.order_id) == (Decimal(5), "o1")
    assert shop.record_conversion("o1", "bob", 55, "EUR").amount == Decimal(55)
