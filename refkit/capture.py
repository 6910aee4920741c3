"""Capturing a referral from a landing, for any web framework (Flask, Django...).

A web integration hands :func:`capture` what the request carries (a :class:`Landing`: the
code, its query parameters, the method, the User-Agent, the IP address) and the visitor's
current referral payload (read with :meth:`ReferralCookie.load`); :func:`capture` decides
whether a visit is recorded and which payload the response's cookie holds
(:class:`Captured`). The framework only reads the request and writes the cookie.

The rules, the same in every framework:

- A valid code records a visit, except for HEAD requests (and anything but GET) and
  link-preview bots (:func:`is_bot`), and at most once per visitor, code and day (the codes
  counted today are kept in the payload, ``"seen"``).
- The payload keeps the first touch: ``{"code", "campaign", "at", "fp", "seen"}`` (the code
  and campaign, when the first touch happened: the attribution window runs from it, and the
  click's fraud signals, keyed hashes of the IP address and User-Agent, never the raw values),
  and ``"tags"`` when the first touch had any: its share channel (the program's
  ``channel_param``) and UTM tags (:data:`UTM_TAGS`), read back with :func:`cookie_tags`.
- In an A/B test (:class:`~refkit.Experiment`) the payload also holds ``"vid"``, a random
  visitor id the variant is assigned from, and ``"ab"``: the experiment's key and the
  visitor's variant (:func:`assign_variant`, read back with :func:`variant_of`), so the offer
  a visitor is shown is the one their signup gets; the variant never comes from the URL.
  A later code never replaces a valid earlier one; one that no longer resolves (its referrer
  erased, its key dropped) gives way to the next valid link.
- An invalid code sets nothing and records nothing.

The cookie is signed (itsdangerous, through :class:`~refkit.TokenSigner`) with the site's
keys for its own purpose (:class:`ReferralCookie`); the framework sets it HttpOnly,
SameSite=Lax, Secure over HTTPS, for ``ReferralCookie.max_age``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .clock import Clock, system_clock
from .codes import normalize_code
from .errors import InvalidCode, InvalidToken, ValidationError
from .keys import SecretKeys
from .models import Fingerprint
from .program import ReferralProgram
from .tokens import TokenSigner
from .validation import to_campaign, to_channel, to_tag

__all__ = [
    "COOKIE_PURPOSE",
    "DEFAULT_BOT_USER_AGENTS",
    "DEFAULT_COOKIE_MAX_AGE",
    "MAX_SEEN_CODES",
    "UTM_TAGS",
    "Captured",
    "Landing",
    "ReferralCookie",
    "assign_variant",
    "capture",
    "click_fingerprint",
    "cookie_tags",
    "is_bot",
    "landing_tags",
    "load_payload",
    "safe_local_path",
    "variant_of",
]

#: User-Agents treated as bots: crawlers, link-preview fetchers (a chat app unfurling a share
#: link is not a friend clicking it) and command-line HTTP clients, which set no cookie and
#: count no visit.
DEFAULT_BOT_USER_AGENTS = (
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|facebookcatalog|embedly|"
    r"whatsapp|telegram|slack|discord|skype|linkedin|pinterest|vkshare|w3c_validator|"
    r"headlesschrome|lighthouse|python-requests|curl/|wget/|httpclient|okhttp|go-http-client"
)
_BOTS = re.compile(DEFAULT_BOT_USER_AGENTS, re.IGNORECASE)
# The default pattern (all lowercase ASCII) on a lowercased ASCII User-Agent: the same answer
# as _BOTS, whose case-insensitive search costs about 20 us on a browser's User-Agent.
_BOTS_LOWERCASE = re.compile(DEFAULT_BOT_USER_AGENTS)
#: The cookie's signing purpose (its own salt: a cookie is never accepted as another token).
COOKIE_PURPOSE = "referral-cookie"
#: The cookie's life when the rules have no attribution window.
DEFAULT_COOKIE_MAX_AGE = timedelta(days=30)
#: Codes remembered per day for visit de-duplication (keeps the cookie well under 4 KB).
MAX_SEEN_CODES = 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")
#: The landing's UTM tags kept with the visit and, through the cookie, with the referral.
UTM_TAGS = ("utm_source", "utm_medium", "utm_campaign")


def is_bot(user_agent: str | None, pattern: re.Pattern[str] | None = _BOTS) -> bool:
    """Whether a User-Agent looks like a crawler, a link-preview fetcher or a command-line
    client (or is missing), by ``pattern`` (``None``: never)."""
    if pattern is None:
        return False
    if not user_agent:
        return True
    if user_agent.isascii() and pattern == _BOTS:  # a pattern equals itself at once
        return _BOTS_LOWERCASE.search(user_agent.lower()) is not None
    return pattern.search(user_agent) is not None


def safe_local_path(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this site, else ``fallback``.

    Refused: absolute and scheme-relative URLs (``//host``, ``/\\host``, ``https:``,
    ``javascript:``), backslashes, control characters (CR, LF, tab...) and anything not
    starting with a single ``/``.
    """
    if not target or not isinstance(target, str) or len(target) > 2048:
        return fallback
    if _UNSAFE.search(target) or not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


