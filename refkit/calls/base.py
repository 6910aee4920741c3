"""What the calls of :class:`refkit.ReferralProgram` share: the program's settings and state,
and the helpers the calls use, declared once here for the type checker.

:mod:`refkit.program` sets the attributes in the program's constructor and defines the
helpers it owns (the clock, the code cache, running one step, the hooks); the others
declared under ``TYPE_CHECKING`` (``resolve``, ``identify``, ``_pseudonyms``...) are defined
by one mixin and used by the others. mypy checks each definition against its declaration.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection

from ..codes import MAX_NUMBER, CodeCodec
from ..errors import InvalidCode
from ..experiments import Experiment, RuleSource
from ..joined import Joinable
from ..keys import SecretKeys
from ..privacy import Pepper
from ..rules import RewardRules
from ..storage import Store

if TYPE_CHECKING:
    from ..reports import Reports

__all__ = ["Base", "Events", "candidate_number"]

T = TypeVar("T")
#: Events a step's result fires: (event, record) pairs.
Events = list[tuple[str, object]]


class Base:
    """The part of :class:`refkit.ReferralProgram` every mixin of :mod:`refkit.calls` (and
    :mod:`refkit.discounts`) relies on."""

    store: Store
    rules: RewardRules | None
    experiment: Experiment | None
    _offers: RuleSource
    reports: Reports
    secret_key: SecretKeys
    query_param: str
    campaign_param: str
    channel_param: str
    share_text: str
    share_subject: str
    fast_purchase: timedelta | None
    signal_retention: timedelta
    claim_ttl: timedelta
    _codec: CodeCodec
    _pepper: Pepper
    _keyring_pepper: Pepper | None
    _numbers: dict[str, int]
    _users: dict[int, str]
    _cache_lock: threading.Lock

    if TYPE_CHECKING:
        # refkit/program.py: the clock, the code cache, one step, the hooks.

        def _now(self, at: datetime | None = None, name: str = "at") -> datetime: ...

        def _expire_cache(self) -> None: ...

        def _remember(self, user_id: str, number: int) -> None: ...

        def _write(
            self,
            work: Callable[[Connection], T],
            connection: Joinable | None,
            events: Callable[[T], Events] = ...,
        ) -> T: ...

        def _read(self, work: Callable[[Connection], T], connection: Joinable | None) -> T: ...

        def _emit(self, event: str, record: object) -> None: ...

        # refkit/calls/links.py

        def resolve(self, code: object) -> str: ...

        def _unknown(self, code: object, number: int) -> InvalidCode: ...

        # refkit/calls/experiments.py

        def _variant(self, variant: object, subject: str | None) -> str | None: ...

        # refkit/calls/privacy.py

        def identify(
            self,
            user_id: str | int,
            *,
            email: str,
            at: datetime | None = None,
            connection: Joinable | None = None,
        ) -> None: ...

        def _pseudonyms(self, user_id: str) -> tuple[str, ...]: ...


def candidate_number() -> int:
    """A random referrer number (the store keeps it only if nobody holds it)."""
    return secrets.randbelow(MAX_NUMBER + 1)
