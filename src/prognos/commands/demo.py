"""``prognos demo``: the README's main command, Prognos end to end on the local sandbox.

Starts (or reuses) the sandbox, installs the CRDs and the sample PredictiveScaler for the demo
``web`` Deployment, schedules a load surge through the demo exporter, and runs the operator in
the foreground so its decisions scroll by. Ctrl-C stops the operator; the sandbox keeps running
until ``prognos sandbox down``.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from prognos.commands import UsageError

SAMPLE = "predictivescaler-web.yaml"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run Prognos on the local sandbox, end to end")
    parser.add_argument(
        "--surge",
        type=float,
        default=2.5,
        help="multiply the web load by this factor (0 disables the surge)",
    )
    parser.add_argument(
        "--surge-in", type=float, default=120.0, help="seconds until the surge starts ramping"
    )
    parser.add_argument(
        "--surge-ramp", type=float, default=300.0, help="seconds the surge takes to reach its peak"
    )
    parser.set_defaults(func=run)


def _samples_dir() -> Path:
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / "manifests" / "samples"
        if (candidate / SAMPLE).is_file():
            return candidate
    raise UsageError("cannot find manifests/samples: run the demo from the repository")


def run(args: argparse.Namespace) -> int:
    from prognos import logs
    from prognos.api import crds
    from prognos.sandbox import objects, tools
    from prognos.sandbox.cluster import Sandbox, SandboxError
    from prognos.sandbox.procs import ComponentError

    try:
        state = Sandbox().up()
    except (tools.ToolError, SandboxError, ComponentError) as exc:
        raise UsageError(str(exc)) from exc
    kubeconfig = Path(state["kubeconfig"])
    api = objects.api_client(kubeconfig)
    objects.apply_crds(api, [build() for build in crds.DEFINITIONS.values()])
    objects.apply_manifest(kubeconfig, _samples_dir() / SAMPLE)
    if args.surge > 0:
        body = json.dumps(
            {"factor": args.surge, "start_in": args.surge_in, "ramp_seconds": args.surge_ramp}
        ).encode()
        req = urllib.request.Request(
            f"{state['exporter']}/control/web",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5):
            pass
    print(
        f"""
Prognos demo on the local sandbox
  kubeconfig  {kubeconfig}
  prometheus  {state["prometheus"]}
  Watch it:   export KUBECONFIG={kubeconfig} PATH={state["bin_dir"]}:$PATH
              kubectl get psc,deploy -n demo -w
  A {args.surge}x load surge on demo/web starts in {args.surge_in:.0f}s; Prognos scales ahead.
  Ctrl-C stops the operator; 'prognos sandbox down' stops the sandbox.
""",
        flush=True,
    )
    os.environ["KUBECONFIG"] = str(kubeconfig)
    logs.configure("INFO", "console")
    from prognos.operator.app import RunOptions
    from prognos.operator.app import run as run_operator
    from prognos.operator.services import PrometheusSettings

    run_operator(
        RunOptions(
            liveness_host="127.0.0.1",
            liveness_port=_free(),
            metrics_port=_free(),
            prometheus=PrometheusSettings(url=state["prometheus"]),
        )
    )
    return 0


def _free() -> int:
    from prognos.sandbox.procs import free_port

    return free_port()