class ReferralCookie:
    """The signed referral cookie's payload: signed with the site's keys for its own purpose,
    valid for ``max_age`` from the first touch (kept in the payload as ``"at"``).

    :param secret_key: the site's key, or a list ``[newest, older...]`` (rotation).
    :param max_age: how long a referral is kept (the rules' attribution window).
    """

    def __init__(
        self, secret_key: SecretKeys, max_age: timedelta, clock: Clock = system_clock
    ) -> None:
        self.max_age = max_age
        self.clock = clock
        self.signer = TokenSigner(secret_key, COOKIE_PURPOSE, max_age=max_age, clock=clock)

    def dump(self, payload: Mapping[str, Any]) -> str:
        """The signed value to set as the cookie."""
        return self.signer.dumps(dict(payload))

    def load(self, token: str | None) -> dict[str, Any] | None:
        """The payload of a cookie value if it is genuine, holds a code, and its first touch
        is within ``max_age``; else ``None`` (missing, tampered with, stale)."""
        return load_payload(self.signer, token, now=self.clock(), max_age=self.max_age)


def load_payload(
    signer: TokenSigner, token: str | None, *, now: datetime, max_age: timedelta
) -> dict[str, Any] | None:
    """:meth:`ReferralCookie.load` with a given signer (one made with :data:`COOKIE_PURPOSE`)."""
    if not token:
        return None
    try:
        found = signer.loads(token)
    except InvalidToken:
        return None
    if not isinstance(found, dict) or not isinstance(found.get("code"), str):
        return None
    # The token is signed again whenever it changes; the window runs from the first touch.
    try:
        first_touch = datetime.fromisoformat(str(found.get("at")))
    except ValueError:
        return None
    if first_touch.tzinfo is None or now - first_touch > max_age:
        return None
    return found


@dataclass(frozen=True, slots=True)
class Landing:
    """What a request that carries a code brings: the code (from ``?ref=`` or the path), the
    query parameters (campaign...), the HTTP method, the User-Agent and the IP address, and
    the framework's visitor key if it has one."""

    code: str
    method: str = "GET"
    user_agent: str | None = None
    ip: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    visitor: str | None = None


@dataclass(frozen=True, slots=True)
class Captured:
    """What :func:`capture` decided: ``code`` is the canonical code when it is valid (else
    ``None``: the request captures nothing); ``payload`` is the payload to sign onto the
    response (``None``: leave the cookie as it is); ``recorded``: a visit was counted now;
    ``visitor``: the request came from a visitor (a GET, not a bot), so the code was captured
    (recorded now or earlier today)."""

    code: str | None
    payload: dict[str, Any] | None = None
    recorded: bool = False
    visitor: bool = False

    @property
    def valid(self) -> bool:
        return self.code is not None


def capture(
    program: ReferralProgram,
    landing: Landing,
    current: Mapping[str, Any] | None,
    *,
    campaign_param: str = "campaign",
    channel_param: str | None = None,
    bots: re.Pattern[str] | None = _BOTS,
) -> Captured:
    """Decide what a landing with a code does (see the module's docstring).

    :param current: the visitor's valid payload (:meth:`ReferralCookie.load`), or ``None``.
    :param campaign_param: the query parameter naming the campaign.
    :param channel_param: the query parameter naming the share channel (default: the
        program's ``channel_param``, where :meth:`~refkit.ReferralProgram.link_for` puts it).
    :param bots: the User-Agents that count no visit (``None``: every one counts).
    :raises refkit.StorageError: the store failed (the framework logs it and goes on).
    """
    try:
        canonical = normalize_code(landing.code)
        if landing.method.upper() != "GET" or is_bot(landing.user_agent, bots):
            program.resolve(canonical)
            return Captured(canonical)
        before: Mapping[str, Any] = current or {}
        payload = dict(before)
        # The A/B test's variant, assigned to the visitor (never taken from the URL).
        variant = assign_variant(program, payload)
        now = program.clock()
        today = now.date().isoformat()
        seen = {c: day for c, day in dict(payload.get("seen") or {}).items() if day == today}
        counted = seen.get(canonical) == today
        campaign = _campaign(landing.args.get(campaign_param))
        tags = landing_tags(landing.args, channel_param or program.channel_param)
        if counted:
            program.resolve(canonical)
        else:  # checks the code and counts the visit in one go
            program.record_visit(
                canonical,
                campaign=campaign,
                channel=tags["channel"],
                utm_source=tags["utm_source"],
                utm_medium=tags["utm_medium"],
                utm_campaign=tags["utm_campaign"],
                variant=variant,
            )
    except InvalidCode:
        return Captured(None)
    if not counted:
        if len(seen) >= MAX_SEEN_CODES:
            seen.pop(next(iter(seen)))  # keep the cookie small: forget the oldest code today
        seen[canonical] = today
    if not _first_touch_holds(program, payload, canonical):
        click = program.fingerprint(ip=landing.ip, user_agent=landing.user_agent)
        kept: dict[str, Any] = {k: payload[k] for k in ("vid", "ab") if k in payload}
        payload = {"code": canonical, "campaign": campaign, "at": now.isoformat()}
        payload.update(kept)
        if any(tags.values()):
            payload["tags"] = tags
        payload["fp"] = [click.ip, click.user_agent]
    payload["seen"] = seen
    # Signed again only when it changed: the window runs from the first touch (kept in the
    # payload), not from the signature, so an unchanged cookie stays as it is.
    changed = payload if payload != before else None
    return Captured(canonical, changed, recorded=not counted, visitor=True)


