"""``python manage.py refkit COMMAND``: the ``refkit`` command on the site's program.

The commands are the ``refkit`` command's (``approve``, ``review [--clear REFEREE]``,
``balances [--min AMOUNT] [--currency CODE]``, ``export [-o FILE]``, ``stats [USER] [--json]``,
``leaderboard``, ``code``, ``resolve``, ``pay-out``, ``rotate-keys``, ``init``), run on the
program built from ``settings.REFKIT``: no URL or key to pass.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from refkit import RefkitError, cli

from ...conf import program


class Command(BaseCommand):
    help = "Manage the referral program: approve, review, balances, export, stats..."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "arguments",
            nargs=argparse.REMAINDER,
            metavar="COMMAND",
            help=f"one of {', '.join(sorted(cli.COMMANDS))}, and its options",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        given: list[str] = list(options["arguments"])
        if not given or given[0] not in cli.COMMANDS:
            raise CommandError(f"give a command: one of {', '.join(sorted(cli.COMMANDS))}")
        try:
            parsed = cli.build_parser().parse_args(given)
        except SystemExit as stop:
            if stop.code:
                raise CommandError(f"bad arguments for refkit {given[0]}") from None
            return
        self.stdout.ending = self.stderr.ending = ""
        try:
            with (
                contextlib.redirect_stdout(self.stdout),  # type: ignore[type-var]
                contextlib.redirect_stderr(self.stderr),  # type: ignore[type-var]
            ):
                cli.COMMANDS[parsed.command](program(), parsed)
        except RefkitError as error:
            raise CommandError(" ".join(str(error).split())) from None
        finally:
            self.stdout.ending = self.stderr.ending = "\n"
