"""``prognos sandbox build|up|down|status``: the local real cluster (see prognos.sandbox)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from prognos.commands import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="build, start, stop or inspect the local sandbox cluster",
        description="A real local control plane (etcd, kube-apiserver, controller-manager, "
        "scheduler), kwok fake nodes, Prometheus with days of demo history.",
    )
    parser.add_argument("action", choices=["build", "up", "down", "status"])
    parser.add_argument(
        "--dir", type=Path, help="state directory (default: PROGNOS_SANDBOX_DIR or the user cache)"
    )
    parser.add_argument("--json", action="store_true", help="status: print one JSON object")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for each component to become ready",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prognos.sandbox import tools
    from prognos.sandbox.cluster import Sandbox, SandboxError
    from prognos.sandbox.procs import ComponentError

    box = Sandbox(args.dir)
    try:
        if args.action == "build":
            print(tools.build())
        elif args.action == "up":
            state = box.up(timeout=args.timeout)
            print(f"kubeconfig: {state['kubeconfig']}")
            print(f"apiserver:  {state['apiserver']}")
            print(f"prometheus: {state['prometheus']}")
            print(f"exporter:   {state['exporter']}")
            print(f"alertmanager: {state['alertmanager']} -> {state['alert_receiver']}")
            print(f"bin_dir:    {state['bin_dir']}")
            print(f"\nexport KUBECONFIG={state['kubeconfig']} PATH={state['bin_dir']}:$PATH")
        elif args.action == "down":
            stopped = box.down()
            print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        else:
            status = box.status()
            if args.json:
                print(json.dumps(status, sort_keys=True))
            else:
                for key, value in status.items():
                    print(f"{key}: {value}")
            return 0 if status.get("running") else 1
    except (tools.ToolError, SandboxError, ComponentError) as exc:
        raise UsageError(str(exc)) from exc
    return 0
