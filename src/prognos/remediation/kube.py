"""The only module in ``remediation`` that talks to the Kubernetes API.

Scale works for *any* kind with a ``/scale`` subresource (Deployment, StatefulSet, ReplicaSet,
custom resources) because the resource is resolved through discovery, exactly as
``kubectl scale`` does. Calls are synchronous (the official client); the operator runs them in
a worker thread so the event loop never blocks.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

COMPONENT = "prognos"
INCIDENT_GROUP, INCIDENT_VERSION = "prognos.io", "v1alpha1"


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

    def record_delivery(
        self, namespace: str, incident: str, entry: dict[str, Any], limit: int = 64
    ) -> bool:
        """Append one ``entry``: see ``record_deliveries``."""
        return self.record_deliveries(namespace, incident, [entry], limit)

    def record_deliveries(
        self,
        namespace: str,
        incident: str,
        entries: list[dict[str, Any]],
        limit: int = 64,
        settled: list[str] | None = None,
    ) -> bool:
        """Append ``entries`` to the Incident's ``status.notifications`` (newest ``limit`` kept)
        and remove the ``settled`` keys from its ``status.outbox``, in one write.

        Read-modify-write with the resourceVersion as precondition, retried on conflict, so a
        concurrent status write by the remediation runner is never lost. False when the
        Incident no longer exists (retention deleted it).
        """
        custom: Any = k8s.CustomObjectsApi(self.api)
        for _ in range(5):
            try:
                obj = custom.get_namespaced_custom_object(
                    INCIDENT_GROUP, INCIDENT_VERSION, namespace, "incidents", incident
                )
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
            status: dict[str, Any] = {}
            if entries:
                existing = list((obj.get("status") or {}).get("notifications") or [])
                existing.extend(dict(entry) for entry in entries)
                status["notifications"] = existing[-limit:]
            if settled:
                # A merge patch: null removes the key; a key already gone stays gone.
                status["outbox"] = dict.fromkeys(settled)
            if not status:
                return True
            body = {
                "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "status": status,
            }
            try:
                custom.patch_namespaced_custom_object_status(
                    INCIDENT_GROUP, INCIDENT_VERSION, namespace, "incidents", incident, body
                )
            except ApiException as exc:
                if exc.status == 409:
                    continue
                if exc.status == 404:
                    return False
                raise
            return True
        return False

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


# ----- remediation -------------------------------------------------------------------------
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"


#: How often a scale write that lost an optimistic-concurrency race is re-read and retried.
CONFLICT_RETRIES = 5
CONFLICT_BACKOFF_S = 0.1


class ActionError(Exception):
    """An action could not be executed; ``retryable`` when waiting may help (a PDB's 429)."""

    def __init__(self, reason: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class WorkloadInfo:
    """What remediation reads from a workload: identity, selector, restart/revision state."""

    uid: str
    annotations: dict[str, str]
    selector: dict[str, Any]
    restarted_at: str | None
    replicas: int | None
    revision: int | None
    previous_revision: int | None


def _status_message(exc: ApiException) -> str:
    import json

    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


class RemediationKube(Kube):
    """Kube plus the calls remediation makes: workload reads, the actions, Incident objects.

    Every action call is idempotent given the parameters the Incident recorded: UIDs as
    preconditions, absolute values, deterministic names (see ``prognos.remediation.actions``).
    """

    group = "prognos.io"
    version = "v1alpha1"

    def __init__(self, api_client: Any) -> None:
        super().__init__(api_client)
        # Typed as Any: the client's generated models are stricter than the dict bodies the
        # API accepts, and these calls pass plain dicts on purpose.
        self.custom: Any = k8s.CustomObjectsApi(api_client)
        self.batch: Any = k8s.BatchV1Api(api_client)
        self.apps: Any = k8s.AppsV1Api(api_client)
        self.pods: Any = k8s.CoreV1Api(api_client)

    # -- reads ----------------------------------------------------------------------------
    def read_workload(self, namespace: str, ref: TargetRef) -> WorkloadInfo:
        resource = self._resource(ref)
        obj = self._call("get", ref, resource.get, name=ref.name, namespace=namespace).to_dict()
        spec = obj.get("spec") or {}
        meta = obj.get("metadata") or {}
        template_annotations = ((spec.get("template") or {}).get("metadata") or {}).get(
            "annotations"
        ) or {}
        revision = previous = None
        if ref.kind == "Deployment":
            revision, previous = self._revisions(namespace, str(meta.get("uid")), meta)
        replicas = spec.get("replicas")
        return WorkloadInfo(
            uid=str(meta.get("uid", "")),
            annotations=dict(meta.get("annotations") or {}),
            selector=dict(spec.get("selector") or {}),
            restarted_at=template_annotations.get(RESTARTED_AT),
            replicas=None if replicas is None else int(replicas),
            revision=revision,
            previous_revision=previous,
        )

    def _revisions(
        self, namespace: str, uid: str, meta: dict[str, Any]
    ) -> tuple[int | None, int | None]:
        """The Deployment's revision and the highest older ReplicaSet revision."""
        current = (meta.get("annotations") or {}).get(REVISION)
        if current is None:
            return None, None
        rss = self.apps.list_namespaced_replica_set(namespace).items
        older = []
        for rs in rss:
            owners = rs.metadata.owner_references or []
            if not any(o.uid == uid for o in owners):
                continue
            rev = (rs.metadata.annotations or {}).get(REVISION)
            if rev is not None and int(rev) < int(current):
                older.append(int(rev))
        return int(current), (max(older) if older else None)

    def pod_uids(self, namespace: str, names: list[str]) -> dict[str, str]:
        """name -> uid of those pods that exist and are not being deleted."""
        out = {}
        for name in names:
            try:
                pod = self.pods.read_namespaced_pod(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            if pod.metadata.deletion_timestamp is None:
                out[name] = str(pod.metadata.uid)
        return out

    def job_exists(self, namespace: str, name: str) -> bool:
        try:
            self.batch.read_namespaced_job(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- actions --------------------------------------------------------------------------
    def rollout_restart(self, namespace: str, ref: TargetRef, restarted_at: str) -> None:
        """What ``kubectl rollout restart`` does: a new pod-template annotation value."""
        resource = self._resource(ref)
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}}
        try:
            resource.patch(
                name=ref.name,
                namespace=namespace,
                body=body,
                content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            raise ActionError(
                "ApiError", f"restart {ref}: {exc.status} {_status_message(exc)}"
            ) from exc

    def delete_pod(self, namespace: str, name: str, uid: str) -> bool:
        """Delete the pod with this UID; False when it is already gone or was replaced."""
        try:
            self.pods.delete_namespaced_pod(name, namespace, body={"preconditions": {"uid": uid}})
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise ActionError(
                "ApiError", f"delete pod {name}: {exc.status} {_status_message(exc)}"
            ) from exc
        return True

    def evict_pod(self, namespace: str, name: str, uid: str) -> bool:
        """Evict through the Eviction API. A 429 (a PodDisruptionBudget allows no disruption
        now) raises a retryable ActionError: the caller waits and retries, never forces."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
            "deleteOptions": {"preconditions": {"uid": uid}},
        }
        try:
            self.pods.create_namespaced_pod_eviction(name, namespace, body=body)
        except ApiException as exc:
            if exc.status in (404, 409) and "precondition" in _status_message(exc).lower():
                return False
            if exc.status == 404:
                return False
            if exc.status == 429:
                raise ActionError(
                    "DisruptionBudget",
                    f"eviction of {name} refused: {_status_message(exc)}",
                    retryable=True,
                ) from exc
            raise ActionError(
                "ApiError", f"evict pod {name}: {exc.status} {_status_message(exc)}"
            ) from exc
        return True

    def scale_to(self, namespace: str, ref: TargetRef, replicas: int) -> int:
        """Raise replicas to ``replicas`` through /scale; never lowers them.

        The write carries the resourceVersion it read, so it cannot overwrite a change it did
        not see. A busy workload (a crash-looping Deployment's status changes every few
        seconds) bumps that version often, so a 409 is re-read and retried here, a few times
        with a short backoff, as client-go's RetryOnConflict does: the target value is
        absolute, so a retry can never add twice. Only a conflict that outlasts the retries
        reaches the caller, as a retryable ActionError."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                state = self.read_scale(namespace, ref)
                if state.spec_replicas >= replicas:
                    return state.spec_replicas
                return self.patch_scale(namespace, ref, replicas, state.resource_version)
            except TargetError as exc:
                if exc.reason == "Conflict" and attempt + 1 < CONFLICT_RETRIES:
                    time.sleep(CONFLICT_BACKOFF_S * (attempt + 1))
                    continue
                raise ActionError(
                    exc.reason, exc.message, retryable=exc.reason == "Conflict"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def rollback(
        self, namespace: str, ref: TargetRef, from_revision: int, to_revision: int
    ) -> bool:
        """Put the pod template of revision ``to_revision`` back, as ``kubectl rollout undo``
        does; False (no change) when the Deployment is no longer at ``from_revision``."""
        try:
            dep = self.apps.read_namespaced_deployment(ref.name, namespace)
        except ApiException as exc:
            raise ActionError("ApiError", f"read {ref}: {exc.status} {exc.reason}") from exc
        current = (dep.metadata.annotations or {}).get(REVISION)
        if current is None or int(current) != from_revision:
            return False
        for rs in self.apps.list_namespaced_replica_set(namespace).items:
            owners = rs.metadata.owner_references or []
            rev = (rs.metadata.annotations or {}).get(REVISION)
            if any(o.uid == dep.metadata.uid for o in owners) and rev == str(to_revision):
                template = self.api.sanitize_for_serialization(rs.spec.template)
                labels = (template.get("metadata") or {}).get("labels") or {}
                labels.pop("pod-template-hash", None)
                patch = [
                    {
                        "op": "test",
                        "path": "/metadata/resourceVersion",
                        "value": dep.metadata.resource_version,
                    },
                    {"op": "replace", "path": "/spec/template", "value": template},
                ]
                try:
                    self.apps.patch_namespaced_deployment(ref.name, namespace, patch)
                except ApiException as exc:
                    raise ActionError(
                        "ApiError",
                        f"rollback {ref}: {exc.status} {_status_message(exc)}",
                        retryable=exc.status in (409, 422),
                    ) from exc
                return True
        raise ActionError("NoRevision", f"{ref} has no ReplicaSet at revision {to_revision}")

    def create_job(
        self, namespace: str, name: str, spec: dict[str, Any], labels: dict[str, str]
    ) -> bool:
        """Create the Job once; False when a Job of that name exists already."""
        body = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": spec,
        }
        try:
            self.batch.create_namespaced_job(namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise ActionError(
                "ApiError", f"create Job {name}: {exc.status} {_status_message(exc)}"
            ) from exc
        return True

    # -- Incidents and policies ------------------------------------------------------------
    def create_incident(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create an Incident; False when one with that (deterministic) name exists."""
        try:
            self.custom.create_namespaced_custom_object(
                self.group, self.version, namespace, "incidents", body
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def patch_incident(
        self,
        namespace: str,
        name: str,
        status: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
    ) -> bool:
        """Patch labels and/or status; False when the Incident no longer exists."""
        try:
            self._patch_incident(namespace, name, status, labels)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _patch_incident(
        self,
        namespace: str,
        name: str,
        status: dict[str, Any] | None,
        labels: dict[str, str] | None,
    ) -> None:
        if labels:
            self.custom.patch_namespaced_custom_object(
                self.group,
                self.version,
                namespace,
                "incidents",
                name,
                {"metadata": {"labels": labels}},
            )
        if status is not None:
            self.custom.patch_namespaced_custom_object_status(
                self.group, self.version, namespace, "incidents", name, {"status": status}
            )

    def list_incidents(self, namespace: str | None, label_selector: str) -> list[dict[str, Any]]:
        if namespace is None:
            out = self.custom.list_cluster_custom_object(
                self.group, self.version, "incidents", label_selector=label_selector
            )
        else:
            out = self.custom.list_namespaced_custom_object(
                self.group, self.version, namespace, "incidents", label_selector=label_selector
            )
        return list(out.get("items") or [])

    def delete_incident(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                self.group, self.version, namespace, "incidents", name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def patch_policy_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        try:
            self.custom.patch_namespaced_custom_object_status(
                self.group,
                self.version,
                namespace,
                "remediationpolicies",
                name,
                {"status": status},
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
