"""``prognos sandbox up|down|status``: a real local control plane with kwok and Prometheus.

The same code path serves the README's demo and the integration tests' session fixture, so a
green test run says the demo works too. Components and order:

1. etcd (one member, loopback, no fsync);
2. kube-apiserver (RBAC, token auth, our own CA and serving cert, SA signing key);
3. kube-controller-manager and kube-scheduler;
4. kwok with the stages of ``prognos.sandbox.stages`` and one fake node ``kwok-node-0``;
5. Prometheus (Debian's package, run as a plain process) with 8 days of backfilled history of
   the demo exporter's series, then the exporter itself and the demo Deployments;
6. Alertmanager (Debian's ``prometheus-alertmanager``) with Prometheus alerting rules on the
   demo exporter; its webhook receiver points at the operator's alert intake on a port recorded
   in the state (``alert_receiver``), with a bearer token file (``alert_token_file``), so a test
   or the demo starts ``prognos run --alert-port ...`` there after ``up``.

Every port is chosen free on 127.0.0.1 at ``up`` and reported by ``status``. Every process is
recorded by pid before we wait on it, so ``down``, a failed ``up`` or a Ctrl-C stop all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from prognos.sandbox import pki, stages, tools
from prognos.sandbox.load import default_workloads, openmetrics_history
from prognos.sandbox.procs import ProcessTable, free_port, is_alive

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
NODE_NAME = "kwok-node-0"
DEMO_NAMESPACE = "demo"
HISTORY_DAYS = 8
HISTORY_STEP_S = 60.0
SCRAPE_INTERVAL = "5s"
SCRAPE_JOB = "demo-exporter"
#: The demo alerting rule: an error burst on a demo workload (exporter ``/control``).
ALERT_NAME = "DemoHighErrorRatio"
ALERT_EXPR = "prognos_demo_error_ratio > 0.2"
ALERT_FOR = "10s"
ALERT_PATH = "/api/v1/alerts"

Log = Callable[[str], None]


class SandboxError(RuntimeError):
    """The sandbox cannot be used as asked (not running, missing prerequisite, ...)."""


def default_state_dir() -> Path:
    env = os.environ.get("PROGNOS_SANDBOX_DIR")
    return Path(env) if env else tools.cache_dir() / "sandbox"


def find_traces_dir() -> Path | None:
    """The shared load traces: ``PROGNOS_TRACES_DIR``, or ``../shared/data/traces`` of the repo."""
    env = os.environ.get("PROGNOS_TRACES_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    candidates = [Path.cwd().parent / "shared/data/traces"]
    candidates += [p.parent / "shared/data/traces" for p in Path(__file__).resolve().parents]
    return next((c for c in candidates if c.is_dir()), None)


def _http_ok(url: str, ctx: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:
        return bool(resp.status == 200)


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _apt_install(package: str, what: str, log: Log) -> None:
    """Install a Debian package, or say exactly what to install when we cannot."""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise SandboxError(
            f"{what} is not installed: install Debian's '{package}' package "
            f"(sudo apt-get install {package}) and run again"
        )
    log(f"[up] installing Debian's {package} package (apt-get) ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", package]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SandboxError(f"'{' '.join(cmd)}' failed:\n{proc.stderr[-2000:]}")


def ensure_prometheus(log: Log) -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``, installing Debian's package if they are missing.

    The package starts a system service where systemd runs; the sandbox uses its own process.
    """
    prom, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prom and promtool):
        _apt_install("prometheus", "Prometheus", log)
        prom, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prom and promtool):
        raise SandboxError("apt-get installed prometheus but the binaries are not on PATH")
    return prom, promtool


def ensure_alertmanager(log: Log) -> str:
    """Path of Alertmanager, installing Debian's ``prometheus-alertmanager`` if it is missing."""

    def find() -> str | None:
        return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

    found = find()
    if not found:
        _apt_install("prometheus-alertmanager", "Alertmanager", log)
        found = find()
    if not found:
        raise SandboxError("apt-get installed prometheus-alertmanager but it is not on PATH")
    return found


def alertmanager_config(receiver_url: str, token_file: Path) -> dict[str, Any]:
    """One route to the operator's intake; quick grouping so tests see alerts in seconds."""
    return {
        "global": {"resolve_timeout": "1m"},
        "route": {
            "receiver": "prognos",
            "group_by": ["alertname", "namespace", "workload"],
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "1m",
        },
        "receivers": [
            {
                "name": "prognos",
                "webhook_configs": [
                    {
                        "url": receiver_url,
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {
                                "type": "Bearer",
                                "credentials_file": str(token_file),
                            }
                        },
                    }
                ],
            }
        ],
    }


