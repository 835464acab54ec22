"""Runs RemediationPolicies: signals in, guarded actions out, every step logged in Incidents.

No kopf here: ``prognos.operator.remediation`` feeds pod watch events into
:meth:`RemediationRuntime.on_pod_event` and runs one :class:`PolicyRunner` per policy in a Kopf
daemon. The decision code is pure (``engine``, ``guards``, ``actions``, ``signals``); this
module gathers observations, executes the steps through ``kube`` (in worker threads, so the
event loop keeps serving watches) and writes Incidents, Events and notifications.

Latency: a pod event wakes the runners of its namespace at once; nothing here polls pods. A
runner otherwise sleeps until the next thing that is due (a Prometheus evaluation, a
verification deadline, a guard expiring, a ``notReadyFor`` deadline).

Write-ahead: an action is persisted as ``Planned`` in its Incident before it is executed and its
result after. Records found ``Planned`` when a runner starts were interrupted by a crash: they
are checked against the cluster (``actions.took_effect``) before anything is executed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prognos.anomaly import StreamingDetector
from prognos.api import API_VERSION, PAUSED_ANNOTATION
from prognos.api.conditions import set_condition
from prognos.logs import get_logger
from prognos.metrics import MetricsError, PrometheusSource
from prognos.notify.base import Notifier
from prognos.notify.events import EventType, NotificationEvent, Severity
from prognos.notify.metrics import OUTBOX_DROPPED
from prognos.notify.outbox import MAX_OUTBOX, OutboxEntry
from prognos.remediation import actions as act
from prognos.remediation.alerts import AlertHub
from prognos.remediation.engine import Step, StepKind, step
from prognos.remediation.guards import GuardInputs, breaker
from prognos.remediation.incidents import (
    OPEN_LABEL,
    POLICY_LABEL,
    ActionRecord,
    ActionState,
    Incident,
    State,
    action_key,
    dns_label,
    incident_name,
    iso,
    retention,
)
from prognos.remediation.kube import (
    ActionError,
    RemediationKube,
    TargetError,
    TargetRef,
    WorkloadInfo,
)
from prognos.remediation.metrics import ACTIONS, INCIDENTS_OPENED
from prognos.remediation.policy import (
    Limit,
    PolicyConfig,
    Selector,
    SignalSpec,
    SpecError,
    Target,
    policy_from_spec,
)
from prognos.remediation.signals import (
    Observation,
    PodView,
    RestartTracker,
    evaluate_kubernetes,
    pod_view,
)

log = get_logger("prognos.remediation")

#: Test hooks (documented in docs/remediation.md): sleep this many seconds right after an
#: action is written as Planned / right after it was executed but before its result is
#: written, so a test can SIGKILL the operator exactly there. Unset in production.
PAUSE_AFTER_PLAN_ENV = "PROGNOS_TEST_PAUSE_AFTER_PLAN"
PAUSE_AFTER_ACT_ENV = "PROGNOS_TEST_PAUSE_AFTER_ACT"
#: Upper bound of a runner's sleep: conditions are re-derived at least this often.
IDLE_S = 30.0
_GUARD_REASONS = {
    "Paused",
    "CircuitOpen",
    "GlobalCircuitOpen",
    "Cooldown",
    "BlastRadius",
    "DisruptionBudget",
}


def _env_seconds(name: str) -> float:
    try:
        return max(0.0, float(os.environ.get(name, "0") or 0))
    except ValueError:
        return 0.0


def _ref(target: Target) -> TargetRef:
    return TargetRef(target.api_version, target.kind, target.name)


def _verification(record: ActionRecord, target: Target, verified: bool) -> dict[str, Any]:
    """``details`` keys of a Verification event: the result, the action, how long it took.

    ``verifySeconds`` runs from the action's ``appliedAt`` to its verification result (the
    signal stable again, or the ``verifyBy`` deadline passed). Everything comes from the
    record, and the event is recorded in the Incident's outbox with the transition, so a re-sent
    copy carries the same figures.
    """
    start = record.applied_at if record.applied_at is not None else record.planned_at
    end = record.finished_at if record.finished_at is not None else start
    return {
        "verified": verified,
        "action": act.describe(record, target),
        "actionType": record.type,
        "actionKey": record.key,
        "rung": record.rung,
        "appliedAt": iso(record.applied_at),
        "verifiedAt": iso(end),
        "verifySeconds": round(max(0.0, end - start), 3),
    }


_APPLIED_STATES = (ActionState.APPLIED, ActionState.VERIFIED, ActionState.UNVERIFIED)


def action_result(before: ActionState | None, now: ActionState) -> str | None:
    """The ``result`` label to count when a record written as ``before`` (None: never written)
    is written as ``now``; None when this write records no result (``prognos.remediation.metrics``).

    Only a record without a result yet (new, ``Planned`` or ``Blocked``) can get one, so every
    action is counted once: a held action applied on a retry is ``applied``, one given up or
    superseded while held is ``blocked``; verification does not count the action again.
    """
    if before is not None and before not in (ActionState.PLANNED, ActionState.BLOCKED):
        return None
    if now in _APPLIED_STATES:
        return "applied"
    if now is ActionState.DRY_RUN:
        return "dry_run"
    if now is ActionState.FAILED:
        return "blocked" if before is ActionState.BLOCKED else "failed"
    if now is ActionState.SUPERSEDED and before is ActionState.BLOCKED:
        return "blocked"
    return None


@dataclass(frozen=True)
class TargetAction:
    """The newest action planned on a target, and the policy that planned it."""

    at: float
    policy: str


@dataclass
class RemediationRuntime:
    """Shared by every policy runner: clients, the pod cache, the operator-wide breaker and
    the last action per target (the cooldown's input, whichever policy acted)."""

    kube: RemediationKube
    prometheus: PrometheusSource
    #: Read at every publish: the notification side installs its dispatcher at start-up.
    notifier_of: Callable[[], Notifier]
    alerts: AlertHub
    global_limit: Limit | None = None
    pods: dict[str, dict[str, PodView]] = field(default_factory=dict)
    restarts: RestartTracker = field(default_factory=RestartTracker)
    runners: dict[tuple[str, str], PolicyRunner] = field(default_factory=dict)
    global_actions: list[float] = field(default_factory=list)
    #: Per (namespace, target): the newest live action and the newest dry-run record, from
    #: every policy's Incidents (seeded from one list at start, then kept by the runners).
    target_actions: dict[tuple[str, Target], TargetAction] = field(default_factory=dict)
    target_dry_runs: dict[tuple[str, Target], TargetAction] = field(default_factory=dict)
    pause_after_plan: float = field(default_factory=lambda: _env_seconds(PAUSE_AFTER_PLAN_ENV))
    pause_after_act: float = field(default_factory=lambda: _env_seconds(PAUSE_AFTER_ACT_ENV))
    _seeded: bool = False
    _seed_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def on_pod_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Update the pod cache from a watch event and wake the runners of that namespace."""
        view = pod_view(body)
        if not view.namespace or not view.uid:
            return
        cache = self.pods.setdefault(view.namespace, {})
        old = cache.get(view.uid)
        if event_type == "DELETED":
            cache.pop(view.uid, None)
            self.restarts.forget(view.uid)
        else:
            cache[view.uid] = view
            self.restarts.observe(view, time.time())
        labels = [view.labels] if old is None else [old.labels, view.labels]
        for (namespace, _), runner in list(self.runners.items()):
            if namespace == view.namespace and runner.concerns(labels):
                runner.wake()

    def pods_in(self, namespace: str) -> list[PodView]:
        return list(self.pods.get(namespace, {}).values())

    async def seed_global(self) -> None:
        """Seed the operator-wide breaker and the per-target cooldowns from every Incident
        once (they survive restarts).

        Every runner calls this when it starts, and after a restart they all start together:
        the lock makes the others wait for the first seed (each seeding too counted every
        recent action once per policy and held the breaker open for up to its window).
        """
        async with self._seed_lock:
            if self._seeded:
                return
            try:
                items = await asyncio.to_thread(self.kube.list_incidents, None, POLICY_LABEL)
            except Exception as exc:  # no list permission or API down: count from now on
                log.warning("remediation.seed_failed", error=str(exc))
                return
            cutoff = time.time() - (self.global_limit.window_s if self.global_limit else 0.0)
            for obj in items:
                inc = Incident.from_object(obj)
                self.note_incident(inc)
                if self.global_limit is None:
                    continue
                for record in inc.actions:
                    if record.state is not ActionState.DRY_RUN and record.planned_at > cutoff:
                        self.global_actions.append(record.planned_at)
            self._seeded = True

    def note_action(
        self, namespace: str, target: Target, at: float, policy: str, dry_run: bool
    ) -> None:
        """An action was planned on ``target`` (by any policy): the cooldown counts from it."""
        table = self.target_dry_runs if dry_run else self.target_actions
        key = (namespace, target)
        known = table.get(key)
        if known is None or at > known.at:
            table[key] = TargetAction(at, policy)

    def note_incident(self, inc: Incident) -> None:
        for record in inc.actions:
            self.note_action(
                inc.namespace,
                inc.target,
                record.planned_at,
                inc.policy,
                record.state is ActionState.DRY_RUN,
            )

    def last_action_on(self, namespace: str, target: Target, dry_run: bool) -> TargetAction | None:
        """The newest action on ``target`` by any policy; a dry-run policy also counts dry-run
        records (it previews what a live policy would be allowed), a live one never does."""
        live = self.target_actions.get((namespace, target))
        dry = self.target_dry_runs.get((namespace, target)) if dry_run else None
        candidates = [x for x in (live, dry) if x is not None]
        return max(candidates, key=lambda x: x.at) if candidates else None

    def count_global(self, t: float) -> None:
        self.global_actions.append(t)
        if self.global_limit is not None:
            cutoff = t - self.global_limit.window_s
            self.global_actions[:] = [x for x in self.global_actions if x > cutoff]


@dataclass
class _PromState:
    detector: StreamingDetector | None = None
    next_eval: float = 0.0
    observation: Observation | None = None
    error: str | None = None
    spec_key: str = ""
    last_sample: float = float("-inf")


class PolicyRunner:
    """One RemediationPolicy: its incidents, its detectors, its decision loop."""

    def __init__(
        self,
        runtime: RemediationRuntime,
        namespace: str,
        name: str,
        get_body: Callable[[], Mapping[str, Any]],
    ) -> None:
        self.rt = runtime
        self.namespace = namespace
        self.name = name
        self.get_body = get_body
        self.incidents: dict[str, Incident] = {}
        #: Incidents created whose first status write (with IncidentOpened) never happened.
        self.unannounced: set[str] = set()
        self.resuming: set[str] = set()
        self.action_times: list[float] = []
        self.prom: dict[str, _PromState] = {}
        self.conditions: list[dict[str, Any]] = []
        self.config: PolicyConfig | None = None
        self.config_key = ""
        self._wake = asyncio.Event()
        self._last_status: dict[str, Any] = {}
        #: Per Incident, the state of each action record (by key) as last written: what the
        #: metrics have counted. No entry: this process has not seen the Incident written yet.
        self.recorded: dict[str, dict[str, ActionState]] = {}

    # -- lifecycle ------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def concerns(self, labels: list[Mapping[str, str]]) -> bool:
        """Whether a pod with these labels (before/after the event) can matter to this policy.

        Only a parsed ``selector`` policy filters: its pods are exactly those it matches, so
        other pods' events need not wake it (with hundreds of policies in one namespace, waking
        all of them re-scanned every pod per event). A spec change wakes the runner through the
        policy's own event and re-parses; workload targets and unparsed policies always wake.
        """
        cfg = self.config
        if cfg is None or cfg.target is not None or cfg.selector is None:
            return True
        return any(cfg.selector.matches(x) for x in labels)

    async def load(self) -> None:
        """Read this policy's Incidents back: open ones resume, all of them feed the guards."""
        items = await asyncio.to_thread(
            self.rt.kube.list_incidents,
            self.namespace,
            f"{POLICY_LABEL}={dns_label(self.name, 63)}",
        )
        for obj in items:
            inc = Incident.from_object(obj)
            if inc.policy != self.name:
                continue
            self.incidents[inc.name] = inc
            if not (obj.get("status") or {}).get("state"):
                # Created, then the operator stopped before the first status write, which
                # carries IncidentOpened: the next tick records it.
                self.unannounced.add(inc.name)
            else:
                self.recorded[inc.name] = {a.key: a.state for a in inc.actions}
            if inc.outbox:
                # Recorded but not known settled (the last operator stopped first): again, with
                # the same delivery ids, so receivers can tell a re-send.
                sent = self.republish(inc)
                log.info("remediation.outbox_republished", incident=inc.name, entries=sent)
            # Dry-run records count too: a dry run previews what the breaker would allow.
            self.action_times.extend(a.planned_at for a in inc.actions)
            self.rt.note_incident(inc)  # in case the start-up seed could not list
            pending = inc.pending()
            if inc.open and pending is not None:
                self.resuming.add(pending.key)
                log.info(
                    "remediation.resume",
                    incident=inc.name,
                    action=pending.type,
                    key=pending.key,
                )

    async def run(self, stopped: Any) -> None:
        """Tick until ``stopped``; a tick never raises (a bug costs a tick, not the policy)."""
        await self.rt.seed_global()
        loaded = False
        self.rt.alerts.listen(self, self.wake)
        try:
            while not stopped:
                if not loaded:
                    try:
                        await self.load()
                        loaded = True
                    except Exception as exc:
                        log.warning("remediation.load_failed", policy=self.name, error=str(exc))
                        await asyncio.sleep(5)
                        continue
                self._wake.clear()
                try:
                    delay = await self.tick()
                except Exception:
                    log.exception("remediation.tick_failed", policy=f"{self.namespace}/{self.name}")
                    delay = 10.0
                if delay > 0:
                    await self._sleep(stopped, delay)
        finally:
            self.rt.alerts.unlisten(self)

    async def _sleep(self, stopped: Any, delay: float) -> None:
        """Until woken (a pod event, an alert, a policy change), stopped, or ``delay`` passes."""
        waiters = [asyncio.ensure_future(self._wake.wait())]
        if hasattr(stopped, "wait"):  # kopf.DaemonStopped: stop promptly on shutdown
            waiters.append(asyncio.ensure_future(stopped.wait()))
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # -- one tick -------------------------------------------------------------------------
    def _parse(self, spec: Mapping[str, Any]) -> PolicyConfig:
        key = repr(spec)
        if self.config is None or key != self.config_key:
            self.config = policy_from_spec(spec)
            self.config_key = key
        return self.config

    async def tick(self) -> float:
        body = self.get_body()
        spec: Mapping[str, Any] = body.get("spec") or {}
        meta: Mapping[str, Any] = body.get("metadata") or {}
        gen = int(meta.get("generation") or 0)
        now = time.time()
        try:
            policy = self._parse(spec)
        except (SpecError, KeyError, TypeError, ValueError) as exc:
            self._cond("Ready", False, "InvalidSpec", str(exc), gen)
            await self._write_policy_status(gen, {})
            return IDLE_S

        paused_by = None
        if str((meta.get("annotations") or {}).get(PAUSED_ANNOTATION, "")).lower() == "true":
            paused_by = f"RemediationPolicy/{self.name}"
        groups, workloads, problem = await self._targets(policy)
        if problem is not None:
            self._cond("Ready", False, problem[0], problem[1], gen)
        else:
            self._cond("Ready", True, "Watching", "signals evaluated", gen)

        due: list[float] = [now + IDLE_S]
        signal_states: dict[str, tuple[bool, str]] = {}
        for sig in policy.signals:
            observations = await self._observe(sig, policy, groups, now, due)
            # Targets with an open incident but no pods any more still need an observation.
            for inc in self._open(sig.name):
                if inc.target not in observations:
                    observations[inc.target] = Observation(False, "target has no matching pods")
            firing = [t for t, o in observations.items() if o.firing]
            signal_states[sig.name] = (
                bool(firing),
                "; ".join(f"{t}: {observations[t].summary}" for t in firing)[:1024] or "not firing",
            )
            for target, obs in observations.items():
                if obs.next_change is not None:
                    due.append(obs.next_change)
                if obs.evidence.get("unknown"):
                    continue  # no data is no evidence: neither act nor resolve
                found = self._open_for(sig.name, target)
                if found is None:
                    if not obs.firing:
                        continue
                    found = await self._open_incident(policy, sig, target, obs, now)
                    if found is None:
                        continue
                    inc = found
                else:
                    inc = found
                    inc.last_evidence = {**obs.evidence, "summary": obs.summary, "at": iso(now)}
                    if inc.name in self.unannounced:
                        self._announce(policy, sig, inc, obs)
                target_paused = paused_by
                info = workloads.get(target)
                if (
                    target_paused is None
                    and info is not None
                    and str(info.annotations.get(PAUSED_ANNOTATION, "")).lower() == "true"
                ):
                    target_paused = str(target)
                try:
                    until = await self._drive(
                        policy, inc, obs, groups.get(target, []), target_paused
                    )
                finally:
                    await self._flush(inc)
                if until is not None:
                    due.append(until)
        await self._retention(policy, now)
        await self._write_policy_status(gen, signal_states)
        return max(0.05, min(due) - time.time())

    async def _targets(
        self, policy: PolicyConfig
    ) -> tuple[dict[Target, list[PodView]], dict[Target, WorkloadInfo], tuple[str, str] | None]:
        """Pods per target, and the workloads read (selector, annotations, revision)."""
        pods = [p for p in self.rt.pods_in(self.namespace) if p.active]
        if policy.target is not None:
            try:
                info = await asyncio.to_thread(
                    self.rt.kube.read_workload, self.namespace, _ref(policy.target)
                )
            except TargetError as exc:
                return {policy.target: []}, {}, (exc.reason, exc.message)
            selector = Selector.from_spec(info.selector)
            return (
                {policy.target: [p for p in pods if selector.matches(p.labels)]},
                {policy.target: info},
                None,
            )
        assert policy.selector is not None
        groups: dict[Target, list[PodView]] = {}
        for pod in pods:
            if policy.selector.matches(pod.labels):
                groups.setdefault(pod.target, []).append(pod)
        return groups, {}, None

    async def _observe(
        self,
        sig: SignalSpec,
        policy: PolicyConfig,
        groups: dict[Target, list[PodView]],
        now: float,
        due: list[float],
    ) -> dict[Target, Observation]:
        if sig.kubernetes is not None:
            return {
                target: evaluate_kubernetes(sig.kubernetes, pods, now, self.rt.restarts)
                for target, pods in groups.items()
            }
        assert policy.target is not None  # the schema and the parser require it
        if sig.alert is not None:
            alerts = self.rt.alerts.firing(sig.alert, now)
            expiry = self.rt.alerts.next_expiry(sig.alert)
            if expiry is not None:
                due.append(expiry)
            if not alerts:
                return {policy.target: Observation(False, f"no firing {sig.alert.alertname}")}
            first = alerts[0]
            return {
                policy.target: Observation(
                    True,
                    f"alert {first.alertname} firing ({len(alerts)})",
                    {"alert": first.evidence(), "alerts": len(alerts)},
                )
            }
        return {policy.target: await self._prometheus(sig, now, due)}

    async def _prometheus(self, sig: SignalSpec, now: float, due: list[float]) -> Observation:
        assert sig.prometheus is not None
        cfg = sig.prometheus
        state = self.prom.setdefault(sig.name, _PromState())
        key = repr(cfg.raw)
        if state.spec_key != key:
            self.prom[sig.name] = state = _PromState(spec_key=key)
        if now < state.next_eval and state.observation is not None:
            due.append(state.next_eval)
            return state.observation
        state.next_eval = now + cfg.interval_s
        due.append(state.next_eval)
        if state.detector is None:
            state.detector = await self._build_detector(sig)
        try:
            sample = await asyncio.to_thread(self.rt.prometheus.instant, cfg.query)
        except MetricsError as exc:
            state.error = exc.reason
            state.observation = Observation(
                False, f"{exc.reason}: {exc.message}", {"unknown": True, "reason": exc.reason}
            )
            return state.observation
        state.error = None
        detector = state.detector
        if detector is not None and sample.timestamp > state.last_sample:
            state.last_sample = sample.timestamp
            try:
                verdict = detector.update(sample.timestamp, sample.value)
            except ValueError:  # not after the replayed history: nothing new to score
                return state.observation or Observation(False, "waiting for a new sample")
            evidence = {
                "query": cfg.query,
                "value": f"{verdict.value:.6g}",
                "score": f"{verdict.score:.3f}",
                "detector": verdict.detector,
                "expected": None if verdict.expected is None else f"{verdict.expected:.6g}",
                "lower": None if verdict.lower is None else f"{verdict.lower:.6g}",
                "upper": None if verdict.upper is None else f"{verdict.upper:.6g}",
                "sampleTime": iso(sample.timestamp),
            }
            evidence = {k: v for k, v in evidence.items() if v is not None}
            summary = (
                f"{cfg.query} = {verdict.value:.4g} (score {verdict.score:.2f}"
                + (
                    f", normal {verdict.lower:.4g}..{verdict.upper:.4g}"
                    if verdict.lower is not None and verdict.upper is not None
                    else ""
                )
                + ")"
            )
            state.observation = Observation(verdict.firing, summary, evidence)
        elif state.observation is None:
            state.observation = Observation(False, "waiting for a new sample")
        return state.observation

    async def _build_detector(self, sig: SignalSpec) -> StreamingDetector:
        """A detector warmed up from a range read (threshold detectors need no history)."""
        assert sig.prometheus is not None
        cfg = sig.prometheus
        detector = StreamingDetector(cfg.detector)
        if cfg.detector.detector == "threshold":
            return detector
        step = cfg.interval_s
        span = min(detector.history_needed().total_seconds(), step * 10_000)
        end = time.time()
        try:
            history = await asyncio.to_thread(
                self.rt.prometheus.range, cfg.query, end - span, end, step
            )
        except MetricsError as exc:
            log.info("remediation.no_history", policy=self.name, signal=sig.name, reason=exc.reason)
            return detector
        return await asyncio.to_thread(StreamingDetector.from_history, cfg.detector, history)

    # -- incidents ------------------------------------------------------------------------
    def _open(self, signal: str) -> list[Incident]:
        return [i for i in self.incidents.values() if i.open and i.signal == signal]

    def _open_for(self, signal: str, target: Target) -> Incident | None:
        return next((i for i in self._open(signal) if i.target == target), None)

    async def _open_incident(
        self, policy: PolicyConfig, sig: SignalSpec, target: Target, obs: Observation, now: float
    ) -> Incident | None:
        name = incident_name(self.name, sig.name, target, now)
        inc = Incident(
            name=name,
            namespace=self.namespace,
            policy=self.name,
            signal=sig.name,
            signal_kind=sig.kind,
            target=target,
            opened_at=now,
            message=obs.summary,
            evidence={**obs.evidence, "summary": obs.summary, "at": iso(now)},
        )
        body = self.get_body()
        uid = str((body.get("metadata") or {}).get("uid") or "")
        owner = (
            {
                "apiVersion": API_VERSION,
                "kind": "RemediationPolicy",
                "name": self.name,
                "uid": uid,
            }
            if uid
            else None
        )
        self._announce(policy, sig, inc, obs)
        try:
            await asyncio.to_thread(
                self.rt.kube.create_incident, self.namespace, inc.manifest(API_VERSION, owner)
            )
            self.incidents[name] = inc
            await self._persist(inc)
        except Exception as exc:
            self.incidents.pop(name, None)
            log.warning("remediation.incident_create_failed", incident=name, error=str(exc))
            return None
        log.info("remediation.incident_opened", incident=name, target=str(target), signal=sig.name)
        return inc

    def _announce(
        self, policy: PolicyConfig, sig: SignalSpec, inc: Incident, obs: Observation
    ) -> None:
        """Record IncidentOpened (in the Incident's first status write)."""
        self.unannounced.discard(inc.name)
        self._notify(
            policy,
            inc,
            EventType.INCIDENT_OPENED,
            Severity.WARNING,
            f"{sig.name} firing on {inc.target}",
            obs.summary,
        )

    async def _persist(self, inc: Incident, labels: bool = False) -> None:
        """Write the Incident's status; then publish the notifications this write recorded.

        A notification is in the outbox (``status.outbox``) of the very write that records the
        transition it reports, and goes out only once that write succeeded: a crash before it
        loses both the transition and its notification (the transition is decided again), a
        crash after it leaves the entry in the outbox for the next start to send.
        """
        status = inc.status()
        patch = dict(status.get("outbox") or {})
        unsent = list(inc.unsent)
        found = await asyncio.to_thread(
            self.rt.kube.patch_incident,
            self.namespace,
            inc.name,
            status,
            {OPEN_LABEL: "true" if inc.open else "false"} if labels else None,
        )
        entries = inc.written(patch, unsent)
        if found:
            self._count(inc)
        else:
            # Deleted by someone: forget it; a still-firing signal opens a new episode.
            log.warning("remediation.incident_gone", incident=inc.name)
            self.incidents.pop(inc.name, None)
            self.recorded.pop(inc.name, None)
        for entry in entries:  # (gone: still told, best effort; nothing durable is left)
            self._publish(inc, entry)

    def _count(self, inc: Incident) -> None:
        """Count what the write of ``inc`` just recorded: its opening (its first status write,
        with IncidentOpened) and every action result it holds for the first time."""
        before = self.recorded.get(inc.name)
        if before is None:
            INCIDENTS_OPENED.labels(self.namespace, inc.policy, inc.signal).inc()
            before = {}
        for record in inc.actions:
            result = action_result(before.get(record.key), record.state)
            if result is not None:
                ACTIONS.labels(self.namespace, inc.policy, record.type, result).inc()
        self.recorded[inc.name] = {a.key: a.state for a in inc.actions}

    async def _flush(self, inc: Incident) -> None:
        """Write the Incident if it holds notifications no write has carried yet."""
        if inc.unsent and inc.name in self.incidents:
            await self._persist(inc)

    def _guard_inputs(
        self,
        policy: PolicyConfig,
        inc: Incident,
        obs: Observation,
        pods: list[PodView],
        paused_by: str | None,
    ) -> GuardInputs:
        # Every policy's actions on this target count (the cooldown is per target): kept by
        # the runtime, seeded from the Incidents at start, no API call here.
        last = self.rt.last_action_on(self.namespace, inc.target, policy.dry_run)
        return GuardInputs(
            paused_by=paused_by,
            policy_actions=list(self.action_times),
            global_actions=list(self.rt.global_actions),
            global_limit=self.rt.global_limit,
            last_action_on_target=None if last is None else last.at,
            last_action_by=None if last is None else f"RemediationPolicy/{last.policy}",
            first_action=not inc.actions,
            unavailable=frozenset(p.name for p in pods if not p.ready),
            affected=obs.pods,
        )

    async def _drive(
        self,
        policy: PolicyConfig,
        inc: Incident,
        obs: Observation,
        pods: list[PodView],
        paused_by: str | None,
    ) -> float | None:
        """Run engine steps on one incident until it has to wait; return when to look again."""
        for _ in range(8):
            now = time.time()
            before = (inc.state, inc.rung, len(inc.actions), inc.last.state if inc.last else None)
            s = step(inc, obs, policy, self._guard_inputs(policy, inc, obs, pods, paused_by), now)
            if s.unverified is not None:
                self._notify(
                    policy,
                    inc,
                    EventType.VERIFICATION,
                    Severity.WARNING,
                    f"{s.unverified.name} did not fix {inc.signal} on {inc.target}",
                    s.unverified.message,
                    extra=_verification(s.unverified, inc.target, verified=False),
                )
            if s.verified is not None:
                self._notify(
                    policy,
                    inc,
                    EventType.VERIFICATION,
                    Severity.INFO,
                    f"{s.verified.name} fixed {inc.signal} on {inc.target}",
                    s.message,
                    extra=_verification(s.verified, inc.target, verified=True),
                )
            if s.kind is StepKind.NONE:
                if before != (
                    inc.state,
                    inc.rung,
                    len(inc.actions),
                    inc.last.state if inc.last else None,
                ):
                    await self._persist(inc)
                return None
            if s.kind is StepKind.WAIT:
                await self._wait(inc, s, before)
                return s.until
            if s.kind is StepKind.RESOLVE:
                await self._resolve(policy, inc, s)
                return None
            if s.kind is StepKind.ESCALATE:
                await self._escalate(policy, inc, s)
                return None
            if s.kind is StepKind.PLAN:
                # Before any await: another policy's runner on this target must see it now.
                self.rt.note_action(self.namespace, inc.target, now, self.name, policy.dry_run)
                await self._plan(policy, inc, s, pods)
                continue
            if s.kind is StepKind.EXECUTE:
                assert s.record is not None
                await self._execute(policy, inc, s.record)
                continue
        return time.time() + 1.0

    async def _wait(self, inc: Incident, s: Step, before: tuple[Any, ...]) -> None:
        blocked = s.reason in _GUARD_REASONS
        message = s.message or s.reason
        gen = None
        conditions = set_condition(
            inc.conditions,
            "Blocked",
            blocked,
            s.reason if blocked else "NotBlocked",
            message if blocked else "no guard is holding the next action",
            gen,
        )
        changed = (
            conditions != inc.conditions
            or inc.message != message
            or before
            != (inc.state, inc.rung, len(inc.actions), inc.last.state if inc.last else None)
        )
        if not changed:
            return
        inc.conditions = conditions
        inc.message = message
        if inc.state is State.ACTING and s.reason != "DisruptionBudget":
            inc.state = State.OPEN
        await self._persist(inc)
        if blocked:
            log.info("remediation.blocked", incident=inc.name, reason=s.reason, message=message)

    async def _plan(
        self, policy: PolicyConfig, inc: Incident, s: Step, pods: list[PodView]
    ) -> None:
        assert s.action is not None
        spec = s.action
        now = time.time()
        key = action_key(inc.name, spec.rung, len(inc.actions))
        world = await self._world(inc.target, spec.kind, pods)
        record = ActionRecord(
            rung=spec.rung,
            name=spec.name,
            type=spec.kind,
            key=key,
            state=ActionState.PLANNED,
            planned_at=now,
        )
        try:
            record.params = act.plan(
                spec, world, s.guard.pods if s.guard else (), inc.name, key, now
            )
            if spec.kind == "job" and spec.job_template is not None:
                record.params["labels"] = {POLICY_LABEL: dns_label(self.name, 63)}
        except act.PlanError as exc:
            record.state, record.finished_at, record.message = ActionState.FAILED, now, str(exc)
            inc.actions.append(record)
            inc.rung = spec.rung + 1
            await self._persist(inc)
            self._event(inc, "RemediationSkipped", f"{spec.name}: {exc}", warn=True)
            return
        inc.actions.append(record)
        inc.conditions = set_condition(inc.conditions, "Blocked", False, "NotBlocked", "", None)
        what = act.describe(record, inc.target)
        if policy.dry_run:
            record.state = ActionState.DRY_RUN
            record.applied_at = now
            record.verify_by = now + spec.verify_within_s
            record.message = f"dry run: would {what}"
            inc.state = State.VERIFYING
            inc.message = record.message
            self.action_times.append(now)
            self._notify(
                policy, inc, EventType.WOULD_DO, Severity.INFO, f"would {what}", record.message
            )
            await self._persist(inc)
            self._event(inc, "RemediationDryRun", record.message)
            return
        inc.state = State.ACTING
        inc.message = f"planned: {what}"
        self.action_times.append(now)
        self.rt.count_global(now)
        self._notify(policy, inc, EventType.ACTION_PLANNED, Severity.INFO, f"planned: {what}", what)
        await self._persist(inc)  # the write-ahead record: before anything changes
        log.info(
            "remediation.planned",
            incident=inc.name,
            action=spec.kind,
            key=key,
            params=record.params,
        )
        if self.rt.pause_after_plan:
            log.warning(
                "remediation.test_pause", point="after-plan", seconds=self.rt.pause_after_plan
            )
            await asyncio.sleep(self.rt.pause_after_plan)

    async def _world(self, target: Target, kind: str, pods: list[PodView]) -> act.World:
        replicas = revision = previous = None
        if kind in ("scaleOut", "rollback") and not target.is_pod:
            try:
                if kind == "scaleOut":
                    scale = await asyncio.to_thread(
                        self.rt.kube.read_scale, self.namespace, _ref(target)
                    )
                    replicas = scale.spec_replicas
                else:
                    info = await asyncio.to_thread(
                        self.rt.kube.read_workload, self.namespace, _ref(target)
                    )
                    revision, previous = info.revision, info.previous_revision
            except TargetError as exc:
                log.warning("remediation.world_failed", target=str(target), error=exc.message)
        return act.World(
            target=target,
            replicas=replicas,
            revision=revision,
            previous_revision=previous,
            pods={p.name: p.uid for p in pods},
        )

    async def _observe_action(self, inc: Incident, record: ActionRecord) -> dict[str, Any]:
        kube, ns, ref = self.rt.kube, self.namespace, _ref(inc.target)
        if record.type == "rolloutRestart":
            info = await asyncio.to_thread(kube.read_workload, ns, ref)
            return {"restartedAt": info.restarted_at}
        if record.type in ("deletePod", "evictPod"):
            names = [p["name"] for p in record.params.get("pods") or []]
            return {"pods": await asyncio.to_thread(kube.pod_uids, ns, names)}
        if record.type == "scaleOut":
            scale = await asyncio.to_thread(kube.read_scale, ns, ref)
            return {"replicas": scale.spec_replicas}
        if record.type == "rollback":
            info = await asyncio.to_thread(kube.read_workload, ns, ref)
            return {"revision": info.revision}
        if record.type == "job":
            exists = await asyncio.to_thread(kube.job_exists, ns, str(record.params.get("jobName")))
            return {"jobExists": exists}
        return {}

    async def _apply(self, policy: PolicyConfig, inc: Incident, record: ActionRecord) -> str:
        """Execute ``record`` through kube; the returned text says what happened."""
        kube, ns, ref, p = self.rt.kube, self.namespace, _ref(inc.target), record.params
        if record.type == "rolloutRestart":
            await asyncio.to_thread(kube.rollout_restart, ns, ref, str(p["restartedAt"]))
            return f"restarted {inc.target}"
        if record.type in ("deletePod", "evictPod"):
            fn = kube.delete_pod if record.type == "deletePod" else kube.evict_pod
            done = []
            for pod in p.get("pods") or []:
                if await asyncio.to_thread(fn, ns, pod["name"], pod["uid"]):
                    done.append(pod["name"])
            verb = "deleted" if record.type == "deletePod" else "evicted"
            return f"{verb} {', '.join(done) or 'nothing (pods already gone)'}"
        if record.type == "scaleOut":
            now_replicas = await asyncio.to_thread(kube.scale_to, ns, ref, int(p["to"]))
            return f"scaled {inc.target} to {now_replicas} replicas"
        if record.type == "rollback":
            changed = await asyncio.to_thread(
                kube.rollback, ns, ref, int(p["fromRevision"]), int(p["toRevision"])
            )
            return (
                f"rolled {inc.target} back to revision {p['toRevision']}"
                if changed
                else f"{inc.target} already moved past revision {p['fromRevision']}"
            )
        if record.type == "job":
            spec = (
                policy.actions[record.rung].job_template
                if record.rung < len(policy.actions)
                else None
            )
            if spec is None:
                raise ActionError("NoTemplate", "the policy no longer has this job rung")
            created = await asyncio.to_thread(
                kube.create_job, ns, str(p["jobName"]), dict(spec), dict(p.get("labels") or {})
            )
            return f"{'created' if created else 'found existing'} Job {p['jobName']}"
        raise ActionError("Unknown", f"unknown action {record.type}")

    async def _execute(self, policy: PolicyConfig, inc: Incident, record: ActionRecord) -> None:
        what = act.describe(record, inc.target)
        verify_within = (
            policy.actions[record.rung].verify_within_s
            if record.rung < len(policy.actions)
            else 120.0
        )
        if record.key in self.resuming:
            self.resuming.discard(record.key)
            try:
                observed = await self._observe_action(inc, record)
            except Exception as exc:
                log.warning("remediation.observe_failed", incident=inc.name, error=str(exc))
                observed = None
            if observed is not None and act.took_effect(record, observed):
                now = time.time()
                # The interrupted process made this attempt (it is written with the result,
                # which it never wrote): count it, or the record says the change never ran.
                record.attempts += 1
                record.state, record.applied_at = ActionState.APPLIED, now
                record.verify_by = now + verify_within
                record.message = "found already applied after an operator restart; not repeated"
                inc.state = State.VERIFYING
                inc.message = f"{what} (confirmed after restart)"
                await self._persist(inc)
                self._event(inc, "RemediationConfirmed", f"{what}: {record.message}")
                log.info("remediation.confirmed", incident=inc.name, key=record.key)
                return
            log.info("remediation.resume_execute", incident=inc.name, key=record.key)
        record.attempts += 1
        try:
            result = await self._apply(policy, inc, record)
        except ActionError as exc:
            now = time.time()
            record.finished_at = now
            record.message = exc.message
            if exc.retryable:
                record.state = ActionState.BLOCKED
                inc.state = State.ACTING
                inc.message = f"waiting: {exc.message}"
                inc.conditions = set_condition(
                    inc.conditions, "Blocked", True, exc.reason, exc.message, None
                )
                if record.attempts == 1:
                    self._notify(
                        policy,
                        inc,
                        EventType.ACTION_FAILED,
                        Severity.WARNING,
                        f"held: {what}",
                        exc.message,
                    )
                await self._persist(inc)
                if record.attempts == 1:
                    self._event(inc, "RemediationBlocked", f"{what}: {exc.message}", warn=True)
                return
            record.state = ActionState.FAILED
            inc.rung = record.rung + 1
            inc.state = State.OPEN
            inc.message = f"failed: {exc.message}"
            self._notify(
                policy,
                inc,
                EventType.ACTION_FAILED,
                Severity.WARNING,
                f"failed: {what}",
                exc.message,
            )
            await self._persist(inc)
            self._event(inc, "RemediationFailed", f"{what}: {exc.message}", warn=True)
            return
        if self.rt.pause_after_act:
            log.warning(
                "remediation.test_pause", point="after-act", seconds=self.rt.pause_after_act
            )
            await asyncio.sleep(self.rt.pause_after_act)
        now = time.time()
        record.state, record.applied_at = ActionState.APPLIED, now
        record.verify_by = now + verify_within
        record.message = result
        inc.state = State.VERIFYING
        inc.message = f"applied: {what}; verifying within {int(verify_within)}s"
        inc.conditions = set_condition(inc.conditions, "Blocked", False, "NotBlocked", "", None)
        self._notify(
            policy, inc, EventType.ACTION_APPLIED, Severity.INFO, f"applied: {what}", result
        )
        await self._persist(inc)
        self._event(inc, "RemediationApplied", f"{what}: {result}")
        log.info(
            "remediation.applied",
            incident=inc.name,
            key=record.key,
            result=result,
            latency_s=round(now - record.planned_at, 3),
        )

    async def _resolve(self, policy: PolicyConfig, inc: Incident, s: Step) -> None:
        now = time.time()
        inc.state, inc.resolved_at, inc.message = State.RESOLVED, now, s.message
        for record in inc.actions:
            if record.state in (ActionState.PLANNED, ActionState.BLOCKED):
                record.state, record.finished_at = ActionState.SUPERSEDED, now
        inc.conditions = set_condition(inc.conditions, "Blocked", False, "NotBlocked", "", None)
        self._notify(
            policy,
            inc,
            EventType.RESOLVED,
            Severity.INFO,
            f"resolved: {inc.signal} on {inc.target}",
            s.message,
        )
        await self._persist(inc, labels=True)
        self._event(inc, "IncidentResolved", s.message)
        log.info("remediation.resolved", incident=inc.name, message=s.message)

    async def _escalate(self, policy: PolicyConfig, inc: Incident, s: Step) -> None:
        inc.message = s.message
        self._notify(
            policy,
            inc,
            EventType.ESCALATED,
            Severity.CRITICAL,
            f"needs a person: {inc.signal} on {inc.target}",
            s.message,
        )
        await self._persist(inc)
        self._event(inc, "IncidentEscalated", s.message, warn=True)
        log.warning("remediation.escalated", incident=inc.name, message=s.message)

    async def _retention(self, policy: PolicyConfig, now: float) -> None:
        for name in retention(self.incidents.values(), policy.keep_resolved, policy.ttl_s, now):
            try:
                await asyncio.to_thread(self.rt.kube.delete_incident, self.namespace, name)
            except Exception as exc:
                log.warning("remediation.retention_failed", incident=name, error=str(exc))
                continue
            self.incidents.pop(name, None)
            self.recorded.pop(name, None)
        window = policy.max_actions.window_s if policy.max_actions is not None else 0.0
        cutoff = now - max(window, policy.cooldown_s, 3600.0)
        self.action_times = [t for t in self.action_times if t > cutoff]

    # -- reporting ------------------------------------------------------------------------
    def _cond(self, type_: str, status: bool, reason: str, message: str, gen: int) -> None:
        self.conditions = set_condition(self.conditions, type_, status, reason, message, gen)

    async def _write_policy_status(self, gen: int, signals: dict[str, tuple[bool, str]]) -> None:
        policy = self.config
        now = time.time()
        in_window = 0
        if policy is not None and policy.max_actions is not None:
            in_window, _ = breaker(self.action_times, policy.max_actions, now)
        last_action = max(self.action_times, default=None)
        newest = max(self.incidents.values(), key=lambda i: i.opened_at, default=None)
        status: dict[str, Any] = {
            "observedGeneration": gen,
            "conditions": self.conditions,
            "openIncidents": sum(1 for i in self.incidents.values() if i.open),
            "actionsInWindow": in_window,
            "lastActionTime": iso(last_action),
            "lastIncident": newest.name if newest else None,
            "signals": [
                {"name": n, "firing": f, "message": m} for n, (f, m) in sorted(signals.items())
            ],
        }
        status = {k: v for k, v in status.items() if v is not None}
        if status == self._last_status:
            return
        try:
            await asyncio.to_thread(
                self.rt.kube.patch_policy_status, self.namespace, self.name, status
            )
            self._last_status = status
        except Exception as exc:
            log.warning("remediation.status_failed", policy=self.name, error=str(exc))

    def _event(self, inc: Incident, reason: str, message: str, warn: bool = False) -> None:
        """A Kubernetes Event on the target and one on the Incident (best effort, async)."""
        involved_target = {
            "apiVersion": inc.target.api_version,
            "kind": inc.target.kind,
            "name": inc.target.name,
        }
        involved_incident = {"apiVersion": API_VERSION, "kind": "Incident", "name": inc.name}
        text = f"RemediationPolicy {self.name}: {message}"
        kind = "Warning" if warn else "Normal"
        for involved in (involved_target, involved_incident):
            task = asyncio.get_running_loop().run_in_executor(
                None, self.rt.kube.event, self.namespace, involved, reason, text, kind
            )
            task.add_done_callback(lambda f: f.exception())

    def _notify(
        self,
        policy: PolicyConfig,
        inc: Incident,
        type_: EventType,
        severity: Severity,
        title: str,
        text: str,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a notification in ``inc``'s outbox; the next ``_persist`` writes, then sends it.

        Call it before the ``_persist`` of the transition it reports, so both are one write.
        ``extra`` adds keys to ``details`` (a Verification's result).
        """
        event = NotificationEvent(
            type=type_,
            severity=severity,
            title=title,
            text=text,
            namespace=self.namespace,
            target=str(inc.target),
            source=f"RemediationPolicy/{self.name}",
            time=iso(time.time()) or "",
            incident=inc.name,
            thread_key=inc.name,
            details={
                "signal": inc.signal,
                "signalKind": inc.signal_kind,
                "state": inc.state.value,
                "evidence": inc.evidence,
                "actions": [a.to_dict() for a in inc.actions[-5:]],
                "dryRun": policy.dry_run,
                **(extra or {}),
            },
        )
        _, dropped = inc.record_notification(event, policy.notify)
        for old in dropped:
            OUTBOX_DROPPED.labels(self.namespace).inc()
            log.warning(
                "remediation.outbox_full",
                incident=inc.name,
                dropped=old.key,
                kind=old.event.type.value,
                limit=MAX_OUTBOX,
            )

    def _publish(self, inc: Incident, entry: OutboxEntry) -> None:
        """Hand one outbox entry to the notifier; when it settles, ``inc`` forgets it."""

        def settled(inc: Incident = inc, key: str = entry.key) -> None:
            inc.settle(key)

        try:
            self.rt.notifier_of().publish(
                entry.outgoing(), list(entry.channels), self.namespace, settled
            )
        except Exception as exc:  # the notifier promises not to raise; never trust it here
            log.warning("remediation.notify_failed", incident=inc.name, error=str(exc))

    def republish(self, inc: Incident) -> int:
        """Publish every entry of ``inc``'s outbox again (after a restart); how many."""
        entries = list(inc.outbox.values())
        for entry in entries:
            self._publish(inc, entry)
        return len(entries)
