"""A/B tests of offers: refkit.Experiment, assignment, each referral following its variant's
rules, summary(variant=) and experiment_report() (against reference values from scipy)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

import refkit
from refkit import Experiment, Reward, RewardRules
from refkit.reports.stats import two_proportion_p_value, wilson_interval

from .support.settings import SECRET

MakeProgram = Callable[..., refkit.ReferralProgram]

RULES_A = RewardRules(
    currency="EUR",
    referrer_reward=Reward.percent(10),
    referee_discount=Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=True,
)
RULES_B = RewardRules(
    currency="EUR",
    referrer_reward=Reward.fixed(Decimal("7"), "EUR"),
    referee_discount=Reward.fixed(Decimal("10"), "EUR"),
    first_purchase_only=True,
    hold_period=timedelta(days=14),
)
WELCOME = Experiment("welcome-offer", {"A": RULES_A, "B": RULES_B})


def subject_in(experiment: Experiment, variant: str, prefix: str = "user") -> str:
    """The first subject ``prefix-<n>`` the experiment assigns to ``variant``."""
    return next(
        f"{prefix}-{n}" for n in range(1000) if experiment.variant_for(f"{prefix}-{n}") == variant
    )


# -- the Experiment value (pure) -------------------------------------------------------------


def test_an_experiment_is_a_frozen_exported_value_whose_first_variant_is_the_control() -> None:
    assert "Experiment" in refkit.__all__
    assert "ExperimentReport" in refkit.__all__
    assert WELCOME.control == "A"
    assert WELCOME.names == ("A", "B")
    assert WELCOME.weights == {"A": Fraction(1), "B": Fraction(1)}
    assert Experiment("welcome-offer", {"A": RULES_A, "B": RULES_B}) == WELCOME
    assert hash(WELCOME) == hash(Experiment("welcome-offer", {"A": RULES_A, "B": RULES_B}))
    with pytest.raises(AttributeError):
        WELCOME.key = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        WELCOME.variants["C"] = RULES_A  # type: ignore[index]
    assert WELCOME.rules_for("B") is RULES_B
    assert WELCOME.rules_for(None) is RULES_A  # a referral without a variant: the control
    assert WELCOME.rules_for("gone") is RULES_A  # a variant since removed: the control


@pytest.mark.parametrize(
    ("key", "variants", "weights", "message"),
    [
        ("", {"A": RULES_A, "B": RULES_B}, None, "key"),
        ("  ", {"A": RULES_A, "B": RULES_B}, None, "key"),
        (7, {"A": RULES_A, "B": RULES_B}, None, "key"),
        ("k", {"A": RULES_A}, None, "at least two"),
        ("k", {}, None, "at least two"),
        ("k", [("A", RULES_A), ("B", RULES_B)], None, "at least two"),
        ("k", {"": RULES_A, "B": RULES_B}, None, "variant name"),
        ("k", {1: RULES_A, "B": RULES_B}, None, "variant name"),
        ("k", {"A\n": RULES_A, "B": RULES_B}, None, "variant name"),
        ("k", {"A" * 65: RULES_A, "B": RULES_B}, None, "variant name"),
        ("k", {"A": RULES_A, "B": None}, None, "RewardRules"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1}, "exactly"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1, "B": 1, "C": 1}, "exactly"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1, "B": 0}, "positive"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1, "B": -2}, "positive"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1, "B": float("nan")}, "finite"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1, "B": float("inf")}, "finite"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1, "B": True}, "number"),
        ("k", {"A": RULES_A, "B": RULES_B}, {"A": 1, "B": "2"}, "number"),
    ],
)
def test_a_bad_experiment_is_refused_saying_what_is_wrong(
    key: object, variants: object, weights: object, message: str
) -> None:
    with pytest.raises(refkit.ConfigurationError, match=message):
        Experiment(key, variants, weights=weights)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "weights",
    [
        {"A": 1, "B": 1},
        {"A": 3, "B": 1},
        {"A": Decimal("0.2"), "B": 0.5, "C": Fraction(3, 10)},
    ],
)
def test_assignment_follows_the_weights_within_two_points_over_100000_subjects(
    weights: dict[str, object],
) -> None:
    variants = {name: RULES_A for name in weights}
    experiment = Experiment("weights", variants, weights=weights)  # type: ignore[arg-type]
    counts = Counter(experiment.variant_for(f"visitor-{n}") for n in range(100_000))
    total = sum(Fraction(str(w)) for w in weights.values())  # type: ignore[arg-type]
    for name, weight in weights.items():
        expected = float(Fraction(str(weight)) / total)
        assert abs(counts[name] / 100_000 - expected) < 0.02, (name, counts)


def test_assignment_is_the_same_in_another_process_whatever_its_hash_seed() -> None:
    subjects = [f"visitor-{n}" for n in range(200)] + ["alice", "ü-ñ", "42"]
    here = [WELCOME.variant_for(subject) for subject in subjects]
    assert set(here) == {"A", "B"}
    script = (
        "import json, sys, refkit\n"
        "rules = refkit.RewardRules()\n"
        "e = refkit.Experiment('welcome-offer', {'A': rules, 'B': rules})\n"
        "print(json.dumps([e.variant_for(s) for s in json.loads(sys.stdin.read())]))\n"
    )
    for seed in ("0", "12345"):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", script],
            input=json.dumps(subjects),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(result.stdout) == here


def test_another_experiment_key_reshuffles_the_subjects() -> None:
    other = Experiment("spring-offer", {"A": RULES_A, "B": RULES_B})
    subjects = [f"visitor-{n}" for n in range(1000)]
    same = sum(WELCOME.variant_for(s) == other.variant_for(s) for s in subjects)
    assert 400 < same < 600  # independent: about half agree by chance


# -- the program ---------------------------------------------------------------------------


def test_variant_for_is_stable_across_restarts_and_key_rotation(
    make_program: MakeProgram,
) -> None:
    program = make_program(WELCOME)
    before = [program.variant_for(f"user-{n}") for n in range(50)]
    restarted = make_program(WELCOME, secret_key=["n" * 32, SECRET])
    assert [restarted.variant_for(f"user-{n}") for n in range(50)] == before
    assert program.variant_for(7) == program.variant_for("7")
    with pytest.raises(refkit.ValidationError):
        program.variant_for("")


def test_without_an_experiment_there_is_no_variant(make_program: MakeProgram) -> None:
    plain = make_program(RULES_A)
    assert plain.variant_for("alice") is None
    assert plain.experiment is None
    referral = plain.attribute("bob", plain.code_for("alice"))
    assert referral.variant is None
    with pytest.raises(refkit.ValidationError, match="no experiment"):
        plain.attribute("carol", plain.code_for("alice"), variant="A")
    assert plain.referral_for("carol") is None
    with pytest.raises(refkit.ValidationError, match="Experiment"):
        plain.experiment_report()


def test_the_programs_rules_are_the_controls(make_program: MakeProgram) -> None:
    program = make_program(WELCOME)
    assert program.experiment is WELCOME
    assert program.rules is RULES_A
    with pytest.raises(refkit.ConfigurationError, match="Experiment"):
        make_program({"A": RULES_A})


def test_attribute_stores_the_given_variant_or_the_referees(make_program: MakeProgram) -> None:
    program = make_program(WELCOME)
    code = program.code_for("alice")
    shown_b = program.attribute("bob", code, variant="B")
    assert shown_b.variant == "B"
    assert program.referral_for("bob") == shown_b
    carol = program.attribute("carol", code)
    assert carol.variant == program.variant_for("carol")
    # A referral keeps its variant: the same binding again returns it as stored.
    assert program.attribute("bob", code, variant="A").variant == "B"


def test_an_unknown_variant_is_refused_and_nothing_is_stored(make_program: MakeProgram) -> None:
    program = make_program(WELCOME)
    code = program.code_for("alice")
    for bad in ("C", "a", "", 1):
        with pytest.raises(refkit.ValidationError, match="variant"):
            program.attribute("bob", code, variant=bad)  # type: ignore[arg-type]
    assert program.referral_for("bob") is None
    with pytest.raises(refkit.ValidationError, match="variant"):
        program.record_visit(code, variant="C")
    with pytest.raises(refkit.ValidationError, match="variant"):
        program.record_conversion("o1", "dan", 40, "EUR", code=code, variant="C")
    assert program.conversion("o1") is None
    assert program.summary().visits == 0


def test_visits_keep_the_variant_shown(make_program: MakeProgram) -> None:
    program = make_program(WELCOME)
    code = program.code_for("alice")
    assert program.record_visit(code, variant="B").variant == "B"
    assert program.record_visit(code).variant is None  # anonymous, no visitor key
    visitor = subject_in(WELCOME, "B", "visitor")
    assert program.record_visit(code, visitor=visitor).variant == "B"
    assert program.summary(variant="B").visits == 2
    assert program.summary(variant="A").visits == 0
    assert program.summary().visits == 3


def test_offers_discounts_and_rewards_follow_the_referrals_variant(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(WELCOME)
    code = program.code_for("alice")
    program.attribute("bob", code, variant="A")
    program.attribute("carol", code, variant="B")

    assert program.offer_for("bob", 40, "EUR").discount == Decimal("5")
    assert program.offer_for("carol", 40, "EUR").discount == Decimal("10")
    assert program.claim_discount("order-b", "bob", 40, "EUR").discount == Decimal("5")
    assert program.claim_discount("order-c", "carol", 40, "EUR").discount == Decimal("10")

    bob = program.record_conversion("order-b", "bob", 35, "EUR")
    carol = program.record_conversion("order-c", "carol", 30, "EUR")
    assert {(r.role, r.kind, r.value) for r in bob.rewards} == {
        ("referrer", "percent", Decimal("3.50")),
        ("referee", "discount", Decimal("5.00")),
    }
    assert {(r.role, r.kind, r.value) for r in carol.rewards} == {
        ("referrer", "fixed", Decimal("7.00")),
        ("referee", "discount", Decimal("10.00")),
    }
    referrer_b = next(r for r in carol.rewards if r.role == "referrer")
    assert referrer_b.due_at == clock() + timedelta(days=14)  # B's hold period


def test_a_guest_checkout_with_a_typed_code_is_assigned_from_the_customer(
    make_program: MakeProgram,
) -> None:
    program = make_program(WELCOME)
    code = program.code_for("alice")
    guest_b = subject_in(WELCOME, "B", "guest")
    guest_a = subject_in(WELCOME, "A", "guest")
    assert program.offer_for(guest_b, 40, "EUR", code=code).discount == Decimal("10")
    assert program.offer_for(guest_a, 40, "EUR", code=code).discount == Decimal("5")
    # ...unless the shop says which variant the guest was shown (the Flask cookie's).
    assert program.offer_for(guest_a, 40, "EUR", code=code, variant="B").discount == 10
    converted = program.record_conversion("order-1", guest_b, 40, "EUR", code=code)
    assert program.referral_for(guest_b).variant == "B"  # type: ignore[union-attr]
    assert {r.value for r in converted.rewards} == {Decimal("7.00")}
    claimed = program.claim_discount("order-2", guest_a, 40, "EUR", code=code, variant="B")
    assert claimed.discount == Decimal("10")
    assert program.referral_for(guest_a).variant == "B"  # type: ignore[union-attr]


def test_summary_filters_the_funnel_by_variant(make_program: MakeProgram) -> None:
    program = make_program(WELCOME)
    code = program.code_for("alice")
    program.record_visit(code, variant="A")
    program.record_visit(code, variant="B")
    program.record_visit(code, variant="B")
    program.attribute("bob", code, variant="A")
    program.attribute("carol", code, variant="B")
    program.attribute("dan", code, variant="B")
    program.claim_discount("order-c", "carol", 40, "EUR")
    program.record_conversion("order-b", "bob", 40, "EUR")
    program.record_conversion("order-c", "carol", 30, "EUR")
    program.record_conversion("order-c2", "carol", 20, "EUR")

    a, b = program.summary(variant="A"), program.summary(variant="B")
    assert (a.visits, a.signups, a.conversions, a.first_purchases) == (1, 1, 1, 1)
    assert (b.visits, b.signups, b.conversions, b.first_purchases) == (2, 2, 2, 1)
    assert (a.revenue, b.revenue) == (Decimal("40"), Decimal("50"))
    assert a.reward_cost == Decimal("4.00")  # A: 10% of 40, no discount claimed
    assert b.reward_cost == Decimal("17.00")  # B: 7 EUR and the 10 EUR discount
    assert b.conversion_rate == 0.5
    everything = program.summary()
    assert everything.signups == a.signups + b.signups
    assert everything.reward_cost == a.reward_cost + b.reward_cost
    assert program.summary(variant="C").signups == 0


# -- the report ----------------------------------------------------------------------------

# (visits, signups, buyers) per variant: a fixed data set, its reference values computed
# with scipy below (an implementation independent of refkit/reports/stats.py).
DATA = {"A": (60, 40, 12), "B": (75, 50, 25), "C": (10, 9, 0)}


def _reference(buyers: int, signups: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    interval = binomtest(buyers, signups).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def _reference_p(a: tuple[int, int], b: tuple[int, int]) -> float:
    # The chi-square test of the 2x2 table without Yates' correction is the pooled
    # two-proportion z-test (chi2 = z**2): the same two-sided p-value.
    from scipy.stats import chi2_contingency

    table = [[a[0], a[1] - a[0]], [b[0], b[1] - b[0]]]
    return float(chi2_contingency(table, correction=False).pvalue)


def test_the_experiment_report_agrees_with_a_hand_computation(
    make_program: MakeProgram,
) -> None:
    rules = RewardRules(currency="EUR", referrer_reward=Reward.fixed(Decimal("3"), "EUR"))
    experiment = Experiment("report", {"A": rules, "B": rules, "C": rules})
    program = make_program(experiment)
    code = program.code_for("alice")
    for name, (visits, signups, buyers) in DATA.items():
        for _ in range(visits):
            program.record_visit(code, variant=name)
        for n in range(signups):
            program.attribute(f"{name}-{n}", code, variant=name)
            if n < buyers:
                program.record_conversion(f"order-{name}-{n}", f"{name}-{n}", 20, "EUR")
                if n == 0:  # a second order: one more conversion, no more buyers
                    program.record_conversion(f"again-{name}-{n}", f"{name}-{n}", 10, "EUR")
    program.record_conversion("walk-in", "zed", 99, "EUR")  # not referred: in no variant

    report = program.experiment_report()
    assert isinstance(report, refkit.ExperimentReport)
    assert report.key == "report"
    assert report.control == "A"
    assert [entry.variant for entry in report.variants] == ["A", "B", "C"]
    for entry in report.variants:
        visits, signups, buyers = DATA[entry.variant]
        assert (entry.visits, entry.signups, entry.first_purchases) == (visits, signups, buyers)
        assert entry.conversion_rate == pytest.approx(buyers / signups, abs=1e-12)
        low, high = _reference(buyers, signups)
        assert round(entry.conversion_low, 4) == round(low, 4)
        assert round(entry.conversion_high, 4) == round(high, 4)
        revenue = Decimal(20 * buyers + (10 if buyers else 0))
        assert entry.revenue == revenue
        assert entry.reward_cost == Decimal(3 * buyers)
        assert entry.cost_per_acquisition == (Decimal(3) if buyers else None)
    a, b, c = report.variants
    assert a.p_value is None  # the control
    assert b.p_value is not None
    assert round(b.p_value, 4) == round(_reference_p((12, 40), (25, 50)), 4)
    assert c.p_value is not None
    assert round(c.p_value, 4) == round(_reference_p((12, 40), (0, 9)), 4)
    # Hand-checked values, so a change in scipy cannot move the test silently.
    assert (round(a.conversion_low, 4), round(a.conversion_high, 4)) == (0.1807, 0.4543)
    assert round(b.p_value, 4) == 0.0553
    assert report.variant("B") is b
    with pytest.raises(KeyError):
        report.variant("Z")


def test_the_report_of_an_experiment_without_data(make_program: MakeProgram) -> None:
    report = make_program(WELCOME).experiment_report()
    for entry in report.variants:
        assert (entry.signups, entry.conversion_rate) == (0, 0.0)
        assert (entry.conversion_low, entry.conversion_high) == (0.0, 1.0)
        assert entry.cost_per_acquisition is None
        assert entry.p_value is None


# -- the statistics (pure) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials"), [(0, 1), (1, 1), (0, 30), (30, 30), (3, 7), (500, 10_000)]
)
def test_wilson_interval_matches_scipy(successes: int, trials: int) -> None:
    low, high = wilson_interval(successes, trials)
    ref_low, ref_high = _reference(successes, trials)
    assert low == pytest.approx(ref_low, abs=1e-9)
    assert high == pytest.approx(ref_high, abs=1e-9)
    assert 0.0 <= low <= successes / trials <= high <= 1.0


@pytest.mark.parametrize(
    ("a", "b"), [((12, 40), (25, 50)), ((1, 3), (2, 3)), ((500, 10_000), (560, 10_000))]
)
def test_two_proportion_p_value_matches_scipy(a: tuple[int, int], b: tuple[int, int]) -> None:
    p = two_proportion_p_value(a[0], a[1], b[0], b[1])
    assert p == pytest.approx(_reference_p(a, b), abs=1e-9)
    assert p == two_proportion_p_value(b[0], b[1], a[0], a[1])  # two-sided


def test_the_statistics_say_when_they_are_undefined() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert two_proportion_p_value(0, 0, 1, 2) is None
    assert two_proportion_p_value(0, 10, 0, 20) is None  # no spread at all
    assert two_proportion_p_value(10, 10, 20, 20) is None
    assert two_proportion_p_value(5, 10, 5, 10) == 1.0
    for bad in ((3, 2), (-1, 2), (1, -1)):
        with pytest.raises(ValueError, match="successes"):
            wilson_interval(*bad)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=1.5)
    assert math.isclose(sum(wilson_interval(50, 100)), 1.0)  # symmetric around 1/2
