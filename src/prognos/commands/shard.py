"""``prognos shard``: which operator shard owns a PredictiveScaler or RemediationPolicy."""

from __future__ import annotations

import argparse
import json
from typing import Any

from prognos.commands import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "shard",
        help="print the shard index that owns each NAMESPACE/NAME (the same hash as "
        "prognos run --shard-count)",
    )
    parser.add_argument("objects", nargs="+", metavar="NAMESPACE/NAME")
    parser.add_argument("--count", type=int, required=True, help="number of shards")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prognos.operator.sharding import shard_of

    if args.count < 1:
        raise UsageError("--count must be at least 1")
    owners: dict[str, int] = {}
    for ref in args.objects:
        namespace, sep, name = ref.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise UsageError(f"{ref!r} is not NAMESPACE/NAME")
        owners[ref] = shard_of(namespace, name, args.count)
    if args.json:
        print(json.dumps(owners, sort_keys=True))
    else:
        for ref, index in owners.items():
            print(f"{ref}\t{index}")
    return 0
