"""The ``prognos`` command line: one sub-command per module in ``prognos.commands``.

Each command module exposes ``register(subparsers)`` and sets ``func`` on its parser. User
mistakes raise ``UsageError`` (or ``argparse`` errors) and exit with code 2 and a one-line
message on stderr; a traceback is only ever printed for a genuine bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from prognos import __version__
from prognos.commands import COMMAND_MODULES, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prognos",
        description="Predictive scaling and self-healing for Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"prognos {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"prognos.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"prognos {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"prognos {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
