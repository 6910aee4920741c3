"""Review and privacy: :meth:`identify`, :meth:`fingerprint`, :meth:`flagged_referrals`,
:meth:`clear_flags`, :meth:`purge_signals`, :meth:`erase` and :meth:`rotate_keys`, mixed into
:class:`refkit.ReferralProgram`.

Emails and fraud signals are stored as keyed hashes only (:class:`refkit.privacy.Pepper`);
an erased user is a keyed pseudonym, found again across key rotations through the keyring
(:mod:`refkit.keyring`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from .. import joined, keyring
from ..errors import ConfigurationError, ValidationError
from ..models import Fingerprint, FlaggedReferral
from ..privacy import PSEUDONYM_PREFIX, is_disposable, normalize_email, normalize_ip
from ..steps import erasure, review
from ..validation import to_aware, to_id, to_optional_duration
from .base import Base, candidate_number

__all__ = ["Privacy"]

log = logging.getLogger("refkit")


class Privacy(Base):
    """The review and privacy calls of :class:`refkit.ReferralProgram` (see the module's doc)."""

    def identify(
        self,
        user_id: str | int,
        *,
        email: str,
        at: datetime | None = None,
        connection: joined.Joinable | None = None,
    ) -> None:
        """Register the user's email, as a keyed hash of its normalized form only.

        Referrals between users who registered the same normalized email (case, ``+tags``,
        and for Gmail dots and ``googlemail.com``, ignored) are refused as self-referrals.
        An address at a disposable email domain flags the user's referral for review.
        Calling it again replaces the stored hash.

        :raises ValidationError: not an email address.
        """
        uid = to_id(user_id)
        normalized = normalize_email(email)
        email_hash = self._pepper.hash("email", normalized)
        disposable = is_disposable(normalized)
        when = self._now(at)
        pseudonyms = self._pseudonyms(uid)
        self._write(
            lambda c: review.identify(c, uid, pseudonyms, email_hash, disposable, when),
            connection,
        )

    def fingerprint(
        self,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        at: datetime | None = None,
    ) -> Fingerprint:
        """A request's fraud signals as keyed hashes (the raw values are not kept).

        IPv6 addresses are reduced to their /64 network first. Pass the result as
        ``click=`` or ``signup=`` to :meth:`attribute`.
        """
        ip_hash = None if not ip else self._pepper.hash("ip", normalize_ip(str(ip)[:256]))
        ua_hash = None if not user_agent else self._pepper.hash("ua", str(user_agent)[:1024])
        return Fingerprint(ip_hash, ua_hash, None if at is None else to_aware(at))

    def flagged_referrals(self, limit: int = 100) -> list[FlaggedReferral]:
        """Referrals waiting for review, the most recently flagged first.

        Their rewards stay pending: :meth:`approve_due` skips them until :meth:`clear_flags`
        (the referral is fine) or a :meth:`revoke` (it is not); :meth:`approve` still
        approves one by hand.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise ValidationError("limit must be an int from 1 to 10000")
        return self.store.read(lambda c: review.flagged_referrals(c, limit))

    def clear_flags(self, referee_id: str | int, *, at: datetime | None = None) -> int:
        """Mark a flagged referral as reviewed and fine: :meth:`approve_due` approves its
        rewards again. Returns how many flags were cleared; a reason once cleared is not
        raised again for that referral."""
        referee = to_id(referee_id, "referee_id")
        pseudonyms = self._pseudonyms(referee)
        when = self._now(at)
        return self.store.transaction(lambda c: review.clear_flags(c, referee, pseudonyms, when))

    def purge_signals(
        self, older_than: timedelta | None = None, *, now: datetime | None = None
    ) -> int:
        """Delete fraud signals stored more than ``older_than`` ago (default: the program's
        ``signal_retention``, 30 days). Run it daily, beside :meth:`approve_due`. Returns
        the number of referrals whose signals were deleted."""
        window = to_optional_duration(older_than, "older_than") or self.signal_retention
        before = self._now(now, "now") - window
        return self.store.transaction(lambda c: review.purge_signals(c, before))

    def erase(self, user_id: str | int, *, at: datetime | None = None) -> str:
        """Erase a user: their id is replaced in every refkit table by a stable keyed
        pseudonym, which is returned; their email hash, fraud signals and the visitor keys
        of their visits are deleted; their code stops resolving.

        Amounts, statuses and the ledger stay as they were, so totals and statements do not
        change. The same user id given again later maps to the same pseudonym: a referee
        who was erased and comes back stays bound to their referrer and cannot earn a second
        reward. (This is pseudonymization: whoever holds the secret key and the user id can
        still compute the pseudonym.) A returning referrer gets a new code, keeps the
        capped-reward count of their pseudonym, and can be erased again.

        :raises ValidationError: ``user_id`` starts with ``refkit-erased:`` (the pseudonyms'
            prefix) and is not a pseudonym this program returned.
        """
        uid = to_id(user_id)
        if uid.startswith(PSEUDONYM_PREFIX):
            if not self.store.read(lambda c: erasure.was_erased(c, uid)):
                raise ValidationError(
                    f"user_id {uid!r} starts with {PSEUDONYM_PREFIX!r}, which refkit keeps for "
                    "the pseudonyms erase() returns, and is not one of them: nothing was "
                    "erased; user ids must not start with this prefix"
                )
            return uid  # erased already
        pseudonyms = self._pseudonyms(uid)
        when = self._now(at)
        pseudonym = self.store.transaction(
            lambda c: erasure.erase(c, uid, pseudonyms, candidate_number, when)
        )
        with self._cache_lock:
            number = self._numbers.pop(uid, None)
            if number is not None:
                self._users.pop(number, None)
        return pseudonym

    def _pseudonyms(self, user_id: str) -> tuple[str, ...]:
        """The user's candidate pseudonyms, the newest key's first, the retired keys' (from
        the keyring, read once) last."""
        pepper = self._keyring_pepper
        if pepper is None:
            pepper = self._keyring_pepper = self._pepper.with_retired(self._retired_keys())
        return pepper.pseudonyms(user_id)

    def _retired_keys(self) -> tuple[bytes, ...]:
        """The retired pepper keys this program's keys can unwrap; the others are logged
        (their users erased before the rotation are no longer recognised)."""
        found = []
        for key_id, wrapped in self.store.read(erasure.stored_keyring):
            pepper = keyring.unwrap(wrapped, self.secret_key)
            if pepper is None:
                log.warning(
                    "refkit: retired key %s is wrapped under a key this program does not "
                    "hold; put back the key that ran the last rotate_keys()",
                    key_id,
                )
            else:
                found.append(pepper)
        return tuple(found)

    def rotate_keys(self, *, at: datetime | None = None) -> int:
        """Keep erasure working across a key rotation: run it once the new key is in front
        of the list and before the old key leaves it (``refkit rotate-keys``).

        A pseudonym is a keyed hash of the user id, which refkit no longer has, so it
        cannot be computed again under the new key; instead the pepper of every older key
        in the list (and of those stored by earlier rotations) is stored in the keyring
        wrapped under the newest key (:mod:`refkit.keyring`). A program holding only the
        newest key still finds the users erased under the old ones. Email hashes and fraud
        signals are not carried over (see "Keys and rotation" in the security guide).
        Returns the number of retired keys now in the keyring.

        :raises ConfigurationError: a stored key is wrapped under a key no longer in the
            list (an old key was dropped before this ran): put it back and run it again.
        """
        when = self._now(at)
        retired: dict[str, bytes] = {}
        for key_id, wrapped in self.store.read(erasure.stored_keyring):
            pepper = keyring.unwrap(wrapped, self.secret_key)
            if pepper is None:
                raise ConfigurationError(
                    f"the keyring's key {key_id} is wrapped under a secret key that is not in "
                    "this program's list: add the key that was newest at the last "
                    "rotate_keys() back to the list (after the new one) and run it again"
                )
            retired[key_id] = pepper
        for pepper in self._pepper.keys[1:]:
            retired[keyring.key_id(pepper)] = pepper
        retired.pop(keyring.key_id(self._pepper.keys[0]), None)
        sealed = [(key_id, keyring.wrap(p, self.secret_key)) for key_id, p in retired.items()]
        self.store.transaction(lambda c: erasure.replace_keyring(c, sealed, when))
        self._keyring_pepper = self._pepper.with_retired(tuple(retired.values()))
        return len(sealed)
