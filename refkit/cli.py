"""The ``refkit`` command: set up a store, look up codes, read stats, approve, export.

::

    export REFKIT_DATABASE_URL=postgresql+psycopg://shop@localhost/shop
    export REFKIT_SECRET_KEY=...            # the key the shop signs codes with
    refkit init                             # create (or upgrade) refkit's tables
    refkit code alice                       # alice's referral code
    refkit resolve k7wq-9xmp-3rda           # whose code is this?
    refkit stats [alice] [--json]           # one referrer, or the whole program
    refkit leaderboard --limit 5 --by revenue
    refkit approve                          # approve rewards whose hold period has passed
    refkit export --output ledger.csv       # the reward ledger as CSV
    refkit balances --min 20 --currency EUR > payouts.csv   # who to pay: user_id,currency,balance
    refkit pay-out --from payouts.csv --reference-prefix 2026-12   # record the payouts made
    refkit pay-out alice 25.00 EUR --reference bank-7781            # or one payout
    refkit grant alice 10.00 EUR --reference prize-7 --reason "photo contest"  # by hand
    refkit grant alice 500 points --reference prize-8 --reason "photo contest"
    refkit rotate-keys --old-key OLD        # keep erasure across a key rotation

Older keys of a rotation (``[newest, older...]``) come from ``REFKIT_OLD_SECRET_KEYS``
(separated by spaces), and for ``rotate-keys`` also from ``--old-key``.

Errors print one line on stderr (``refkit: error: ...``) and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from . import __version__
from .errors import ConfigurationError, RefkitError, ValidationError
from .models import LedgerEntry
from .program import ReferralProgram
from .rules import Reward
from .storage import DEFAULT_URL

__all__ = ["BALANCE_COLUMNS", "COMMANDS", "LEDGER_COLUMNS", "main"]

#: The columns of ``refkit export``, in order.
LEDGER_COLUMNS = (
    "id",
    "created_at",
    "reward_id",
    "beneficiary_id",
    "kind",
    "pending",
    "approved",
    "currency",
    "reference",
)

#: The columns of ``refkit balances``, which ``refkit pay-out --from`` reads back.
BALANCE_COLUMNS = ("user_id", "currency", "balance")


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # The options are accepted before and after the subcommand; on the subcommands they
    # default to SUPPRESS so they only override the main parser's value when given.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help=f"database URL (default: $REFKIT_DATABASE_URL, then {DEFAULT_URL})",
    )
    parser.add_argument(
        "--secret-key",
        metavar="KEY",
        default=default,
        help="the program's secret key (default: $REFKIT_SECRET_KEY; prefer the variable: "
        "command lines are visible to other users)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``refkit`` command."""
    parser = argparse.ArgumentParser(
        prog="refkit",
        description="Manage a refkit referral program from the command line.",
        epilog="Errors print one line on stderr and exit 1; usage errors exit 2.",
    )
    parser.add_argument("--version", action="version", version=f"refkit {__version__}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, parents=[common])

    command("init", "create (or upgrade) refkit's tables")
    command("code", "print a user's referral code").add_argument("user", metavar="USER")
    command("resolve", "print the user id of a code's referrer").add_argument(
        "code", metavar="CODE"
    )
    stats = command("stats", "a referrer's numbers, or the program's funnel without USER")
    stats.add_argument("user", metavar="USER", nargs="?")
    stats.add_argument("--json", action="store_true", help="print JSON (amounts as strings)")
    board = command("leaderboard", "the top referrers")
    board.add_argument("--limit", type=int, default=10, metavar="N", help="how many (10)")
    board.add_argument("--by", choices=("conversions", "revenue"), default="conversions")
    board.add_argument("--json", action="store_true", help="print JSON (amounts as strings)")
    command("approve", "approve the pending rewards whose hold period has passed")
    review = command("review", "list the referrals flagged for review, or clear one's flags")
    review.add_argument(
        "--clear", metavar="REFEREE", help="mark REFEREE's referral as reviewed and fine"
    )
    rotate = command(
        "rotate-keys",
        "keep erasure working once the old keys are removed: store their peppers wrapped "
        "under the newest key (run it with the new key and the old ones)",
    )
    rotate.add_argument(
        "--old-key",
        action="append",
        default=[],
        metavar="KEY",
        help="an older key, after $REFKIT_OLD_SECRET_KEYS (repeat for several; prefer the "
        "variable: command lines are visible to other users)",
    )
    export = command("export", "write the whole reward ledger as CSV")
    export.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE instead of standard output"
    )
    balances = command(
        "balances", "list the balances to pay out, as CSV (user_id,currency,balance)"
    )
    balances.add_argument(
        "--min", metavar="AMOUNT", help="only balances of at least AMOUNT (in their currency)"
    )
    balances.add_argument("--currency", metavar="CODE", help="only balances in this currency")
    pay = command(
        "pay-out",
        "record payouts made: one (USER AMOUNT CURRENCY --reference REF) or a whole "
        "`refkit balances` file (--from FILE --reference-prefix PREFIX)",
    )
    pay.add_argument("user", metavar="USER", nargs="?")
    pay.add_argument("amount", metavar="AMOUNT", nargs="?")
    pay.add_argument("currency", metavar="CURRENCY", nargs="?")
    pay.add_argument("--reference", metavar="REF", help="the payout's unique reference")
    pay.add_argument(
        "--from", dest="source", metavar="FILE", help="a CSV written by `refkit balances`"
    )
    pay.add_argument(
        "--reference-prefix",
        metavar="PREFIX",
        help="with --from: each row's reference is PREFIX:USER:CURRENCY, so running the same "
        "file again records nothing twice",
    )
    grant = command(
        "grant",
        "give a user a reward by hand, approved at once (AMOUNT CURRENCY, or POINTS points); "
        "idempotent by --reference",
    )
    grant.add_argument("user", metavar="USER")
    grant.add_argument("amount", metavar="AMOUNT")
    grant.add_argument("currency", metavar="CURRENCY", help="an ISO 4217 code, or 'points'")
    grant.add_argument("--reference", metavar="REF", required=True, help="the unique reference")
    grant.add_argument("--reason", metavar="TEXT", required=True, help="why it is given")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``refkit`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version (0) and usage errors (2)
        return stop.code if isinstance(stop.code, int) else 2
    try:
        program = _program(args)
        try:
            COMMANDS[args.command](program, args)
        finally:
            program.store.close()
    except RefkitError as error:
        return _fail(str(error))
    except OSError as error:
        if isinstance(error, BrokenPipeError):  # `refkit export | head`: not an error
            _silence_stdout()
            return 0
        return _fail(str(error))
    except KeyboardInterrupt:
        return 130
    return 0


def _fail(message: str) -> int:
    print(f"refkit: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    # Python flushes stdout at exit; point it at devnull so that flush cannot fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _program(args: argparse.Namespace) -> ReferralProgram:
    key = args.secret_key or os.environ.get("REFKIT_SECRET_KEY")
    if not key:
        raise ConfigurationError(
            "no secret key: set REFKIT_SECRET_KEY (or pass --secret-key) to the key "
            "the shop's program uses"
        )
    older = os.environ.get("REFKIT_OLD_SECRET_KEYS", "").split()
    older += getattr(args, "old_key", None) or []
    url = args.db or os.environ.get("REFKIT_DATABASE_URL") or DEFAULT_URL
    return ReferralProgram(secret_key=[key, *older] if older else key, store=url)


# -- commands ------------------------------------------------------------------------------


def _init(program: ReferralProgram, args: argparse.Namespace) -> None:
    program.create_all()
    print(f"refkit tables are ready in {program.store!r}")


def _code(program: ReferralProgram, args: argparse.Namespace) -> None:
    print(program.code_for(args.user))


def _resolve(program: ReferralProgram, args: argparse.Namespace) -> None:
    print(program.resolve(args.code))


def _stats(program: ReferralProgram, args: argparse.Namespace) -> None:
    if args.user is None:
        summary = dataclasses.asdict(program.summary())
        _print_record(summary, args.json)
        return
    stats = program.stats_for(args.user)
    record = dataclasses.asdict(stats)
    record["balance"] = stats.balance
    record["milestones_reached"] = list(stats.milestones_reached)
    goal = stats.next_milestone
    record["next_milestone"] = (
        None
        if goal is None
        else {"count": goal.count, "value": goal.reward.value, "currency": goal.reward.currency}
    )
    _print_record(record, args.json)


def _leaderboard(program: ReferralProgram, args: argparse.Namespace) -> None:
    entries = program.leaderboard(limit=args.limit, by=args.by)
    if args.json:
        print(_to_json([dataclasses.asdict(entry) for entry in entries]))
        return
    rows: list[tuple[str, ...]] = [("rank", "referrer", "conversions", "revenue", "signups")]
    for rank, entry in enumerate(entries, 1):
        values = (rank, entry.referrer_id, entry.conversions, entry.revenue, entry.signups)
        rows.append(tuple(str(value) for value in values))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].rjust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        print("  ".join(cells).rstrip())


def _approve(program: ReferralProgram, args: argparse.Namespace) -> None:
    total, batch = 0, 10_000
    while True:  # approve_due works in batches; a backlog may take several
        approved = len(program.approve_due(limit=batch))
        total += approved
        if approved < batch:
            break
    print(f"approved {total} reward{'' if total == 1 else 's'}")


def _review(program: ReferralProgram, args: argparse.Namespace) -> None:
    if args.clear is not None:
        cleared = program.clear_flags(args.clear)
        print(f"cleared {cleared} flag{'' if cleared == 1 else 's'} of {args.clear}")
        return
    flagged = program.flagged_referrals()
    for flag in flagged:
        print(
            f"{flag.referee_id}\treferred by {flag.referrer_id}\t{', '.join(flag.reasons)}"
            f"\tflagged {flag.flagged_at.isoformat(timespec='seconds')}"
        )
    print(f"{len(flagged)} referral{'' if len(flagged) == 1 else 's'} to review", file=sys.stderr)


def _rotate_keys(program: ReferralProgram, args: argparse.Namespace) -> None:
    kept = program.rotate_keys()
    print(
        f"{kept} retired key{'' if kept == 1 else 's'} in the keyring, wrapped under the "
        "newest key: users erased under an old key stay erased once it is removed"
    )


def _export(program: ReferralProgram, args: argparse.Namespace) -> None:
    entries = program.iter_ledger()
    if args.output is None:
        _write_csv(sys.stdout, entries)
        sys.stdout.flush()
        return
    # Write beside the target and rename, so a failure never leaves half a ledger behind.
    target = Path(args.output)
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed or removed below)
            "w", encoding="utf-8", newline="", dir=target.parent, prefix=f".{target.name}.",
            delete=False,
        )  # fmt: skip
    except OSError as error:
        raise OSError(f"cannot write {str(target)!r}: {error.strerror or error}") from error
    try:
        with handle:
            count = _write_csv(handle, entries)
        os.replace(handle.name, target)
    except BaseException:
        os.unlink(handle.name)
        raise
    print(f"exported {count} ledger entries to {target}", file=sys.stderr)


def _write_csv(stream: IO[str], entries: Iterable[LedgerEntry]) -> int:
    writer = csv.writer(stream)
    writer.writerow(LEDGER_COLUMNS)
    count = 0
    for count, entry in enumerate(entries, 1):  # noqa: B007 (count is the result)
        writer.writerow(
            (
                entry.id,
                entry.created_at.isoformat(),
                entry.reward_id,
                entry.beneficiary_id,
                entry.kind,
                entry.pending,
                entry.approved,
                entry.currency or "",
                entry.reference or "",
            )
        )
    return count


def _balances(program: ReferralProgram, args: argparse.Namespace) -> None:
    lines = program.balances(minimum=args.min, currency=args.currency)
    writer = csv.writer(sys.stdout)
    writer.writerow(BALANCE_COLUMNS)
    for line in lines:
        writer.writerow((line.user_id, line.currency, line.amount))
    sys.stdout.flush()
    total = len(lines)
    print(f"{total} balance{'' if total == 1 else 's'} to pay out", file=sys.stderr)


def _pay_out(program: ReferralProgram, args: argparse.Namespace) -> None:
    single = (args.user, args.amount, args.currency, args.reference)
    if args.source is None:
        if None in single or args.reference_prefix is not None:
            raise ValidationError(
                "pay-out needs USER AMOUNT CURRENCY --reference REF, or --from FILE "
                "--reference-prefix PREFIX"
            )
        entry = program.pay_out(args.user, args.amount, args.currency, reference=args.reference)
        print(f"paid out {-entry.approved} {entry.currency} to {entry.beneficiary_id}")
        return
    if any(value is not None for value in single) or not args.reference_prefix:
        raise ValidationError(
            "pay-out --from FILE needs --reference-prefix PREFIX (for example the month) "
            "and no USER, AMOUNT, CURRENCY or --reference"
        )
    try:
        with open(args.source, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise OSError(f"cannot read {args.source!r}: {error.strerror or error}") from error
    if rows and set(BALANCE_COLUMNS) - set(rows[0]):
        raise ValidationError(
            f"{args.source!r} has no {', '.join(BALANCE_COLUMNS)} columns: use the output of "
            "`refkit balances`"
        )
    for number, row in enumerate(rows, 2):  # line 1 is the header
        reference = f"{args.reference_prefix}:{row['user_id']}:{row['currency']}"
        try:
            program.pay_out(row["user_id"], row["balance"], row["currency"], reference=reference)
        except RefkitError:
            print(
                f"refkit: line {number} of {args.source} ({row['user_id']}) was not recorded; "
                "the lines before it were: fix it and run the same command again (nothing "
                "is recorded twice)",
                file=sys.stderr,
            )
            raise
    print(f"recorded {len(rows)} payout{'' if len(rows) == 1 else 's'} from {args.source}")


def _grant(program: ReferralProgram, args: argparse.Namespace) -> None:
    reward = _reward(args.amount, args.currency)
    granted = program.grant(args.user, reward, reference=args.reference, reason=args.reason)
    unit = "points" if granted.currency is None else granted.currency
    shown = int(granted.value) if granted.currency is None else granted.value
    print(f"granted {shown} {unit} to {granted.beneficiary_id} (reward #{granted.id})")


def _reward(amount: str, currency: str) -> Reward:
    """``10.00 EUR`` or ``500 points`` as a :class:`~refkit.Reward`."""
    if currency.strip().lower() == "points":
        if not amount.strip().isdigit():
            raise ValidationError(f"points must be a whole number, got {amount!r}")
        return Reward.points(int(amount))
    return Reward.fixed(amount, currency)


#: Each subcommand's implementation, ``command(program, args)``: ``flask refkit`` runs the
#: same ones, so both command lines print the same output and write the same CSV.
COMMANDS: dict[str, Callable[[ReferralProgram, argparse.Namespace], None]] = {
    "init": _init,
    "code": _code,
    "resolve": _resolve,
    "stats": _stats,
    "leaderboard": _leaderboard,
    "approve": _approve,
    "review": _review,
    "export": _export,
    "balances": _balances,
    "pay-out": _pay_out,
    "grant": _grant,
    "rotate-keys": _rotate_keys,
}


# -- output --------------------------------------------------------------------------------


def _to_json(value: object) -> str:
    def default(item: object) -> str:
        if isinstance(item, Decimal):
            return str(item)
        raise TypeError(f"{type(item).__name__} is not JSON serializable")

    return json.dumps(value, default=default, indent=2)


def _print_record(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(_to_json(record))
        return
    lines = list(_flatten(record))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label.ljust(width)}  {value}")


def _flatten(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``("rewards pending", "12.00")`` lines from a record; nested dicts get a prefix."""
    for name, value in record.items():
        label = name.replace("_", " ")
        if isinstance(value, dict):
            for key, item in sorted(value.items()):
                yield f"{label} {key}", str(item)
        elif isinstance(value, float):
            yield label, f"{value:.4g}"
        else:
            yield label, str(value)
