"""refkit: customer referral programs for Python shops.

Signed referral codes, attribution, idempotent conversions and double-sided rewards that never
pay a pyramid, stored in SQLite (the default), PostgreSQL or memory.

>>> import refkit
>>> program = refkit.ReferralProgram(secret_key="x" * 32, store="memory://")
>>> program.resolve(program.code_for("alice"))
'alice'
"""

from .clock import FrozenClock, system_clock
from .codes import CodeCodec
from .errors import (
    AlreadyReferred,
    ConfigurationError,
    ConflictError,
    ExistingCustomer,
    ExpiredToken,
    InsufficientBalance,
    InvalidCode,
    InvalidToken,
    RefkitError,
    SelfReferral,
    StorageError,
    StorageTimeout,
    ValidationError,
)
from .experiments import Experiment
from .models import (
    Balance,
    Conversion,
    EarnedReward,
    Fingerprint,
    FlaggedReferral,
    LeaderboardEntry,
    LedgerEntry,
    Offer,
    ProgramSummary,
    Referral,
    ReferrerStats,
    Visit,
)
from .program import EVENTS, ReferralProgram
from .reports.experiments import ExperimentReport, VariantReport
from .rules import Milestone, Reward, RewardRules
from .storage import MemoryStore, SqlStore, Store, open_store
from .tokens import TokenSigner

__version__ = "0.1.0"

__all__ = [
    "EVENTS",
    "AlreadyReferred",
    "Balance",
    "ExistingCustomer",
    "Experiment",
    "ExperimentReport",
    "CodeCodec",
    "ConfigurationError",
    "ConflictError",
    "Conversion",
    "EarnedReward",
    "ExpiredToken",
    "Fingerprint",
    "FlaggedReferral",
    "FrozenClock",
    "InsufficientBalance",
    "InvalidCode",
    "InvalidToken",
    "LeaderboardEntry",
    "LedgerEntry",
    "MemoryStore",
    "Milestone",
    "Offer",
    "ProgramSummary",
    "Referral",
    "ReferralProgram",
    "ReferrerStats",
    "RefkitError",
    "Reward",
    "RewardRules",
    "SelfReferral",
    "SqlStore",
    "StorageError",
    "StorageTimeout",
    "Store",
    "TokenSigner",
    "ValidationError",
    "VariantReport",
    "Visit",
    "open_store",
    "system_clock",
]
