"""Attribution: :meth:`record_visit`, :meth:`attribute` and :meth:`referral_for`, mixed into
:class:`refkit.ReferralProgram`.

A visit counts a click for the code's referrer; a referral binds a new customer to that
referrer for good (:mod:`refkit.steps.referrals` refuses self-referrals, cycles and existing
customers).
"""

from __future__ import annotations

from datetime import datetime

from .. import joined
from ..errors import AlreadyReferred, ExistingCustomer, SelfReferral, ValidationError
from ..models import SOURCES, Fingerprint, Referral, Source, Visit
from ..privacy import PSEUDONYM_PREFIX
from ..steps import referrals, visits
from ..validation import to_campaign, to_channel, to_id, to_tag
from .base import Base

__all__ = ["Attribution"]


class Attribution(Base):
    """The attribution calls of :class:`refkit.ReferralProgram` (see the module's doc)."""

    def record_visit(
        self,
        code: object,
        *,
        campaign: str | None = None,
        visitor: str | None = None,
        at: datetime | None = None,
        channel: str | None = None,
        utm_source: str | None = None,
        utm_medium: str | None = None,
        utm_campaign: str | None = None,
        variant: str | None = None,
        connection: joined.Joinable | None = None,
    ) -> Visit:
        """Count a click or landing for the code's referrer.

        :param visitor: an opaque, non-personal visitor key (for example a hash of a cookie).
        :param channel: the share channel the link carried (:meth:`link_for`), lower-cased:
            1 to 32 ASCII letters, digits, ``.``, ``_`` or ``-``.
        :param utm_source: the landing's UTM tags (``utm_medium``, ``utm_campaign`` too),
            kept with the visit: 1 to 100 characters without control characters each.
        :param variant: in an A/B test (:class:`~refkit.Experiment`), the variant the
            visitor is shown; by default the variant of ``visitor`` if given
            (:meth:`variant_for`), else none. Visits are anonymous: this is what lets
            :meth:`experiment_report` count them per variant.
        :param connection: write in the caller's transaction (see :meth:`record_conversion`).
        :raises InvalidCode: the code is not one of this program's.
        :raises ValidationError: a bad campaign, channel or UTM tag, or a variant the
            experiment does not have (or no experiment); nothing is stored.
        """
        campaign = to_campaign(campaign)
        tags = _tags(channel, utm_source, utm_medium, utm_campaign)
        if visitor is not None:
            visitor = to_id(visitor, "visitor")[:128]
        shown = self._variant(variant, visitor)
        when = self._now(at)
        parsed = self._codec.parse(code)
        self._expire_cache()
        user_id = self._users.get(parsed.number)
        if user_id is not None:
            known = user_id
            return self._write(
                lambda c: visits.record(c, known, campaign, visitor, when, tags, shown),
                connection,
            )
        # Not cached: find the referrer and count the visit in one statement.
        visit = self._write(
            lambda c: visits.record_by_number(
                c, parsed.number, campaign, visitor, when, PSEUDONYM_PREFIX, tags, shown
            ),
            connection,
        )
        if visit is None:
            raise self._unknown(code, parsed.number)
        self._remember(visit.referrer_id, parsed.number)
        return visit

    def attribute(
        self,
        referee_id: str | int,
        code: object,
        *,
        source: Source = "link",
        at: datetime | None = None,
        campaign: str | None = None,
        email: str | None = None,
        click: Fingerprint | None = None,
        signup: Fingerprint | None = None,
        channel: str | None = None,
        utm_source: str | None = None,
        utm_medium: str | None = None,
        utm_campaign: str | None = None,
        variant: str | None = None,
        connection: joined.Joinable | None = None,
    ) -> Referral:
        """Bind a new customer to the code's referrer, for good.

        Calling it again for the same referee returns the existing referral if it names the
        same referrer. A user with a recorded conversion and no referrer is an existing
        customer, and stays unreferred.

        :param email: the referee's email: a shortcut for :meth:`identify` first.
        :param click: the :meth:`fingerprint` of the request that brought the referee (the
            click on the link); with ``signup``, the fraud signals checked and kept (as
            keyed hashes) for review.
        :param signup: the :meth:`fingerprint` of the signup request.
        :param channel: the share channel the referee came through, and ``utm_source``,
            ``utm_medium``, ``utm_campaign`` the landing's UTM tags (as for
            :meth:`record_visit`), kept with a new referral; an existing referral keeps its own.
        :param variant: in an A/B test (:class:`~refkit.Experiment`), the variant whose
            rules the referral follows, stored on it (:attr:`Referral.variant
            <refkit.Referral.variant>`): the one the visitor was shown. By default it is
            assigned from the referee id (:meth:`variant_for`). A referral that exists
            already keeps its variant.
        :param connection: write in the caller's transaction (see :meth:`record_conversion`).
        :raises AlreadyReferred: the referee is bound to someone else.
        :raises SelfReferral: the code is the referee's own, the referee and the referrer
            registered the same normalized email (:meth:`identify`), or the binding would
            close a cycle (the referrer was referred, directly or further up, by the referee).
        :raises ExistingCustomer: the referee has bought before (a conversion is recorded
            for them) without a referrer.
        :raises InvalidCode: the code is not one of this program's.
        :raises ValidationError: a bad id, source, campaign, channel, UTM tag or time, or a
            variant the experiment does not have (or any variant without an experiment);
            nothing is stored.
        """
        tags = _tags(channel, utm_source, utm_medium, utm_campaign)  # before anything is stored
        referee = to_id(referee_id, "referee_id")
        if source not in SOURCES:
            raise ValidationError(f"source must be one of {SOURCES}, got {source!r}")
        campaign = to_campaign(campaign)
        chosen = self._variant(variant, referee)
        if email is not None:
            self.identify(referee_id, email=email, at=at, connection=connection)
        when = self._now(at)
        referrer = self.resolve(code)
        if referrer == referee:
            raise SelfReferral(
                referee,
                referrer,
                f"user {referee!r} cannot be referred with their own code: a referral code is "
                "for bringing someone else, so check the code belongs to another user",
            )
        pseudonyms = self._pseudonyms(referee)
        result = self._write(
            lambda c: referrals.attribute(
                c,
                referee,
                referrer,
                source,
                campaign,
                when,
                click,
                signup,
                pseudonyms,
                tags,
                chosen,
            ),
            connection,
            lambda r: [("referral.created", r.referral)] if r.created else [],
        )
        if result.refused == "same_email":
            raise SelfReferral(
                referee,
                referrer,
                f"user {referee!r} cannot be referred by {referrer!r}: both registered the "
                "same email address (compared without case, +tags and Gmail dots), so they "
                "look like one person; if they are not, check the emails passed to identify()",
            )
        if result.refused == "existing_customer":
            raise ExistingCustomer(referee, referrer)
        if result.refused == "already_referred":
            assert result.referral is not None
            raise AlreadyReferred(referee, result.referral.referrer_id, referrer)
        if result.refused in ("self_referral", "cycle"):
            raise SelfReferral(
                referee,
                referrer,
                f"user {referee!r} cannot be referred by {referrer!r}: {referrer!r} was "
                f"referred through {referee!r}, and referrals cannot form a cycle; "
                f"{referee!r} keeps no referrer, or can use the code of someone outside "
                "their own referral chain",
            )
        assert result.referral is not None
        return result.referral

    def referral_for(self, referee_id: str | int) -> Referral | None:
        """The referee's referral, or ``None`` if they came on their own."""
        referee = to_id(referee_id, "referee_id")
        pseudonyms = self._pseudonyms(referee)
        return self.store.read(lambda c: referrals.referral_for(c, referee, pseudonyms))


def _tags(
    channel: object, utm_source: object, utm_medium: object, utm_campaign: object
) -> dict[str, str | None]:
    """The checked channel and UTM tags of a visit or a referral.

    :raises ValidationError: naming the bad one.
    """
    return {
        "channel": to_channel(channel),
        "utm_source": to_tag(utm_source, "utm_source"),
        "utm_medium": to_tag(utm_medium, "utm_medium"),
        "utm_campaign": to_tag(utm_campaign, "utm_campaign"),
    }
