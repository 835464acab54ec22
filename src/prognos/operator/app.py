"""Operator start-up: Kopf settings, login, liveness and the handler modules to load."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubernetes import client as k8s

from prognos.api import GROUP, VERSION
from prognos.logs import get_logger
from prognos.notify.options import NotifyOptions
from prognos.operator import metrics, sharding
from prognos.operator.services import (
    PrometheusSettings,
    Services,
    io_executor,
    kube_configuration,
)
from prognos.operator.sharding import Shard

log = get_logger("prognos.operator")

#: Modules whose import registers Kopf handlers. Each capability adds its module here.
HANDLER_MODULES: tuple[str, ...] = (
    "prognos.operator.scaler",
    "prognos.operator.notify",
    "prognos.operator.remediation",
)


@dataclass(frozen=True)
class RunOptions:
    """What ``prognos run`` was asked to do."""

    namespaces: tuple[str, ...] = ()
    liveness_host: str = "0.0.0.0"
    liveness_port: int = 8080
    peering: str | None = None
    #: Seconds a replica's keep-alive stays valid: a standby takes over at most this long
    #: (plus one re-check) after the active replica stops refreshing it.
    peering_lifetime: int = 15
    #: Peering priority; None draws a random one so that replicas started with identical
    #: arguments (a Deployment) never tie, and exactly one is active.
    priority: int | None = None
    standalone: bool = True
    #: Operator-wide circuit breaker for remediation actions, ``COUNT/WINDOW`` or ``off``.
    max_actions: str = "30/1h"
    metrics_port: int | None = 8000
    fit_workers: int = 1
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings.from_env)
    notify: NotifyOptions = field(default_factory=NotifyOptions)
    #: This process's share of the PredictiveScalers and RemediationPolicies.
    shard: Shard = field(default_factory=Shard)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Kopf settings that an operator changing production wants, and the shared services."""
    options: RunOptions = memo["options"]
    settings.peering.lifetime = options.peering_lifetime
    memo["services"] = Services.create(options.prometheus, options.fit_workers)
    asyncio.get_running_loop().set_default_executor(io_executor())
    if options.metrics_port:
        metrics.serve(options.metrics_port)
    # Only Kopf warnings and errors become Kubernetes Events: Prognos posts its own decision
    # Events explicitly, and an Event per handled pod event would flood the API.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.persistence.finalizer = options.shard.finalizer
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="prognos.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="prognos.io", key="last-handled-configuration"
    )
    log.info(
        "operator.configured",
        prometheus=options.prometheus.url,
        metrics_port=options.metrics_port,
        shard=options.shard.describe() if options.shard.sharded else None,
    )


@kopf.on.event(GROUP, VERSION, "predictivescalers", when=sharding.owned)
@kopf.on.event(GROUP, VERSION, "remediationpolicies", when=sharding.owned)
async def release_foreign_finalizers(
    *, body: kopf.Body, resource: kopf.Resource, memo: kopf.Memo, **_: Any
) -> None:
    """Drop Prognos finalizers that no running operator will remove (a changed shard layout).

    Conditional on the resourceVersion read, so it never overwrites a concurrent change; a
    conflict is simply retried on the next event. Never raises.
    """
    options: RunOptions | None = memo.get("options")
    services: Services | None = memo.get("services")
    meta = body.get("metadata") or {}
    finalizers = list(meta.get("finalizers") or [])
    if options is None or services is None or not meta.get("namespace"):
        return
    foreign = options.shard.foreign_finalizers(finalizers)
    if not foreign:
        return
    patch: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        {
            "op": "replace",
            "path": "/metadata/finalizers",
            "value": [f for f in finalizers if f not in foreign],
        },
    ]
    try:
        await asyncio.to_thread(
            k8s.CustomObjectsApi(services.kube.api).patch_namespaced_custom_object,
            GROUP,
            VERSION,
            meta["namespace"],
            resource.plural,
            meta["name"],
            patch,
            _content_type="application/json-patch+json",
        )
        log.info("operator.foreign_finalizers_released", object=meta["name"], dropped=foreign)
    except Exception as exc:  # 409/422 (changed meanwhile) or API down: next event retries
        log.info("operator.foreign_finalizers_kept", object=meta["name"], error=str(exc))


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """Log Kopf in with the same credentials as our own client (see ``kube_configuration``)."""
    cfg = kube_configuration()
    auth = str(cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken") or "")
    scheme, _sep, token = auth.partition(" ")
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        scheme=scheme if token else None,
        token=token or None,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
    )


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    services: Services | None = memo.get("services")
    if services is not None:
        services.close()


def run(options: RunOptions) -> None:
    """Run the operator until SIGINT/SIGTERM; Kopf stops handlers gracefully on either."""
    import importlib

    for module in HANDLER_MODULES:
        importlib.import_module(module)
    log.info(
        "operator.starting", namespaces=list(options.namespaces) or "cluster-wide", pid=os.getpid()
    )
    peering = options.shard.peering_name(options.peering)
    try:
        # Kopf installs its own SIGINT/SIGTERM handlers and stops handlers gracefully.
        asyncio.run(
            kopf.operator(
                standalone=options.standalone if peering is None else False,
                peering_name=peering,
                priority=(
                    options.priority
                    if options.priority is not None
                    else secrets.randbelow(2**30) + 1
                    if peering
                    else None
                ),
                namespaces=list(options.namespaces),
                clusterwide=not options.namespaces,
                liveness_endpoint=f"http://{options.liveness_host}:{options.liveness_port}/healthz",
                memo=kopf.Memo(options=options),
            )
        )
    finally:
        log.info("operator.stopped")
