"""One operator process under many objects: tick lag, CPU, RSS, Prometheus load, first decision.

Creates ``--scalers`` kwok Deployments (1-3 replicas) with one PredictiveScaler each and
``--policies`` RemediationPolicies (kubernetes signals, dry run) on those Deployments' pods,
spread over ``--namespaces`` namespaces, in the real sandbox. Prometheus holds one synthetic load
series per scaler: the benchmark runs a small exporter of its own (``prognos_bench_load``) and
adds it to the sandbox's Prometheus as a second scrape job (``/-/reload``; the sandbox's own
config is restored at the end). Forecasting is off for every scaler (``forecast: {enabled:
false}``, reactive decisions): the synthetic series have no history, and fit cost is measured by
``forecast_speed.py``; the output says so.

The operator runs as a subprocess (``prognos run``, one fit worker). Figures:

- ``tick_lag_p50_s`` / ``tick_lag_p99_s``: the operator's ``prognos_scaler_tick_lag_seconds``
  histogram (delay from when a tick was due to its decision), over the steady window that starts
  once every scaler has decided once (interpolated within histogram buckets);
- ``cpu_cores_avg`` / ``rss_gib_max``: ``/proc/<pid>`` of the operator over the steady window,
  and separately of its descendants (the fit pool);
- ``prometheus_qps``: Prometheus' own ``prometheus_http_requests_total`` for the query APIs;
- ``first_decision_s_p50`` / ``_max``: from creating a scaler to its ``status.lastDecisionTime``
  first being seen by the benchmark (listing every 2 s).

    PROGNOS_SANDBOX_DIR=/tmp/sbx nice python benchmarks/operator_scale.py \
        --scalers 200 --policies 100 --json

Every object is labelled ``prognos.io/bench=operator-scale`` and deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from prognos.sandbox.cluster import Sandbox
from prognos.sandbox.objects import api_client, apply_crds, demo_deployment
from prognos.sandbox.procs import free_port

GROUP, VERSION = "prognos.io", "v1alpha1"
LABEL_KEY, LABEL_VALUE = "prognos.io/bench", "operator-scale"
SELECTOR = f"{LABEL_KEY}={LABEL_VALUE}"
METRIC = "prognos_bench_load"
JOB = "prognos-bench-scale"
LAG = "prognos_scaler_tick_lag_seconds"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ----- the synthetic exporter (run as ``--serve-exporter``) --------------------------------------
def serve_exporter(port: int, series: list[tuple[str, str, float]]) -> None:
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY, GaugeMetricFamily
    from prometheus_client.registry import Collector

    class Load(Collector):
        def collect(self) -> Iterator[GaugeMetricFamily]:
            fam = GaugeMetricFamily(METRIC, "Synthetic load.", labels=["namespace", "workload"])
            now = time.time()
            for i, (ns, wl, base) in enumerate(series):
                fam.add_metric([ns, wl], base * (1 + 0.1 * math.sin(now / 600 + i)))
            yield fam

    REGISTRY.register(Load())
    start_http_server(port, addr="127.0.0.1")
    while True:
        time.sleep(3600)


# ----- the objects -----------------------------------------------------------------------------
def layout(scalers: int, namespaces: int) -> list[tuple[str, str, int]]:
    """(namespace, deployment, replicas) for each scaler."""
    return [(f"bench-scale-{i % namespaces}", f"d-{i}", 1 + i % 3) for i in range(scalers)]


def deployment(ns: str, name: str, replicas: int) -> dict[str, Any]:
    return demo_deployment(
        ns, name, replicas, labels={LABEL_KEY: LABEL_VALUE}, cpu="10m", memory="16Mi"
    )


#: With ``--forecast``, every scaler reads the demo workload's series, which the sandbox
#: backfilled with days of history, times its own factor: real fits on real history, and one
#: distinct query per scaler (nothing shared between scalers, as in a real cluster).
DEMO_QUERY = 'sum(prognos_demo_requests_per_second{namespace="demo",workload="web"})'


def scaler(ns: str, name: str, interval: str, forecast: bool = False, i: int = 0) -> dict[str, Any]:
    query = (
        f"{DEMO_QUERY} * {0.05 + (i % 40) / 100:.2f}"
        if forecast
        else f'sum({METRIC}{{namespace="{ns}",workload="{name}"}})'
    )
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PredictiveScaler",
        "metadata": {"name": f"s-{name}", "namespace": ns, "labels": {LABEL_KEY: LABEL_VALUE}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": 5,
            "interval": interval,
            "metric": {
                "query": query,
                "targetPerReplica": "50",
            },
            "forecast": {"enabled": forecast},
            "mode": "Auto",
        },
    }


def policy(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RemediationPolicy",
        "metadata": {"name": f"p-{name}", "namespace": ns, "labels": {LABEL_KEY: LABEL_VALUE}},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "signals": [
                {"name": "unready", "kubernetes": {"notReadyFor": "2m"}},
                {
                    "name": "restarts",
                    "kubernetes": {"restartsAbove": {"count": 5, "window": "10m"}},
                },
            ],
            "actions": [{"deletePod": {}, "verifyWithin": "3m"}],
            "maxUnavailable": 1,
            "dryRun": True,
        },
    }


def _create(fn: Any, *args: Any) -> None:
    for attempt in range(5):
        try:
            fn(*args)
            return
        except ApiException as exc:
            if exc.status == 409:
                return
            if exc.status not in (429, 500, 503, 504) or attempt == 4:
                raise
            time.sleep(1 + attempt)


# ----- measurement helpers ---------------------------------------------------------------------
def _get(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def parse_metrics(text: str, name: str) -> dict[str, float]:
    """``{labels-string: value}`` of one metric family's samples named ``name``."""
    out: dict[str, float] = {}
    pat = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)")
    for line in text.splitlines():
        mm = pat.match(line)
        if mm:
            out[mm.group(1) or ""] = float(mm.group(2))
    return out


