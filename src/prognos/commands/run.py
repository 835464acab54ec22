"""``prognos run``: start the Kopf operator against the current kubeconfig or in-cluster."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from prognos.commands import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the operator")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: cluster-wide",
    )
    parser.add_argument("--liveness-port", type=int, default=8080)
    parser.add_argument("--liveness-host", default="0.0.0.0")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=8000,
        help="port of the operator's /metrics (0 disables)",
    )
    parser.add_argument(
        "--prometheus-url",
        default=os.environ.get("PROGNOS_PROMETHEUS_URL"),
        help="Prometheus to read load from (env PROGNOS_PROMETHEUS_URL)",
    )
    parser.add_argument(
        "--prometheus-token-file",
        default=os.environ.get("PROGNOS_PROMETHEUS_TOKEN_FILE"),
        help="file holding a bearer token for Prometheus",
    )
    parser.add_argument(
        "--prometheus-ca-file",
        default=os.environ.get("PROGNOS_PROMETHEUS_CA_FILE"),
        help="CA bundle to verify Prometheus' TLS certificate",
    )
    parser.add_argument(
        "--fit-workers", type=int, default=1, help="processes for model fits (off the event loop)"
    )
    parser.add_argument("--peering", help="Kopf peering name for active/standby replicas")
    parser.add_argument("--log-level", default=os.environ.get("PROGNOS_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--log-format",
        choices=["json", "console"],
        default=os.environ.get("PROGNOS_LOG_FORMAT", "json"),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prognos import logs

    if args.kubeconfig is not None:
        if not args.kubeconfig.is_file():
            raise UsageError(f"kubeconfig {args.kubeconfig} does not exist")
        os.environ["KUBECONFIG"] = str(args.kubeconfig)
    if not 0 < args.liveness_port < 65536:
        raise UsageError("--liveness-port must be between 1 and 65535")
    if args.prometheus_url is None:
        raise UsageError("--prometheus-url (or PROGNOS_PROMETHEUS_URL) is required")
    for path in (args.prometheus_token_file, args.prometheus_ca_file):
        if path and not Path(path).is_file():
            raise UsageError(f"{path} does not exist")
    if args.fit_workers < 1:
        raise UsageError("--fit-workers must be at least 1")
    logs.configure(args.log_level, args.log_format)
    from prognos.operator.app import RunOptions
    from prognos.operator.app import run as run_operator
    from prognos.operator.services import PrometheusSettings

    run_operator(
        RunOptions(
            namespaces=tuple(args.namespace),
            liveness_host=args.liveness_host,
            liveness_port=args.liveness_port,
            peering=args.peering,
            metrics_port=args.metrics_port or None,
            fit_workers=args.fit_workers,
            prometheus=PrometheusSettings(
                url=args.prometheus_url,
                bearer_token_file=args.prometheus_token_file,
                ca_file=args.prometheus_ca_file,
            ),
        )
    )
    return 0