def alerting_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "prognos-demo",
                "interval": "5s",
                "rules": [
                    {
                        "alert": ALERT_NAME,
                        "expr": ALERT_EXPR,
                        "for": ALERT_FOR,
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "{{ $labels.workload }} error ratio is {{ $value }}"
                        },
                    }
                ],
            }
        ]
    }


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C during ``up`` so that cleanup runs either way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _kubeconfig(server: str, ca: Path, token: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "prognos-sandbox",
                "cluster": {"server": server, "certificate-authority": str(ca)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": "prognos-sandbox", "context": {"cluster": "prognos-sandbox", "user": user}}
        ],
        "current-context": "prognos-sandbox",
    }


class Sandbox:
    """One sandbox instance rooted at a state directory."""

    def __init__(self, state_dir: Path | None = None, log: Log | None = None) -> None:
        self.dir = (state_dir or default_state_dir()).resolve()
        self.log: Log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.state_file = self.dir / "state.json"
        self.procs_file = self.dir / "procs.json"

    # ----- state -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {}
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def is_healthy(self) -> bool:
        """All recorded processes alive and the apiserver and Prometheus answering."""
        st = self.state()
        if not st.get("ready") or not self.procs_file.exists():
            return False
        table = ProcessTable(self.procs_file)
        if not table.records or not all(is_alive(r) for r in table.records):
            return False
        try:
            ctx = ssl.create_default_context(cafile=st["ca"])
            return _http_ok(f"{st['apiserver']}/readyz", ctx) and _http_ok(
                f"{st['prometheus']}/-/ready"
            )
        except Exception:
            return False

    # ----- lifecycle ---------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every process this sandbox started and remove its state directory."""
        stopped: list[str] = []
        if self.procs_file.exists():
            stopped = ProcessTable(self.procs_file).stop_all()
        if self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        return stopped

    def up(self, timeout: float = 120.0) -> dict[str, Any]:
        """Start the sandbox, or return the running one: a second ``up`` is a no-op."""
        if self.is_healthy():
            self.log(f"[up] sandbox already running in {self.dir}")
            return self.state()
        if self.dir.exists():
            stale = self.down()
            self.log(f"[up] cleaned stale sandbox state (stopped: {', '.join(stale) or 'none'})")
        tools.build()
        prom, promtool = ensure_prometheus(self.log)
        alertmanager = ensure_alertmanager(self.log)
        self.dir.mkdir(parents=True)
        table = ProcessTable(self.procs_file)
        started = time.monotonic()
        try:
            with _sigterm_as_interrupt():
                state = self._start(table, prom, promtool, timeout, alertmanager)
        except BaseException:
            self.log("[up] failed or interrupted: stopping everything that was started")
            table.stop_all()
            raise
        self.log(f"[up] sandbox ready in {time.monotonic() - started:.1f}s")
        return state

    def _start(
        self,
        table: ProcessTable,
        prom: str,
        promtool: str,
        timeout: float,
        alertmanager: str = "prometheus-alertmanager",
    ) -> dict[str, Any]:
        d = self.dir
        logs = d / "logs"
        ports = {
            name: free_port(pref)
            for name, pref in (
                ("etcd", 23790),
                ("etcd_peer", 23800),
                ("apiserver", 16443),
                ("controller_manager", 10357),
                ("scheduler", 10359),
                ("kwok", 10347),
                ("prometheus", 19090),
                ("exporter", 19100),
                ("alertmanager", 19093),
                ("alert_receiver", 19094),
            )
        }
        anchor = time.time()
        state: dict[str, Any] = {"dir": str(d), "ports": ports, "anchor": anchor, "ready": False}
        self._save_state(state)

        # etcd ---------------------------------------------------------------------------
        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        peer = f"http://127.0.0.1:{ports['etcd_peer']}"
        self.log(f"[up] etcd on {etcd_url}")
        rec = table.spawn(
            "etcd",
            [
                str(tools.binary("etcd")),
                "--name=sandbox",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=sandbox={peer}",
                "--unsafe-no-fsync=true",
                "--listen-metrics-urls=",
                "--log-level=warn",
            ],
            logs / "etcd.log",
        )
        table.wait_ready(rec, lambda: _http_ok(f"{etcd_url}/health"), timeout)

        # kube-apiserver -----------------------------------------------------------------
        certs = pki.generate(d / "pki", SERVICE_IP)
        token = secrets.token_hex(24)
        (d / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
        (d / "tokens.csv").chmod(0o600)
        server = f"https://127.0.0.1:{ports['apiserver']}"
        self.log(f"[up] kube-apiserver on {server}")
        rec = table.spawn(
            "kube-apiserver",
            [
                str(tools.binary("kube-apiserver")),
                f"--etcd-servers={etcd_url}",
                "--advertise-address=127.0.0.1",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['apiserver']}",
                f"--tls-cert-file={certs.serving_cert}",
                f"--tls-private-key-file={certs.serving_key}",
                f"--client-ca-file={certs.ca_cert}",
                "--authorization-mode=RBAC",
                f"--token-auth-file={d / 'tokens.csv'}",
                f"--service-account-key-file={certs.sa_key}",
                f"--service-account-signing-key-file={certs.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--event-ttl=1h",
                "--v=1",
            ],
            logs / "kube-apiserver.log",
        )
        ca_ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
        table.wait_ready(
            rec, lambda: _http_ok(f"{server}/readyz", ca_ctx, token), max(timeout, 90), "ready"
        )
        kubeconfig = d / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(_kubeconfig(server, certs.ca_cert, token, "admin")))
        kubeconfig.chmod(0o600)

        # controller-manager and scheduler -----------------------------------------------
        common = [
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--profiling=false",
        ]
        self.log("[up] kube-controller-manager and kube-scheduler")
        kcm = table.spawn(
            "kube-controller-manager",
            [
                str(tools.binary("kube-controller-manager")),
                *common,
                f"--secure-port={ports['controller_manager']}",
                f"--cert-dir={d / 'pki' / 'kcm'}",
                f"--service-account-private-key-file={certs.sa_key}",
                f"--root-ca-file={certs.ca_cert}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--v=1",
            ],
            logs / "kube-controller-manager.log",
        )
        sched = table.spawn(
            "kube-scheduler",
            [
                str(tools.binary("kube-scheduler")),
                *common,
                f"--secure-port={ports['scheduler']}",
                "--v=1",
            ],
            logs / "kube-scheduler.log",
        )
        insecure = _insecure()
        table.wait_ready(
            kcm,
            lambda: _http_ok(f"https://127.0.0.1:{ports['controller_manager']}/healthz", insecure),
            timeout,
        )
        table.wait_ready(
            sched,
            lambda: _http_ok(f"https://127.0.0.1:{ports['scheduler']}/healthz", insecure),
            timeout,
        )

        # kwok and its node ---------------------------------------------------------------
        (d / "kwok.yaml").write_text(stages.render())
        self.log("[up] kwok (fake node and pod lifecycles)")
        kw = table.spawn(
            "kwok",
            [
                str(tools.binary("kwok")),
                f"--kubeconfig={kubeconfig}",
                f"--config={d / 'kwok.yaml'}",
                f"--manage-nodes-with-annotation-selector={stages.NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                "--cidr=10.0.0.1/16",
                "--node-ip=10.0.0.1",
                f"--server-address=127.0.0.1:{ports['kwok']}",
            ],
            logs / "kwok.log",
        )
        table.wait_ready(kw, lambda: _http_ok(f"http://127.0.0.1:{ports['kwok']}/healthz"), timeout)
        from prognos.sandbox import objects

        api = objects.api_client(kubeconfig)
        objects.create_node(api, NODE_NAME, stages.NODE_ANNOTATION)
        table.wait_ready(kw, lambda: objects.node_ready(api, NODE_NAME), timeout, "node-ready")

        # Prometheus with backfilled history, then the exporter ----------------------------
        traces = find_traces_dir()
        workloads = default_workloads(traces, anchor)
        self.log(f"[up] backfilling {HISTORY_DAYS} days of demo history with promtool")
        prom_dir = d / "prometheus"
        (prom_dir / "data").mkdir(parents=True)
        history = prom_dir / "history.om"
        scrape_labels = {"job": SCRAPE_JOB, "instance": f"127.0.0.1:{ports['exporter']}"}
        history.write_text(
            openmetrics_history(
                workloads,
                anchor - HISTORY_DAYS * 86_400,
                anchor - HISTORY_STEP_S / 2,
                HISTORY_STEP_S,
                scrape_labels,
            )
        )
        proc = subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=24h",
                str(history),
                str(prom_dir / "data"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SandboxError(f"promtool backfill failed:\n{proc.stderr[-2000:]}")
        history.unlink()
        exporter_url = f"http://127.0.0.1:{ports['exporter']}"
        argv = [
            sys.executable,
            "-m",
            "prognos.sandbox.exporter",
            f"--port={ports['exporter']}",
            f"--anchor={anchor}",
        ]
        if traces is not None:
            argv.append(f"--traces-dir={traces}")
        ex = table.spawn("exporter", argv, logs / "exporter.log")
        table.wait_ready(ex, lambda: _http_ok(f"{exporter_url}/healthz"), timeout)
        (prom_dir / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": "5s"},
                    "scrape_configs": [
                        {
                            "job_name": SCRAPE_JOB,
                            "static_configs": [{"targets": [f"127.0.0.1:{ports['exporter']}"]}],
                        }
                    ],
                }
            )
        )
        # Alertmanager: its receiver is the operator's intake, started later on that port.
        am_dir = d / "alertmanager"
        am_dir.mkdir()
        token_file = am_dir / "receiver-token"
        token_file.write_text(secrets.token_hex(24) + "\n")
        token_file.chmod(0o600)
        receiver_url = f"http://127.0.0.1:{ports['alert_receiver']}{ALERT_PATH}"
        (am_dir / "alertmanager.yml").write_text(
            yaml.safe_dump(alertmanager_config(receiver_url, token_file), sort_keys=False)
        )
        am_url = f"http://127.0.0.1:{ports['alertmanager']}"
        self.log(f"[up] alertmanager on {am_url} (receiver {receiver_url})")
        am = table.spawn(
            "alertmanager",
            [
                alertmanager,
                f"--config.file={am_dir / 'alertmanager.yml'}",
                f"--storage.path={am_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            logs / "alertmanager.log",
        )
        table.wait_ready(am, lambda: _http_ok(f"{am_url}/-/ready"), timeout)
        (prom_dir / "rules.yml").write_text(yaml.safe_dump(alerting_rules(), sort_keys=False))
        prom_config = yaml.safe_load((prom_dir / "prometheus.yml").read_text())
        prom_config["rule_files"] = [str(prom_dir / "rules.yml")]
        prom_config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}
            ]
        }
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        state.update(
            {
                "alertmanager": am_url,
                "alert_receiver": receiver_url,
                "alert_receiver_port": ports["alert_receiver"],
                "alert_token_file": str(token_file),
            }
        )

        prom_url = f"http://127.0.0.1:{ports['prometheus']}"
        self.log(f"[up] prometheus on {prom_url}")
        pr = table.spawn(
            "prometheus",
            [
                prom,
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                "--storage.tsdb.retention.time=30d",
                "--web.enable-lifecycle",
            ],
            logs / "prometheus.log",
        )
        table.wait_ready(pr, lambda: _http_ok(f"{prom_url}/-/ready"), timeout)

        objects.create_demo_workloads(api, DEMO_NAMESPACE, [w.name for w in workloads])
        state.update(
            {
                "kubeconfig": str(kubeconfig),
                "apiserver": server,
                "ca": str(certs.ca_cert),
                "prometheus": prom_url,
                "exporter": exporter_url,
                "bin_dir": str(tools.bin_dir()),
                "node": NODE_NAME,
                "demo_namespace": DEMO_NAMESPACE,
                "workloads": [w.name for w in workloads],
                "logs": str(logs),
                "ready": True,
            }
        )
        self._save_state(state)
        return state

    # ----- fault injection for tests ------------------------------------------------------
    def stop_component(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop one component (e.g. ``prometheus``) as a fault; ``start_component`` undoes it."""
        if not ProcessTable(self.procs_file).stop(name, sig=sig):
            raise SandboxError(f"component {name!r} is not running")

    def start_component(self, name: str, timeout: float = 60.0) -> None:
        table = ProcessTable(self.procs_file)
        rec = table.restart(name)
        st = self.state()
        checks: dict[str, Callable[[], bool]] = {
            "prometheus": lambda: _http_ok(f"{st['prometheus']}/-/ready"),
            "exporter": lambda: _http_ok(f"{st['exporter']}/healthz"),
            "alertmanager": lambda: _http_ok(f"{st['alertmanager']}/-/ready"),
            "etcd": lambda: _http_ok(f"http://127.0.0.1:{st['ports']['etcd']}/health"),
            "kube-apiserver": lambda: _http_ok(
                f"{st['apiserver']}/readyz", ssl.create_default_context(cafile=st["ca"])
            ),
        }
        table.wait_ready(rec, checks.get(name, lambda: True), timeout)

    def status(self) -> dict[str, Any]:
        st = self.state()
        if not st:
            return {"running": False, "dir": str(self.dir)}
        table = ProcessTable(self.procs_file) if self.procs_file.exists() else None
        out = {
            k: st.get(k)
            for k in (
                "kubeconfig",
                "apiserver",
                "prometheus",
                "exporter",
                "alertmanager",
                "alert_receiver",
                "alert_receiver_port",
                "alert_token_file",
                "bin_dir",
                "dir",
                "logs",
                "ports",
                "workloads",
            )
        }
        out["running"] = self.is_healthy()
        out["components"] = table.describe() if table else {}
        return out
