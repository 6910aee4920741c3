"""A/B tests of offers: an :class:`Experiment` gives each subject one of several rule sets.

``ReferralProgram(rules=Experiment("welcome-offer", {"A": rules_a, "B": rules_b}))`` runs an
experiment: each referee is assigned a variant once, stored on their referral
(:attr:`refkit.Referral.variant`), and their offers, discounts and rewards follow that
variant's rules. The first variant (in the mapping's order) is the control: the one the
others are compared with (:meth:`refkit.ReferralProgram.experiment_report`), and the rules a
referral without a variant follows (one bound before the experiment started, or one whose
variant was since removed).

Assignment (:meth:`Experiment.variant_for`) is deterministic: a BLAKE2b hash of the
experiment's key and the subject (a visitor key or a user id), read as a number in
``[0, 2**64)`` and placed on the variants' weights. It does not depend on the program's
secret key (a key rotation reassigns nobody), on the process or on ``PYTHONHASHSEED``;
a new experiment key reshuffles everyone independently of earlier experiments.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Final

from .errors import ConfigurationError
from .rules import RewardRules

__all__ = ["MAX_VARIANT_LENGTH", "Experiment", "RuleSource", "rules_for"]

#: The longest variant name (it is stored on visits and referrals).
MAX_VARIANT_LENGTH: Final = 64
_MAX_KEY_LENGTH: Final = 255
_SPACE: Final = 1 << 64
_CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f]")


def _name(value: object, what: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"an experiment's {what} must be a non-empty string, got {value!r}"
        )
    if len(value) > longest or _CONTROL_CHARACTERS.search(value):
        raise ConfigurationError(
            f"an experiment's {what} must be at most {longest} characters without control "
            f"characters, got {value!r}"
        )
    return value


def _weight(value: object, variant: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Fraction):
        raise ConfigurationError(
            f"the weight of variant {variant!r} must be a number, got {value!r}"
        )
    try:
        weight = Fraction(value)
    except (ValueError, OverflowError):  # NaN, infinity
        raise ConfigurationError(
            f"the weight of variant {variant!r} must be a finite number, got {value!r}"
        ) from None
    if weight <= 0:
        raise ConfigurationError(
            f"the weight of variant {variant!r} must be positive, got {value!r}"
        )
    return weight


@dataclass(frozen=True)
class Experiment:
    """An A/B test of offers: each subject gets one variant's :class:`~refkit.RewardRules`.

    :param key: names the experiment; assignment hashes it with the subject, so a new key
        reshuffles everyone.
    :param variants: at least two rule sets by name (names of 1 to 64 characters); the
        first is the control.
    :param weights: each variant's share of subjects, by name (positive numbers, exactly
        the variants' names); equal shares by default. ``{"A": 3, "B": 1}`` gives A three
        subjects in four.
    :raises ConfigurationError: an empty key, fewer than two variants, a bad name, rules
        that are not :class:`~refkit.RewardRules`, or bad weights.
    """

    key: str
    variants: Mapping[str, RewardRules] = field(hash=False)
    weights: Mapping[str, Fraction] | None = field(default=None, hash=False)
    #: each variant's upper bound on the hash, in the variants' order (the last is 2**64)
    _bounds: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _name(self.key, "key", _MAX_KEY_LENGTH)
        if not isinstance(self.variants, Mapping) or len(self.variants) < 2:
            raise ConfigurationError(
                "an Experiment needs a mapping of at least two variants, "
                "for example {'A': rules_a, 'B': rules_b}"
            )
        variants: dict[str, RewardRules] = {}
        for name, rules in self.variants.items():
            _name(name, "variant name", MAX_VARIANT_LENGTH)
            if not isinstance(rules, RewardRules):
                raise ConfigurationError(
                    f"variant {name!r} must be a RewardRules(...), got {type(rules).__name__}"
                )
            variants[name] = rules
        given = {name: 1 for name in variants} if self.weights is None else self.weights
        if not isinstance(given, Mapping) or set(given) != set(variants):
            raise ConfigurationError(
                f"an Experiment's weights must name exactly its variants {list(variants)}, "
                f"got {list(given) if isinstance(given, Mapping) else given!r}"
            )
        weights = {name: _weight(given[name], name) for name in variants}
        total = sum(weights.values(), Fraction(0))
        bounds, running = [], Fraction(0)
        for name, weight in weights.items():
            running += weight
            bounds.append((name, int(running / total * _SPACE)))
        bounds[-1] = (bounds[-1][0], _SPACE)
        object.__setattr__(self, "variants", MappingProxyType(variants))
        object.__setattr__(self, "weights", MappingProxyType(weights))
        object.__setattr__(self, "_bounds", tuple(bounds))

    @property
    def control(self) -> str:
        """The first variant's name: the one the others are compared with."""
        return self._bounds[0][0]

    @property
    def names(self) -> tuple[str, ...]:
        """The variants' names, the control first."""
        return tuple(name for name, _ in self._bounds)

    def variant_for(self, subject: str) -> str:
        """The variant of ``subject`` (a visitor key or a user id): always the same for the
        same experiment key, weights and subject, in every process."""
        digest = hashlib.blake2b(
            f"{self.key}\x00{subject}".encode(), digest_size=8, person=b"refkit-ab"
        ).digest()
        point = int.from_bytes(digest, "big")
        for name, bound in self._bounds:
            if point < bound:
                return name
        return self._bounds[-1][0]  # pragma: no cover (the last bound is 2**64)

    def rules_for(self, variant: str | None) -> RewardRules:
        """The rules of ``variant``; the control's for ``None`` or a name no longer used."""
        found = self.variants.get(variant) if variant is not None else None
        return found if found is not None else self.variants[self.control]


#: What a program's rules are: one rule set, an experiment, or none.
RuleSource = RewardRules | Experiment | None


def rules_for(source: RuleSource, variant: str | None) -> RewardRules | None:
    """The rules a referral of ``variant`` follows under ``source`` (the program's rules)."""
    if source is None or isinstance(source, RewardRules):
        return source
    return source.rules_for(variant)
