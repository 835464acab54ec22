"""Runtime services shared by handlers, kept in Kopf's ``memo`` instead of module globals.

Built once at start-up: the Kubernetes client (in-cluster or kubeconfig), the Prometheus source,
and a process pool for model fits so that a Prophet or AutoARIMA fit never blocks the event
loop nor holds the GIL of the process that serves watches and probes.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from prognos.metrics import PrometheusSource
from prognos.notify.base import Notifier, NullNotifier
from prognos.remediation.alerts import AlertHub
from prognos.remediation.kube import Kube

#: Seconds a Prometheus query may take (the chart's ``prometheus.timeoutSeconds``).
PROMETHEUS_TIMEOUT_ENV = "PROGNOS_PROMETHEUS_TIMEOUT"
DEFAULT_PROMETHEUS_TIMEOUT_S = 10.0


def prometheus_timeout(raw: str | None) -> float:
    """``PROGNOS_PROMETHEUS_TIMEOUT`` as seconds: a finite number of at least 1, else 10.

    At least 1 because Prometheus' own query ``timeout`` parameter is sent in whole seconds.
    """
    try:
        value = float(raw) if raw is not None and raw.strip() else DEFAULT_PROMETHEUS_TIMEOUT_S
    except ValueError:
        return DEFAULT_PROMETHEUS_TIMEOUT_S
    return value if math.isfinite(value) and value >= 1 else DEFAULT_PROMETHEUS_TIMEOUT_S


def _env_timeout() -> float:
    return prometheus_timeout(os.environ.get(PROMETHEUS_TIMEOUT_ENV))


@dataclass(frozen=True)
class PrometheusSettings:
    url: str
    bearer_token_file: str | None = None
    ca_file: str | None = None
    #: Read from the environment by default, also when ``prognos run`` builds the settings from
    #: its flags: the chart sets the timeout through the environment only.
    timeout_s: float = field(default_factory=_env_timeout)

    @classmethod
    def from_env(cls) -> PrometheusSettings:
        return cls(
            url=os.environ.get("PROGNOS_PROMETHEUS_URL", "http://localhost:9090"),
            bearer_token_file=os.environ.get("PROGNOS_PROMETHEUS_TOKEN_FILE") or None,
            ca_file=os.environ.get("PROGNOS_PROMETHEUS_CA_FILE") or None,
        )

    def source(self) -> PrometheusSource:
        token = None
        if self.bearer_token_file:
            token = Path(self.bearer_token_file).read_text().strip()
        return PrometheusSource(
            self.url, bearer_token=token, ca_file=self.ca_file, timeout_s=self.timeout_s
        )


#: Threads for blocking client calls (``asyncio.to_thread``: Kubernetes and Prometheus reads and
#: writes of every scaler tick and policy runner). asyncio's default, min(32, cpus + 4), is 6 on
#: two cores: with a thousand scalers the calls queue behind each other and ticks run late.
IO_THREADS = 32


def io_executor(workers: int = IO_THREADS) -> ThreadPoolExecutor:
    """The event loop's default executor (installed at start-up)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prognos-io")


def kube_configuration() -> Any:
    """Credentials in controller-runtime's order: an explicit kubeconfig (``--kubeconfig``, which
    sets $KUBECONFIG, or $KUBECONFIG itself), then the in-cluster service account, then
    ~/.kube/config.

    An explicit choice wins over the pod's own account, so an operator started by hand inside a
    pod (a debug session, a test with the chart's token) talks to the cluster it was told to.
    The path is read from the environment *now*: the client library fixes its default path when
    it is first imported, which may be before a command sets KUBECONFIG.
    """
    configuration = k8s.Configuration()
    explicit = os.environ.get("KUBECONFIG")
    if explicit:
        k8s_config.load_kube_config(config_file=explicit, client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            path = os.path.expanduser("~/.kube/config")
            k8s_config.load_kube_config(config_file=path, client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.retries = 1
    # One pooled connection per I/O thread: urllib3 would otherwise open and discard extra ones.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, IO_THREADS)
    configuration.socket_options = dead_peer_socket_options()
    return configuration


def dead_peer_socket_options() -> list[tuple[int, int, int]]:
    """TCP keep-alive and a user timeout on every API connection.

    The client sets no request timeout, and the API server answers a slow request itself (504
    after its request timeout), so a reachable server never hangs a call for long. A peer that
    vanished without closing (a black-holed connection after a network change) would hang the
    I/O thread forever; keep-alive probes and ``TCP_USER_TIMEOUT`` make the kernel drop such a
    connection in about a minute, and the call fails like any other API error.
    """
    options = [
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    ]
    for name, value in (
        ("TCP_KEEPIDLE", 30),
        ("TCP_KEEPINTVL", 10),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", 60_000),  # milliseconds unacknowledged before the kernel gives up
    ):
        option = getattr(socket, name, None)  # Linux names; absent elsewhere
        if option is not None:
            options.append((socket.IPPROTO_TCP, option, value))
    return options


def kube_api_client() -> Any:
    return k8s.ApiClient(kube_configuration())


@dataclass
class Services:
    kube: Kube
    prometheus: PrometheusSource
    fit_pool: Executor
    #: Where producers hand NotificationEvents (the notify dispatcher replaces the default).
    notifier: Notifier = field(default_factory=NullNotifier)
    #: Alertmanager alerts as remediation signals: ``alerts.submit(AlertSignal(...))``.
    alerts: AlertHub = field(default_factory=AlertHub)

    @classmethod
    def create(cls, prom: PrometheusSettings, fit_workers: int) -> Services:
        # forkserver: the operator process has threads (client pools), fork would copy locks.
        ctx = multiprocessing.get_context("forkserver")
        return cls(
            kube=Kube(kube_api_client()),
            prometheus=prom.source(),
            fit_pool=ProcessPoolExecutor(max_workers=max(1, fit_workers), mp_context=ctx),
        )

    def close(self) -> None:
        self.fit_pool.shutdown(wait=False, cancel_futures=True)
