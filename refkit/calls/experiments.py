"""A/B tests of offers: :meth:`variant_for` and :meth:`experiment_report`, mixed into
:class:`refkit.ReferralProgram`.

With ``rules=Experiment(...)`` (:class:`refkit.Experiment`) each referral stores its variant
and follows that variant's rules; these calls say which variant a subject gets and how the
variants compare.
"""

from __future__ import annotations

from ..errors import ValidationError
from ..reports.experiments import ExperimentReport
from ..validation import to_id
from .base import Base

__all__ = ["Experiments"]


class Experiments(Base):
    """The A/B test calls of :class:`refkit.ReferralProgram` (see the module's doc)."""

    def variant_for(self, subject: str | int) -> str | None:
        """The experiment's variant for ``subject`` (a visitor key or a user id): the same
        in every process and after restarts or key rotations, in the variants' weights
        (see :class:`~refkit.Experiment`). ``None`` when the program's rules are a plain
        :class:`~refkit.RewardRules` (or none): there is no experiment to assign.

        :raises ValidationError: a bad subject (as for a user id).
        """
        experiment = self.experiment
        if experiment is None:
            return None
        return experiment.variant_for(to_id(subject, "subject"))

    def _variant(self, variant: object, subject: str | None) -> str | None:
        """``variant`` checked against the experiment, or (``None``) the variant of
        ``subject`` (``None`` without a subject or an experiment)."""
        experiment = self.experiment
        if variant is None:
            if experiment is None or subject is None:
                return None
            return experiment.variant_for(subject)
        if experiment is None:
            raise ValidationError(
                f"variant {variant!r} given, but this program runs no experiment "
                "(its rules are not a refkit.Experiment); leave variant out"
            )
        if not isinstance(variant, str) or variant not in experiment.variants:
            raise ValidationError(
                f"unknown variant {variant!r}: experiment {experiment.key!r} has the variants "
                f"{', '.join(map(repr, experiment.names))}"
            )
        return variant

    def experiment_report(self) -> ExperimentReport:
        """How the experiment's variants compare, one entry per variant, the control first
        (see :class:`~refkit.ExperimentReport`).

        :raises ValidationError: the program runs no experiment.
        """
        experiment = self.experiment
        if experiment is None:
            raise ValidationError(
                "experiment_report() needs a program whose rules are a refkit.Experiment"
            )
        return self.reports.experiment(experiment)
