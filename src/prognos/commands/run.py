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
        help="default: $KUBECONFIG, else the in-cluster service account, else ~/.kube/config",
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
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=15,
        help="seconds a replica's keep-alive is valid (bounds the failover)",
    )
    parser.add_argument(
        "--priority", type=int, help="peering priority (default: random, so replicas never tie)"
    )
    parser.add_argument(
        "--alert-port",
        type=int,
        default=int(os.environ.get("PROGNOS_ALERT_PORT") or 0),
        help="serve the Alertmanager webhook intake on this port (0: off; env PROGNOS_ALERT_PORT)",
    )
    parser.add_argument("--alert-host", default="0.0.0.0", help="address of the intake")
    parser.add_argument(
        "--alert-token-file",
        default=os.environ.get("PROGNOS_ALERT_TOKEN_FILE"),
        help="file holding the bearer token Alertmanager must send",
    )
    parser.add_argument(
        "--alert-token-secret",
        default=os.environ.get("PROGNOS_ALERT_TOKEN_SECRET"),
        help="NAMESPACE/NAME of a Secret whose key 'token' is that bearer token",
    )
    parser.add_argument(
        "--max-actions",
        default=os.environ.get("PROGNOS_MAX_ACTIONS", "30/1h"),
        help="operator-wide limit on remediation actions, COUNT/WINDOW (e.g. 20/1h) or 'off'",
    )
    parser.add_argument(
        "--alert-max-body-bytes",
        type=int,
        default=1 << 20,
        help="largest Alertmanager request body accepted (413 above it)",
    )
    parser.add_argument(
        "--slack-api-url",
        default=os.environ.get("PROGNOS_SLACK_API_URL", "https://slack.com/api"),
        help="Slack Web API base URL (bot-token channels)",
    )
    parser.add_argument(
        "--shard-count",
        type=int,
        default=int(os.environ.get("PROGNOS_SHARD_COUNT") or 1),
        help="split PredictiveScalers and RemediationPolicies over this many operator shards "
        "by a stable hash of namespace/name (env PROGNOS_SHARD_COUNT)",
    )
    parser.add_argument(
        "--shard-index",
        type=int,
        default=int(os.environ.get("PROGNOS_SHARD_INDEX") or 0),
        help="this process's shard, 0 to shard-count - 1 (env PROGNOS_SHARD_INDEX)",
    )
    parser.add_argument(
        "--shard-selector",
        default=os.environ.get("PROGNOS_SHARD_SELECTOR") or None,
        help="own only the scalers and policies whose labels match this label selector "
        "(env PROGNOS_SHARD_SELECTOR)",
    )
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
    if args.max_actions.strip().lower() != "off":
        from prognos.remediation.policy import Limit, SpecError

        try:
            Limit.parse(args.max_actions)
        except SpecError as exc:
            raise UsageError(f"--max-actions: {exc}") from exc
    if args.alert_max_body_bytes < 1024:
        raise UsageError("--alert-max-body-bytes must be at least 1024")
    if args.peering_lifetime < 5:
        raise UsageError("--peering-lifetime must be at least 5 seconds")
    if args.fit_workers < 1:
        raise UsageError("--fit-workers must be at least 1")
    if not 0 <= args.alert_port < 65536:
        raise UsageError("--alert-port must be between 0 and 65535")
    if args.alert_port and not (args.alert_token_file or args.alert_token_secret):
        raise UsageError("--alert-port needs --alert-token-file or --alert-token-secret")
    if args.alert_token_file and not Path(args.alert_token_file).is_file():
        raise UsageError(f"{args.alert_token_file} does not exist")
    if args.alert_token_secret and args.alert_token_secret.count("/") != 1:
        raise UsageError("--alert-token-secret must be NAMESPACE/NAME")
    from prognos.operator.sharding import Shard, ShardError

    try:
        shard = Shard(args.shard_count, args.shard_index, args.shard_selector)
    except ShardError as exc:
        raise UsageError(str(exc)) from exc
    logs.configure(args.log_level, args.log_format)
    from prognos.notify.options import NotifyOptions
    from prognos.operator.app import RunOptions
    from prognos.operator.app import run as run_operator
    from prognos.operator.services import PrometheusSettings

    run_operator(
        RunOptions(
            namespaces=tuple(args.namespace),
            liveness_host=args.liveness_host,
            liveness_port=args.liveness_port,
            peering=args.peering,
            peering_lifetime=args.peering_lifetime,
            max_actions=args.max_actions,
            priority=args.priority,
            metrics_port=args.metrics_port or None,
            fit_workers=args.fit_workers,
            shard=shard,
            prometheus=PrometheusSettings(
                url=args.prometheus_url,
                bearer_token_file=args.prometheus_token_file,
                ca_file=args.prometheus_ca_file,
            ),
            notify=NotifyOptions(
                slack_api_url=args.slack_api_url,
                alert_host=args.alert_host,
                alert_port=args.alert_port or None,
                alert_token_file=args.alert_token_file,
                alert_token_secret=args.alert_token_secret,
                alert_max_body=args.alert_max_body_bytes,
            ),
        )
    )
    return 0
