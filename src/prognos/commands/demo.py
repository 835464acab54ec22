"""``prognos demo``: the README's main command, Prognos end to end on the local sandbox.

Starts (or reuses) the sandbox, installs the CRDs and the sample PredictiveScaler for the demo
``web`` Deployment, and runs the operator in the foreground so its decisions scroll by. The
``web`` load surges to 3x every six minutes in a daily window around the sandbox's start, and
the backfilled history holds the same surges, so the forecast sees each one coming and
Prognos scales before it arrives. ``--surge`` adds an unscheduled surge (not in the history:
only the reactive part can follow it), to compare the two. Ctrl-C stops the operator; the
sandbox keeps running until ``prognos sandbox down``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
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
        default=0.0,
        help="add an unscheduled surge: multiply the web load by this factor (default: none)",
    )
    parser.add_argument(
        "--surge-in", type=float, default=120.0, help="seconds until the surge starts ramping"
    )
    parser.add_argument(
        "--surge-ramp", type=float, default=300.0, help="seconds the surge takes to reach its peak"
    )
    parser.add_argument(
        "--webhook-url", help="also POST every notification of the demo here, signed (HMAC)"
    )
    parser.add_argument("--webhook-secret", help="signing secret for --webhook-url")
    parser.add_argument(
        "--until-resolved",
        action="store_true",
        help="run the crash-loop healing scenario and exit 0 once its incident is resolved",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="--until-resolved: give up after seconds"
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

    if bool(args.webhook_url) != bool(args.webhook_secret):
        raise UsageError("--webhook-url and --webhook-secret go together")
    if args.webhook_url and not args.webhook_url.startswith(("http://", "https://")):
        raise UsageError("--webhook-url must be an http:// or https:// URL")
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
    from prognos.commands import demo_scenario

    notify = []
    if args.webhook_url:
        demo_scenario.install_webhook_channel(api, "demo", args.webhook_url, args.webhook_secret)
        notify = [demo_scenario.CHANNEL]
        print(f"[demo] every notification also goes to the webhook (channel {notify[0]})")
    watcher = None
    if args.until_resolved:
        since = demo_scenario.start_crashloop(api, "demo", "web", notify)
        print("[demo] demo/web pods crash-loop; policy web-crashloop restarts them", flush=True)
        watcher = demo_scenario.IncidentWatcher(api, "demo", since, args.timeout)
    from datetime import UTC, datetime

    from prognos.sandbox.load import Workload

    surge_at = Workload(name="web", anchor=float(state["anchor"])).next_surge(time.time() + 30)
    next_surge = datetime.fromtimestamp(surge_at, UTC).strftime("%H:%M:%S UTC")
    print(
        f"""
Prognos demo on the local sandbox
  kubeconfig  {kubeconfig}
  prometheus  {state["prometheus"]}
  Watch it:   export KUBECONFIG={kubeconfig} PATH={state["bin_dir"]}:$PATH
              kubectl get psc,deploy -n demo -w
  Next scheduled 3x surge of demo/web: {next_surge}; Prognos scales ahead of it.
  Ctrl-C stops the operator; 'prognos sandbox down' stops the sandbox.
""",
        flush=True,
    )
    os.environ["KUBECONFIG"] = str(kubeconfig)
    logs.configure("INFO", "console")
    import contextlib

    from prognos.notify.options import NotifyOptions
    from prognos.operator.app import RunOptions
    from prognos.operator.app import run as run_operator
    from prognos.operator.services import PrometheusSettings

    if watcher is not None:
        watcher.start()
    with contextlib.suppress(KeyboardInterrupt):  # the watcher's SIGINT ends the scenario
        run_operator(
            RunOptions(
                liveness_host="127.0.0.1",
                liveness_port=_free(),
                metrics_port=_free(),
                prometheus=PrometheusSettings(url=state["prometheus"]),
                notify=NotifyOptions(
                    alert_host="127.0.0.1",
                    alert_port=state.get("alert_receiver_port"),
                    alert_token_file=state.get("alert_token_file"),
                ),
            )
        )
    if watcher is not None:
        return 0 if watcher.resolved else 1
    return 0


def _free() -> int:
    from prognos.sandbox.procs import free_port

    return free_port()
