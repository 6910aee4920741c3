"""The statistics of an A/B test, pure and small: the Wilson score interval of a proportion
and the pooled two-proportion z-test. Standard library only (:class:`statistics.NormalDist`).

Both rest on the normal approximation of the binomial distribution: the subjects are
independent, and each variant has enough successes and failures (a common rule of thumb:
at least 5 to 10 of each). The Wilson interval stays sensible with few subjects and rates
near 0 or 1 (unlike the textbook Wald interval, it never leaves ``[0, 1]``); the z-test's
p-value is poor below that rule of thumb (an exact test, Fisher's or Barnard's, is then the
right tool).

>>> low, high = wilson_interval(12, 100)
>>> round(low, 4), round(high, 4)
(0.07, 0.1981)
>>> round(two_proportion_p_value(12, 100, 20, 100), 4)
0.1228
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Final

__all__ = ["CONFIDENCE", "two_proportion_p_value", "wilson_interval"]

#: The confidence of the intervals refkit reports.
CONFIDENCE: Final = 0.95
_NORMAL: Final = NormalDist()


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``successes / trials`` (without
    continuity correction): ``(low, high)``, within ``[0, 1]``.

    With no trials nothing is known: ``(0.0, 1.0)``.

    :raises ValueError: ``successes`` outside ``[0, trials]``, or a confidence outside
        ``(0, 1)``.
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    z = _z(confidence)
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    spread = z / (1 + z2 / trials) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - spread), min(1.0, centre + spread)


def two_proportion_p_value(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> float | None:
    """The two-sided p-value of the pooled two-proportion z-test: how likely a difference
    between the rates ``successes_a / trials_a`` and ``successes_b / trials_b`` at least
    this large would be if both came from one rate.

    ``None`` when the test is undefined: a group without trials, or no spread at all (both
    rates 0, or both 1).

    :raises ValueError: successes outside ``[0, trials]``.
    """
    for successes, trials in ((successes_a, trials_a), (successes_b, trials_b)):
        if trials < 0 or not 0 <= successes <= trials:
            raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials_a == 0 or trials_b == 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return None
    z = (successes_b / trials_b - successes_a / trials_a) / math.sqrt(variance)
    return min(1.0, 2 * _NORMAL.cdf(-abs(z)))
