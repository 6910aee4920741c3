"""The public names: __all__ matches what the packages export, and the error tree is right."""

from __future__ import annotations

import refkit
from refkit import errors


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in dir(refkit) if not name.startswith("_")}
    modules = {"clock", "codes", "errors", "keys", "models", "money", "program", "rules",
               "storage", "tokens", "validation", "cli", "demo", "testing", "privacy",
               "reports", "conditions", "steps", "joined", "discounts", "keyring",
               "calls", "sharing", "experiments", "capture", "dashboard",
               "serialize"}  # fmt: skip
    assert set(refkit.__all__) == public - modules
    for name in refkit.__all__:
        assert getattr(refkit, name) is not None


def test_api_contract_names_exist() -> None:
    for name in [
        "ReferralProgram", "RewardRules", "Reward", "Referral", "Conversion", "EarnedReward",
        "ReferrerStats", "ProgramSummary", "RefkitError", "InvalidCode", "SelfReferral",
        "AlreadyReferred", "ConflictError", "ValidationError", "StorageError",
        "ConfigurationError",
    ]:  # fmt: skip
        assert name in refkit.__all__


def test_error_tree() -> None:
    for name in errors.__all__:
        error = getattr(errors, name)
        assert issubclass(error, refkit.RefkitError)
    assert issubclass(refkit.ValidationError, ValueError)
    assert issubclass(refkit.InvalidCode, ValueError)
    assert issubclass(refkit.ExpiredToken, refkit.InvalidToken)
    assert "RefkitError" in (errors.__doc__ or "")


def test_flask_all_lists_exactly_the_public_names() -> None:
    import refkit_flask

    public = {name for name in dir(refkit_flask) if not name.startswith("_")}
    modules = {"capture", "cli", "config", "extension", "openapi", "demo", "testing", "api",
               "dashboard", "charts", "admin", "csrf", "formatting", "state", "cookie",
               "headers", "failures", "names", "experiment_panel"}  # fmt: skip
    assert set(refkit_flask.__all__) == public - modules
    assert "RefKit" in refkit_flask.__all__


def test_django_all_lists_exactly_the_public_names() -> None:
    import refkit_django

    public = {name for name in dir(refkit_django) if not name.startswith("_")}
    modules = {"conf", "shop", "requests", "failures", "signals", "middleware", "views",
               "admin", "urls", "apps", "models", "templatetags", "management",
               "migrations"}  # fmt: skip
    assert set(refkit_django.__all__) == public - modules
    for name in ("program", "attribute_signup", "track_conversion", "conversion", "offer",
                 "claim_discount"):  # fmt: skip
        assert name in refkit_django.__all__


def test_core_never_imports_flask() -> None:
    import subprocess
    import sys

    code = (
        "import sys, refkit, refkit.cli, refkit.demo, refkit.capture, refkit.serialize; "
        "print('flask' in sys.modules or 'django' in sys.modules)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