def histogram(text: str, name: str) -> list[tuple[float, float]]:
    """Cumulative (le, count) buckets of an unlabelled histogram."""
    buckets = []
    for labels, value in parse_metrics(text, f"{name}_bucket").items():
        le = re.search(r'le="([^"]+)"', labels)
        if le:
            buckets.append((math.inf if le.group(1) == "+Inf" else float(le.group(1)), value))
    return sorted(buckets)


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def delta(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    before = dict(a)
    return [(le, count - before.get(le, 0.0)) for le, count in b]


def _stat(pid: int) -> tuple[float, int] | None:
    """(cpu seconds, rss bytes) of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[21]) * PAGE


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Usage:
    """CPU seconds and RSS of the operator and (summed) of its descendants."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_max = [0, 0]  # operator, children (sum at one sample)

    def sample(self) -> tuple[float, float]:
        main = _stat(self.pid) or (0.0, 0)
        kids = [s for s in map(_stat, descendants(self.pid)) if s is not None]
        self.rss_max[0] = max(self.rss_max[0], main[1])
        self.rss_max[1] = max(self.rss_max[1], sum(k[1] for k in kids))
        return main[0], sum(k[0] for k in kids)


# ----- the run ---------------------------------------------------------------------------------
def _fit_count(text: str) -> float:
    return parse_metrics(text, "prognos_model_fit_seconds_count").get("", 0.0)


def _sum_histograms(parts: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Bucket-wise sum of the same histogram from several processes (same bucket bounds)."""
    parts = [p for p in parts if p]
    if not parts:
        return []
    return [(le, sum(p[i][1] for p in parts)) for i, (le, _n) in enumerate(parts[0])]


def _prom_queries(prom: str) -> float:
    reqs = parse_metrics(_get(f"{prom}/metrics"), "prometheus_http_requests_total")
    return sum(v for k, v in reqs.items() if '"/api/v1/query' in k)


def _series_count(prom: str) -> int:
    q = urllib.parse.quote(f"count({METRIC})")
    data = json.loads(_get(f"{prom}/api/v1/query?query={q}"))
    result = data["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    box = Sandbox()
    st = box.status()
    if not st.get("running"):
        raise SystemExit("the sandbox is not running: prognos sandbox up")
    kube = api_client(Path(st["kubeconfig"]))
    core, apps = k8s.CoreV1Api(kube), k8s.AppsV1Api(kube)
    custom: Any = k8s.CustomObjectsApi(kube)
    prom = str(st["prometheus"])
    prom_yml = Path(st["dir"]) / "prometheus" / "prometheus.yml"
    original_yml = prom_yml.read_text()
    objs = layout(args.scalers, args.namespaces)
    deadline = time.monotonic() + 300
    while core.list_namespace(label_selector=SELECTOR).items:  # an earlier run's, terminating
        if time.monotonic() > deadline:
            raise SystemExit("bench namespaces of an earlier run are still terminating")
        log("waiting for an earlier run's namespaces to go")
        time.sleep(5)
    from prognos.api import crds

    apply_crds(kube, [build() for build in crds.DEFINITIONS.values()])
    work = Path(tempfile.mkdtemp(prefix="operator-scale-"))
    procs: list[subprocess.Popen[bytes]] = []
    operators: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {
        "scalers": args.scalers,
        "policies": args.policies,
        "namespaces": args.namespaces,
        "interval": args.interval,
        "forecast": (
            "on: every scaler fits auto on the backfilled demo history (its own query)"
            if args.forecast
            else "disabled on every scaler (reactive decisions; fit cost: forecast_speed.py)"
        ),
        "shards": args.shards,
        "series": args.scalers,
    }
    try:
        # 1. N series in Prometheus -------------------------------------------------------
        exporter_port = free_port()
        series_file = work / "series.json"
        series_file.write_text(json.dumps([[ns, d, 50.0 * r] for ns, d, r in objs]))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--serve-exporter",
                    str(exporter_port),
                    str(series_file),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(work / "exporter.log").open("wb"),
                start_new_session=True,
            )
        )
        cfg = yaml.safe_load(original_yml)
        cfg["scrape_configs"] = [j for j in cfg["scrape_configs"] if j.get("job_name") != JOB]
        cfg["scrape_configs"].append(
            {"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
        )
        prom_yml.write_text(yaml.safe_dump(cfg))
        urllib.request.urlopen(urllib.request.Request(f"{prom}/-/reload", method="POST"))
        deadline = time.monotonic() + 60
        while _series_count(prom) < args.scalers:
            if time.monotonic() > deadline:
                raise SystemExit("Prometheus did not scrape the synthetic series in 60 s")
            time.sleep(2)
        log(f"prometheus holds {args.scalers} synthetic series")

        # 2. operators (one per shard), then the objects ---------------------------------
        op_metrics: list[str] = []
        for index in range(args.shards):
            metrics_port = free_port()
            shard_args = (
                [f"--shard-count={args.shards}", f"--shard-index={index}"]
                if args.shards > 1
                else []
            )
            operators.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "prognos",
                        "run",
                        f"--kubeconfig={st['kubeconfig']}",
                        f"--prometheus-url={prom}",
                        "--liveness-host=127.0.0.1",
                        f"--liveness-port={free_port()}",
                        f"--metrics-port={metrics_port}",
                        "--fit-workers=1",
                        "--log-level=WARNING",
                        *shard_args,
                    ],
                    stdout=(work / f"operator-{index}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=dict(os.environ, PYTHONUNBUFFERED="1"),
                )
            )
            op_metrics.append(f"http://127.0.0.1:{metrics_port}/metrics")
        deadline = time.monotonic() + 60
        for index, url in enumerate(op_metrics):
            while True:
                with contextlib.suppress(OSError):
                    _get(url, 2)
                    break
                if operators[index].poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"operator did not start; see {work}/operator-{index}.log")
                time.sleep(0.5)
        usages = [Usage(op.pid) for op in operators]
        for ns in sorted({ns for ns, _d, _r in objs}):
            _create(
                core.create_namespace,
                {"metadata": {"name": ns, "labels": {LABEL_KEY: LABEL_VALUE}}},
            )
        created: dict[tuple[str, str], float] = {}
        t_create = time.monotonic()

        def make(i: int) -> None:
            ns, d, r = objs[i]
            _create(apps.create_namespaced_deployment, ns, deployment(ns, d, r))
            if i < args.policies:
                body = policy(ns, d)
                _create(
                    custom.create_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    ns,
                    "remediationpolicies",
                    body,
                )
            body = scaler(ns, d, args.interval, args.forecast, i)
            _create(
                custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                ns,
                "predictivescalers",
                body,
            )
            created[(ns, f"s-{d}")] = time.monotonic()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(args.scalers)))
        log(
            f"created {len(objs)} deployments+scalers, {args.policies} policies "
            f"in {time.monotonic() - t_create:.0f} s"
        )

        # 3. first decisions --------------------------------------------------------------
        first: dict[tuple[str, str], float] = {}
        deadline = time.monotonic() + args.first_timeout
        while len(first) < len(created) and time.monotonic() < deadline:
            for usage in usages:
                usage.sample()
            items = custom.list_cluster_custom_object(
                GROUP, VERSION, "predictivescalers", label_selector=SELECTOR
            )["items"]
            now = time.monotonic()
            for it in items:
                key = (it["metadata"]["namespace"], it["metadata"]["name"])
                if (it.get("status") or {}).get("lastDecisionTime") and key not in first:
                    first[key] = now - created.get(key, now)
            time.sleep(2)
        waits = sorted(first.values())
        result["scalers_decided"] = len(first)
        result["first_decision_s_p50"] = round(waits[len(waits) // 2], 1) if waits else None
        result["first_decision_s_max"] = round(waits[-1], 1) if waits else None
        log(f"{len(first)}/{len(created)} scalers decided; steady window {args.duration} s")

        if args.forecast:  # the first fit of every scaler, before the steady window
            deadline = time.monotonic() + args.first_timeout
            while time.monotonic() < deadline:
                for usage in usages:
                    usage.sample()
                fits = sum(_fit_count(_get(url)) for url in op_metrics)
                if fits >= len(created):
                    break
                time.sleep(2)
            result["first_fits"] = int(fits)
            result["all_fitted_s"] = round(time.monotonic() - t_create, 1)
            log(f"{int(fits)} fits done {result['all_fitted_s']} s after creation began")

        # 4. steady window ----------------------------------------------------------------
        texts0 = [_get(url) for url in op_metrics]
        q0, t0 = _prom_queries(prom), time.monotonic()
        cpus0 = [usage.sample() for usage in usages]
        for usage in usages:
            usage.rss_max = [0, 0]
        end = t0 + args.duration
        while time.monotonic() < end:
            for usage in usages:
                usage.sample()
            time.sleep(2)
        cpus1 = [usage.sample() for usage in usages]
        texts1 = [_get(url) for url in op_metrics]
        q1, t1 = _prom_queries(prom), time.monotonic()
        wall = t1 - t0
        lag = _sum_histograms(
            [
                delta(histogram(a, LAG), histogram(b, LAG))
                for a, b in zip(texts0, texts1, strict=True)
            ]
        )
        lag_all = _sum_histograms([histogram(b, LAG) for b in texts1])
        ticks = lag[-1][1] if lag else 0.0
        per_shard = [
            {
                "cpu_cores_avg": round((c1[0] - c0[0]) / wall, 2),
                "cpu_cores_avg_fit_pool": round((c1[1] - c0[1]) / wall, 2),
                "rss_gib_max": round(u.rss_max[0] / 2**30, 3),
                "rss_gib_max_fit_pool": round(u.rss_max[1] / 2**30, 3),
                "scaler_ticks": int(delta(histogram(a, LAG), histogram(b, LAG))[-1][1])
                if histogram(b, LAG)
                else 0,
            }
            for c0, c1, u, a, b in zip(cpus0, cpus1, usages, texts0, texts1, strict=True)
        ]
        forecast_ready = sum(
            1
            for it in custom.list_cluster_custom_object(
                GROUP, VERSION, "predictivescalers", label_selector=SELECTOR
            )["items"]
            if any(
                c.get("type") == "ForecastReady" and c.get("status") == "True"
                for c in (it.get("status") or {}).get("conditions") or []
            )
        )
        policies_ok = sum(
            1
            for it in custom.list_cluster_custom_object(
                GROUP, VERSION, "remediationpolicies", label_selector=SELECTOR
            )["items"]
            if (it.get("status") or {}).get("conditions")
        )

        def r(x: float | None, n: int = 2) -> float | None:
            return None if x is None else round(x, n)

        result.update(
            {
                "window_s": round(wall),
                "scaler_ticks": int(ticks),
                "scaler_ticks_expected": int(args.scalers * wall / _seconds(args.interval)),
                "tick_lag_p50_s": r(quantile(lag, 0.5), 3),
                "tick_lag_p99_s": r(quantile(lag, 0.99), 3),
                "tick_lag_p99_s_incl_startup": r(quantile(lag_all, 0.99), 3),
                # Per operator process: the largest shard (one process when unsharded).
                "cpu_cores_avg": max(sh["cpu_cores_avg"] for sh in per_shard),
                "cpu_cores_avg_fit_pool": max(sh["cpu_cores_avg_fit_pool"] for sh in per_shard),
                "cpu_cores_total": r(sum(sh["cpu_cores_avg"] for sh in per_shard)),
                "rss_gib_max": max(sh["rss_gib_max"] for sh in per_shard),
                "rss_gib_max_fit_pool": max(sh["rss_gib_max_fit_pool"] for sh in per_shard),
                "fits_in_window": int(
                    sum(_fit_count(b) - _fit_count(a) for a, b in zip(texts0, texts1, strict=True))
                ),
                "prometheus_qps": r((q1 - q0) / wall, 1),
                "policies_with_status": policies_ok,
                "scalers_forecast_ready": forecast_ready,
                "pods": len(core.list_pod_for_all_namespaces(label_selector=SELECTOR).items),
            }
        )
        if args.shards > 1:
            result["per_shard"] = per_shard
        return result
    finally:
        prom_yml.write_text(original_yml)
        with contextlib.suppress(OSError):
            urllib.request.urlopen(urllib.request.Request(f"{prom}/-/reload", method="POST"))
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            p.wait(10)
        try:
            cleanup(core, custom, objs, operators, work)
        except Exception as exc:  # never hide the run's own error behind a cleanup error
            log(f"cleanup failed ({type(exc).__name__}: {exc}); delete the bench namespaces")
        finally:  # never leave an operator behind, even if the cleanup failed
            for operator in operators:
                if operator.poll() is None:
                    os.killpg(operator.pid, signal.SIGKILL)
                    operator.wait(5)


def cleanup(
    core: Any,
    custom: Any,
    objs: list[tuple[str, str, int]],
    operators: list[subprocess.Popen[bytes]],
    work: Path,
) -> None:
    """Delete custom objects while the operator runs (it owns their finalizers), then the rest."""
    namespaces = sorted({ns for ns, _d, _r in objs})
    for ns in namespaces:
        for plural in ("predictivescalers", "remediationpolicies", "incidents"):
            with contextlib.suppress(ApiException):
                custom.delete_collection_namespaced_custom_object(GROUP, VERSION, ns, plural)
    deadline = time.monotonic() + 90
    alive = bool(operators) and all(op.poll() is None for op in operators)
    while alive and time.monotonic() < deadline:
        try:
            left = sum(
                len(custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"])
                for ns in namespaces
                for plural in ("predictivescalers", "remediationpolicies")
            )
        except ApiException:
            break
        if not left:
            break
        time.sleep(2)
    for operator in operators:
        if operator.poll() is None:
            os.killpg(operator.pid, signal.SIGTERM)
    for operator in operators:
        try:
            operator.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(operator.pid, signal.SIGKILL)
            operator.wait(5)
    for ns in namespaces:  # anything left holds a finalizer nobody will remove now
        for plural in ("predictivescalers", "remediationpolicies", "incidents"):
            with contextlib.suppress(ApiException):
                for it in custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"]:
                    custom.patch_namespaced_custom_object(
                        GROUP,
                        VERSION,
                        ns,
                        plural,
                        it["metadata"]["name"],
                        {"metadata": {"finalizers": None}},
                    )
        with contextlib.suppress(ApiException):
            core.delete_namespace(ns)
    log(f"cleaned up (logs in {work})")


def _seconds(interval: str) -> float:
    from prognos.scaling.spec import parse_duration

    return parse_duration(interval, "interval").total_seconds()


def log(msg: str) -> None:
    print(f"[operator-scale] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-exporter":
        rows = json.loads(Path(sys.argv[3]).read_text())
        serve_exporter(int(sys.argv[2]), [(a, b, float(c)) for a, b, c in rows])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scalers", type=int, default=200)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=4)
    parser.add_argument("--interval", default="30s")
    parser.add_argument("--duration", type=float, default=120, help="steady window, seconds")
    parser.add_argument("--first-timeout", type=float, default=300)
    parser.add_argument(
        "--forecast",
        action="store_true",
        help="forecasting on: each scaler fits auto on the demo workload's backfilled history",
    )
    parser.add_argument(
        "--shards", type=int, default=1, help="operator processes, each --shard-count of them"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.policies > args.scalers:
        parser.error("--policies must not exceed --scalers (one policy per Deployment)")
    result = run(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
