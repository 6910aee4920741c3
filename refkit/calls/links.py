"""Codes and links: :meth:`code_for`, :meth:`link_for`, :meth:`share_links`, :meth:`qr_svg`,
:meth:`verify`, :meth:`resolve` and :meth:`revoke_code`, mixed into
:class:`refkit.ReferralProgram`.

A code is the signed form of the user's referrer number (:mod:`refkit.codes`); the program
keeps the numbers it looked up in its code cache (:data:`refkit.program.CODE_CACHE_TTL`).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from .. import sharing
from ..errors import InvalidCode, ValidationError
from ..privacy import PSEUDONYM_PREFIX
from ..steps import referrers
from ..validation import to_campaign, to_channel, to_id
from .base import Base, candidate_number

__all__ = ["Links"]


class Links(Base):
    """The code calls of :class:`refkit.ReferralProgram` (see the module's doc)."""

    def code_for(self, user_id: str | int) -> str:
        """The user's referral code: 12 characters, the same every time for the same key.

        The first call assigns the user a random referrer number in the store; any user can
        be a referrer, referees included.
        """
        uid = to_id(user_id)
        self._expire_cache()
        number = self._numbers.get(uid)
        if number is None:
            number = self.store.read(lambda c: referrers.number_of(c, uid))
            if number is None:
                at = self._now()
                pseudonyms = self._pseudonyms(uid)
                number = self.store.transaction(
                    lambda c: referrers.assign_number(c, uid, candidate_number, at, pseudonyms)
                )
            self._remember(uid, number)
        return self._codec.encode(number)

    def link_for(
        self,
        user_id: str | int,
        url: str,
        campaign: str | None = None,
        channel: str | None = None,
    ) -> str:
        """``url`` with the user's code (and ``campaign``, and ``channel``) added to its query
        string.

        The channel goes in the ``channel_param`` option (``ref_channel`` by default): a name of
        refkit's own, so the shop's ``utm_*`` tags on ``url`` (what analytics reads) are kept
        as they are and refkit never overwrites them. Existing query parameters are kept as
        they were written (order, encoding, blank values); a previous code, campaign or
        channel parameter is replaced.

        :raises ValidationError: a bad url, campaign or channel (see :meth:`record_visit`).
        """
        campaign = to_campaign(campaign)
        channel = to_channel(channel)
        code = self.code_for(user_id)
        if not isinstance(url, str):
            raise ValidationError("url must be a str")
        try:
            parts = urlsplit(url)
        except ValueError as error:  # e.g. "http://[::1/p": an unbalanced IPv6 bracket
            raise ValidationError(f"url is not a valid URL: {error}") from None
        names = {self.query_param, self.campaign_param, self.channel_param}
        kept = [
            piece
            for piece in parts.query.split("&")
            if piece and unquote_plus(piece.split("=", 1)[0]) not in names
        ]
        added = [(self.query_param, code)]
        if campaign is not None:
            added.append((self.campaign_param, campaign))
        if channel is not None:
            added.append((self.channel_param, channel))
        query = "&".join([*kept, urlencode(added)])
        return urlunsplit(parts._replace(query=query))

    def share_links(
        self,
        user_id: str | int,
        url: str,
        *,
        text: str | None = None,
        campaign: str | None = None,
    ) -> dict[str, str]:
        """Ready share URLs for the user's link to ``url``, one per channel: ``"email"``
        (a ``mailto:`` with a subject and a body), ``"whatsapp"``, ``"x"``, ``"facebook"``,
        ``"telegram"`` and ``"sms"`` (:data:`refkit.sharing.SHARE_CHANNELS`).

        Each holds :meth:`link_for` with its own channel (the email's link carries
        ``ref_channel=email``...), so :meth:`summary` and the funnel by channel tell which
        one brought each visit and signup. Everything is percent-encoded
        (:func:`refkit.sharing.share_urls`).

        :param text: the message before the link; the program's ``share_text`` option by
            default (the email's subject is the ``share_subject`` option).
        :raises ValidationError: a bad url, campaign or text.
        """
        message = self.share_text if text is None else sharing.to_share_text(text)
        links = {
            channel: self.link_for(user_id, url, campaign, channel)
            for channel in sharing.SHARE_CHANNELS
        }
        return sharing.share_urls(links, message, self.share_subject)

    def qr_svg(self, user_id: str | int, url: str, campaign: str | None = None) -> str:
        """The user's link to ``url`` as an SVG QR code (a ``str`` holding one ``<svg>``
        element), for a poster, a receipt or a phone screen shown across a counter.

        The link carries the channel ``"qr"`` (:data:`refkit.sharing.QR_CHANNEL`), so scans
        are counted as their own channel. See :func:`refkit.sharing.qr_svg`.

        :raises ValidationError: a bad url or campaign.
        """
        return sharing.qr_svg(self.link_for(user_id, url, campaign, sharing.QR_CHANNEL))

    def revoke_code(self, user_id: str | int, *, at: datetime | None = None) -> str:
        """Withdraw the user's code (leaked to a coupon site, say) and return their new one.

        The old code stops resolving at once in this process (``InvalidCode`` with
        ``reason == "revoked"``) and within :data:`refkit.program.CODE_CACHE_TTL` in other
        processes;
        its number is never given to anyone again. Referrals already made with it, and
        their rewards, stay. Links shared before carry the old code: share new ones.
        """
        uid = to_id(user_id)
        if uid.startswith(PSEUDONYM_PREFIX):
            raise ValidationError(f"user {uid!r} was erased and has no code to revoke")
        when = self._now(at)
        number = self.store.transaction(
            lambda c: referrers.renumber(c, uid, candidate_number, when)
        )
        with self._cache_lock:
            old = self._numbers.pop(uid, None)
            if old is not None:
                self._users.pop(old, None)
        self._remember(uid, number)
        return self._codec.encode(number)

    def verify(self, code: object) -> str:
        """Check ``code`` offline and return its canonical form (no database access).

        Offline means it checks the signature only: it cannot know that a code was revoked
        (:meth:`revoke_code`) or its user erased. Use :meth:`resolve` before granting
        anything.

        :raises InvalidCode: with a ``reason`` for anything this program did not issue.
        """
        return self._codec.parse(code).code

    def _unknown(self, code: object, number: int) -> InvalidCode:
        """The error for a well-signed code nobody holds: revoked, or never assigned."""
        if self.store.read(lambda c: referrers.is_revoked(c, number)):
            return InvalidCode(
                code,
                "revoked",
                "this referral code was withdrawn by the shop; ask the referrer for their new link",
            )
        return InvalidCode(code, "unknown_referrer")

    def resolve(self, code: object) -> str:
        """The user id of the referrer whose code this is.

        Case, surrounding spaces and separators do not matter.

        :raises InvalidCode: anything that is not a code this program issued.
        """
        parsed = self._codec.parse(code)
        self._expire_cache()
        user_id = self._users.get(parsed.number)
        if user_id is None:
            user_id = self.store.read(lambda c: referrers.user_for_number(c, parsed.number))
            if user_id is None:
                raise self._unknown(code, parsed.number)
            if user_id.startswith(PSEUDONYM_PREFIX):
                raise InvalidCode(code, "unknown_referrer")
            self._remember(user_id, parsed.number)
        return user_id
