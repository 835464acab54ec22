"""The only module in ``remediation`` that talks to the Kubernetes API.

Scale works for *any* kind with a ``/scale`` subresource (Deployment, StatefulSet, ReplicaSet,
custom resources) because the resource is resolved through discovery, exactly as
``kubectl scale`` does. Calls are synchronous (the official client); the operator runs them in
a worker thread so the event loop never blocks.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

COMPONENT = "prognos"


class TargetError(Exception):
    """The target cannot be scaled: unknown kind, no /scale, not found, or forbidden."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class TargetRef:
    api_version: str
    kind: str
    name: str

    @classmethod
    def from_spec(cls, ref: dict[str, Any]) -> TargetRef:
        return cls(str(ref["apiVersion"]), str(ref["kind"]), str(ref["name"]))

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ScaleState:
    """What the scale subresource says, plus the target's annotations and identity."""

    spec_replicas: int
    status_replicas: int
    annotations: dict[str, str]
    uid: str
    resource_version: str


class Kube:
    """A thin, typed wrapper around the Kubernetes client for Prognos' needs."""

    def __init__(self, api_client: Any) -> None:
        self.api = api_client
        self.core = k8s.CoreV1Api(api_client)
        self._dyn: DynamicClient | None = None

    @property
    def dynamic(self) -> DynamicClient:
        if self._dyn is None:
            self._dyn = DynamicClient(self.api)  # type: ignore[no-untyped-call]
        return self._dyn

    def _resource(self, ref: TargetRef) -> Any:
        try:
            return self.dynamic.resources.get(api_version=ref.api_version, kind=ref.kind)
        except ResourceNotFoundError as exc:
            raise TargetError(
                "UnknownKind", f"the cluster serves no kind {ref.kind} in {ref.api_version}"
            ) from exc

    def _call(self, what: str, ref: TargetRef, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            reason = {403: "Forbidden", 404: "TargetNotFound", 409: "Conflict"}.get(
                exc.status or 0, "ApiError"
            )
            raise TargetError(reason, f"{what} {ref}: {exc.status} {exc.reason}") from exc

    def read_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        resource = self._resource(ref)
        if "scale" not in resource.subresources:
            raise TargetError("NoScaleSubresource", f"{ref.kind} has no /scale subresource")
        obj = self._call("get", ref, resource.get, name=ref.name, namespace=namespace)
        scale = self._call(
            "get scale of",
            ref,
            resource.subresources["scale"].get,
            name=ref.name,
            namespace=namespace,
        )
        spec = scale.spec or {}
        status = scale.status or {}
        meta = obj.metadata
        return ScaleState(
            spec_replicas=int(spec.get("replicas") or 0),
            status_replicas=int(status.get("replicas") or 0),
            annotations=dict(meta.annotations or {}),
            uid=str(meta.uid),
            resource_version=str(scale.metadata.resourceVersion),
        )

    def patch_scale(
        self, namespace: str, ref: TargetRef, replicas: int, resource_version: str | None = None
    ) -> int:
        """Set replicas through /scale; with ``resource_version`` a concurrent change is a 409."""
        resource = self._resource(ref)
        body: dict[str, Any] = {"spec": {"replicas": replicas}}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        out = self._call(
            "scale",
            ref,
            resource.subresources["scale"].patch,
            name=ref.name,
            namespace=namespace,
            body=body,
            content_type="application/merge-patch+json",
        )
        return int((out.spec or {}).get("replicas") or replicas)

    def event(
        self,
        namespace: str,
        involved: dict[str, str],
        reason: str,
        message: str,
        type_: str = "Normal",
    ) -> None:
        """Record a core/v1 Event on ``involved`` (apiVersion, kind, name, uid)."""
        now = dt.datetime.now(dt.UTC)
        name = f"{involved['name']}.{uuid.uuid4().hex[:12]}"
        body: Any = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {**involved, "namespace": namespace},
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now.isoformat(),
            "lastTimestamp": now.isoformat(),
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(namespace, body)
        except ApiException:
            # Events are best effort: losing one never blocks a decision.
            return
