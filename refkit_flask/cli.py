"""``flask refkit ...``: the app's program from the command line.

::

    flask refkit init-db                     # create (or upgrade) refkit's tables
    flask refkit stats [USER] [--json]       # one referrer, or the program's funnel
    flask refkit approve                     # approve rewards whose hold period has passed
    flask refkit export [--output FILE]      # the reward ledger as CSV
    flask refkit balances [--min AMOUNT] [--currency CODE] > payouts.csv
    flask refkit pay-out --from payouts.csv --reference-prefix 2026-12
    flask refkit grant alice 10.00 EUR --reference prize-7 --reason "photo contest"
    flask refkit rotate-keys                 # keep erasure once old keys are removed

The commands use the app's own program (its key, store and rules) and share their output with
the ``refkit`` command (:mod:`refkit.cli`): the same stats layout, the same CSV columns
(:data:`refkit.cli.LEDGER_COLUMNS`). Errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
from typing import Any

import click
from flask.cli import AppGroup

from refkit import RefkitError
from refkit import cli as core

from .state import get_state

__all__ = ["refkit_cli"]

refkit_cli = AppGroup("refkit", help="refkit: the referral program.")


def _run(command: str, **arguments: Any) -> None:
    """Run one of :data:`refkit.cli.COMMANDS` on the app's program."""
    program = get_state().program
    try:
        core.COMMANDS[command](program, argparse.Namespace(**arguments))
    except RefkitError as error:
        raise click.ClickException(" ".join(str(error).split())) from error
    except OSError as error:  # export: a file that cannot be written
        raise click.ClickException(" ".join(str(error).split())) from error


@refkit_cli.command("init-db")
def init_db() -> None:
    """Create (or upgrade) refkit's tables in the app's store."""
    _run("init")


@refkit_cli.command("stats")
@click.argument("user", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (amounts as strings).")
def stats(user: str | None, as_json: bool) -> None:
    """Print USER's numbers as a referrer, or the program's funnel without USER."""
    _run("stats", user=user, json=as_json)


@refkit_cli.command("approve")
def approve() -> None:
    """Approve the pending rewards whose hold period has passed, and print how many."""
    _run("approve")


@refkit_cli.command("review")
@click.option("--clear", metavar="REFEREE", help="Mark REFEREE's referral as reviewed and fine.")
def review(clear: str | None) -> None:
    """List the referrals flagged for review, or clear one's flags (its rewards can then be
    approved)."""
    _run("review", clear=clear)


@refkit_cli.command("export")
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    help="Write to FILE (replaced whole, never half-written) instead of standard output.",
)
def export(output: str | None) -> None:
    """Write the whole reward ledger as CSV (the columns of ``refkit export``)."""
    _run("export", output=output)


@refkit_cli.command("balances")
@click.option("--min", "minimum", metavar="AMOUNT", help="Only balances of at least AMOUNT.")
@click.option("--currency", metavar="CODE", help="Only balances in this currency.")
def balances(minimum: str | None, currency: str | None) -> None:
    """Print the balances to pay out as CSV (user_id,currency,balance)."""
    _run("balances", min=minimum, currency=currency)


@refkit_cli.command("pay-out")
@click.argument("user", required=False)
@click.argument("amount", required=False)
@click.argument("currency", required=False)
@click.option("--reference", metavar="REF", help="The payout's unique reference.")
@click.option("--from", "source", metavar="FILE", help="A CSV written by `balances`.")
@click.option(
    "--reference-prefix",
    metavar="PREFIX",
    help="With --from: each row's reference is PREFIX:USER:CURRENCY.",
)
def pay_out(
    user: str | None,
    amount: str | None,
    currency: str | None,
    reference: str | None,
    source: str | None,
    reference_prefix: str | None,
) -> None:
    """Record payouts made: one (USER AMOUNT CURRENCY --reference REF) or every line of a
    `balances` file (--from FILE --reference-prefix PREFIX; running it again records nothing
    twice)."""
    _run(
        "pay-out",
        user=user,
        amount=amount,
        currency=currency,
        reference=reference,
        source=source,
        reference_prefix=reference_prefix,
    )


@refkit_cli.command("grant")
@click.argument("user")
@click.argument("amount")
@click.argument("currency")
@click.option("--reference", metavar="REF", required=True, help="The grant's unique reference.")
@click.option("--reason", metavar="TEXT", required=True, help="Why it is given.")
def grant(user: str, amount: str, currency: str, reference: str, reason: str) -> None:
    """Give USER a reward by hand, approved at once: AMOUNT CURRENCY, or POINTS points
    (idempotent by --reference)."""
    _run("grant", user=user, amount=amount, currency=currency, reference=reference, reason=reason)


@refkit_cli.command("rotate-keys")
def rotate_keys() -> None:
    """Keep erasure working once old keys leave REFKIT_SECRET_KEY: run it while the list is
    [new, old...]; it stores the old keys' peppers wrapped under the new key."""
    _run("rotate-keys")