def _first_touch_holds(program: ReferralProgram, payload: Mapping[str, Any], code: str) -> bool:
    """Whether the payload's code stays (first touch wins) rather than ``code`` replacing
    it: it does while it is a code that still resolves."""
    kept = payload.get("code")
    if not isinstance(kept, str):
        return False
    if kept == code:
        return True
    try:
        program.resolve(kept)
    except InvalidCode:
        return False
    return True


def _campaign(value: str | None) -> str | None:
    """The campaign from a link if the core would accept it, else none (the code still counts)."""
    try:
        return to_campaign(value or None)
    except ValidationError:
        return None


def click_fingerprint(found: Mapping[str, Any]) -> Fingerprint | None:
    """The click's fingerprint kept in a referral payload, if it holds one."""
    hashes = found.get("fp")
    if not isinstance(hashes, list) or len(hashes) != 2:
        return None
    ip, user_agent = (h if isinstance(h, str) and len(h) <= 64 else None for h in hashes)
    try:
        at = datetime.fromisoformat(str(found.get("at")))
    except ValueError:
        return None
    return Fingerprint(ip, user_agent, at if at.tzinfo is not None else None)


def landing_tags(args: Mapping[str, str], channel_param: str) -> dict[str, str | None]:
    """A landing's share channel (the ``channel_param`` query parameter) and UTM tags
    (:data:`UTM_TAGS`), each ``None`` when absent or not what the core accepts (a hostile or
    over-long value is dropped: the code still counts)."""
    return _checked(args.get(channel_param), {n: args.get(n) for n in UTM_TAGS})


def cookie_tags(found: Mapping[str, Any]) -> dict[str, str | None]:
    """The channel and UTM tags kept in a referral payload (checked again: only what the
    core accepts), for :meth:`~refkit.ReferralProgram.attribute` (``channel``,
    ``utm_source``, ``utm_medium``, ``utm_campaign``)."""
    kept = found.get("tags")
    tags: Mapping[str, object] = kept if isinstance(kept, dict) else {}
    return _checked(tags.get("channel"), {n: tags.get(n) for n in UTM_TAGS})


def _checked(channel: object, utm: Mapping[str, object]) -> dict[str, str | None]:
    """The channel and UTM tags the core accepts; any other value becomes ``None``."""
    result: dict[str, str | None] = {"channel": None}
    if channel:  # most landings carry no tags: nothing to check
        try:
            result["channel"] = to_channel(channel)
        except ValidationError:
            result["channel"] = None
    for name, value in utm.items():
        try:
            result[name] = to_tag(value, name) if value else None
        except ValidationError:
            result[name] = None
    return result


def variant_of(program: ReferralProgram, found: Mapping[str, Any]) -> str | None:
    """The A/B test variant kept in a referral payload, if it is one of the program's
    current experiment (a variant of an ended or renamed experiment is none)."""
    experiment = program.experiment
    kept = found.get("ab")
    if experiment is None or not isinstance(kept, list) or len(kept) != 2:
        return None
    key, variant = kept
    if key != experiment.key or not isinstance(variant, str):
        return None
    return variant if variant in experiment.variants else None


def assign_variant(program: ReferralProgram, found: dict[str, Any]) -> str | None:
    """The visitor's variant in the program's experiment (``None`` without one): the one
    the payload keeps, else assigned from its visitor id (a new random one if it has none)
    and kept in ``found``, which the caller then signs onto the response."""
    if program.experiment is None:
        return None
    kept = variant_of(program, found)
    if kept is not None:
        return kept
    visitor = found.get("vid")
    if not isinstance(visitor, str) or not 16 <= len(visitor) <= 64:
        visitor = secrets.token_urlsafe(16)
        found["vid"] = visitor
    variant = program.variant_for(visitor)
    found["ab"] = [program.experiment.key, variant]
    return variant
