"""``prognos crds``: print, write or check the generated CustomResourceDefinitions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prognos.commands import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "crds", help="print, write (--write DIR...) or check (--check DIR...) the CRD YAML"
    )
    parser.add_argument("--write", type=Path, nargs="+", metavar="DIR")
    parser.add_argument("--check", type=Path, nargs="+", metavar="DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prognos.api import crds

    if args.write and args.check:
        raise UsageError("--write and --check are mutually exclusive")
    if args.write:
        for directory in args.write:
            for path in crds.write(directory):
                print(path)
        return 0
    if args.check:
        problems = [p for d in args.check for p in crds.drift(d)]
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: prognos crds --write " + " ".join(map(str, args.check)), file=sys.stderr)
        return 1 if problems else 0
    sys.stdout.write("---\n".join(crds.render_all().values()))
    return 0
