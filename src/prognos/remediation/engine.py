"""The escalation ladder: what an open incident should do next. Pure and deterministic.

:func:`step` looks at one incident, the current observation of its signal, the policy and the
guard inputs, updates the incident's bookkeeping (verification results, the next rung, the
state) and returns one :class:`Step` for the runner: plan a rung, execute a recorded action,
wait (until when, and why), escalate to people, or resolve. The runner calls it again after
every change, so each rule below stays small:

1. A ``Planned`` record without result is executed (after a restart: checked first).
2. A ``Blocked`` record (a PodDisruptionBudget said 429) is retried with the same key until its
   ``verifyWithin`` runs out, then the ladder moves on; it is never forced.
3. An applied record is verified: the signal must be back to normal for ``STABLE_S`` before its
   ``verifyBy``; otherwise it is ``Unverified`` and the next rung is due.
4. A new rung is planned only while the signal is firing (never on a resolved signal), after the
   guards; with no rung left the incident is ``Escalated`` once and people are told.
5. A signal back to normal (for ``STABLE_S``) with nothing in flight resolves the incident.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from prognos.remediation.guards import GuardInputs, GuardResult, check
from prognos.remediation.incidents import ActionRecord, ActionState, Incident, State
from prognos.remediation.policy import ActionSpec, PolicyConfig
from prognos.remediation.signals import Observation

#: The signal must stay normal this long before an action counts as verified (one healthy
#: watch event between two crashes is not a fix).
STABLE_S = 5.0
#: Retry period of an action a PodDisruptionBudget (or a lasting write conflict) refused.
BLOCKED_RETRY_S = 5.0
#: A held action is retried until its rung's verifyWithin passes, but never for less than
#: this: a verifyWithin shorter than one retry period would fail the rung without any retry.
BLOCKED_MIN_HOLD_S = 2 * BLOCKED_RETRY_S


class StepKind(StrEnum):
    NONE = "None"
    WAIT = "Wait"
    PLAN = "Plan"
    EXECUTE = "Execute"
    ESCALATE = "Escalate"
    RESOLVE = "Resolve"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    message: str = ""
    reason: str = ""
    until: float | None = None
    action: ActionSpec | None = None
    record: ActionRecord | None = None
    guard: GuardResult | None = None
    #: What changed in the incident's bookkeeping during this step (for events/notifications).
    verified: ActionRecord | None = None
    unverified: ActionRecord | None = None


def _resolve_or_wait(inc: Incident, obs: Observation, now: float, message: str) -> Step | None:
    """Debounced "back to normal": a Resolve step, a Wait until stable, or None if firing."""
    if obs.firing:
        inc.healthy_since = None
        return None
    if inc.healthy_since is None:
        inc.healthy_since = now
    stable_at = inc.healthy_since + STABLE_S
    if now < stable_at:
        return Step(StepKind.WAIT, "signal back to normal; confirming", "Confirming", stable_at)
    return Step(StepKind.RESOLVE, message, "Resolved")


def step(
    inc: Incident,
    obs: Observation,
    policy: PolicyConfig,
    guards: GuardInputs,
    now: float,
) -> Step:
    if inc.state is State.RESOLVED:
        return Step(StepKind.NONE)
    last = inc.last
    if last is not None and last.state is ActionState.PLANNED:
        return Step(StepKind.EXECUTE, "executing the planned action", "Acting", record=last)

    if last is not None and last.state is ActionState.BLOCKED:
        healed = _resolve_or_wait(inc, obs, now, "signal back to normal while the action was held")
        if healed is not None and healed.kind is StepKind.RESOLVE:
            last.state, last.finished_at = ActionState.SUPERSEDED, now
            return healed
        hold_s = max(_verify_within(policy, last), BLOCKED_MIN_HOLD_S)
        deadline = last.planned_at + hold_s
        if now < deadline:
            retry_at = (last.finished_at or last.planned_at) + BLOCKED_RETRY_S
            if now >= retry_at:
                return Step(StepKind.EXECUTE, "retrying the held action", "Retrying", record=last)
            return Step(StepKind.WAIT, last.message, "DisruptionBudget", min(retry_at, deadline))
        last.state, last.finished_at = ActionState.FAILED, now
        last.message = f"still refused after {int(hold_s)}s: {last.message}"
        inc.rung = last.rung + 1

    if last is not None and last.state in (ActionState.APPLIED, ActionState.DRY_RUN):
        healed = _resolve_or_wait(inc, obs, now, f"{last.name} worked: signal back to normal")
        verify_by = last.verify_by or now
        if healed is not None:
            if healed.kind is StepKind.RESOLVE and last.state is ActionState.APPLIED:
                last.state, last.finished_at = ActionState.VERIFIED, now
                return Step(StepKind.RESOLVE, healed.message, "Resolved", verified=last)
            if healed.kind is StepKind.RESOLVE:  # dry run: nothing was done, it healed alone
                last.finished_at = now
                return Step(StepKind.RESOLVE, "signal back to normal (dry run)", "Resolved")
            return healed
        if now < verify_by:
            inc.state = State.VERIFYING
            return Step(
                StepKind.WAIT,
                f"verifying {last.name} until {int(verify_by - now)}s from now",
                "Verifying",
                verify_by,
            )
        if last.state is ActionState.APPLIED:
            last.state = ActionState.UNVERIFIED
            last.message = (last.message + "; " if last.message else "") + (
                "signal still firing at the verification deadline"
            )
        last.finished_at = now
        inc.rung = last.rung + 1
        unverified: ActionRecord | None = last
    else:
        unverified = None

    if inc.state is State.ESCALATED:
        healed = _resolve_or_wait(inc, obs, now, "signal back to normal after escalation")
        return healed or Step(StepKind.NONE, "escalated: waiting for people or recovery")

    # A new rung is due (or none was tried yet).
    healed = _resolve_or_wait(
        inc,
        obs,
        now,
        "signal back to normal" + ("" if inc.actions else " without any action"),
    )
    if healed is not None:
        return healed
    if inc.rung >= len(policy.actions):
        inc.state = State.ESCALATED
        return Step(
            StepKind.ESCALATE,
            f"ladder exhausted after {len(inc.actions)} action(s); signal still firing",
            "Escalated",
            unverified=unverified,
        )
    spec = policy.actions[inc.rung]
    result = check(policy, spec, replace(guards, affected=obs.pods), now)
    if not result.allowed:
        return Step(
            StepKind.WAIT,
            result.message,
            result.reason,
            result.until,
            action=spec,
            guard=result,
            unverified=unverified,
        )
    return Step(
        StepKind.PLAN,
        f"rung {spec.rung}: {spec.name}",
        "Acting",
        action=spec,
        guard=result,
        unverified=unverified,
    )


def _verify_within(policy: PolicyConfig, record: ActionRecord) -> float:
    if 0 <= record.rung < len(policy.actions):
        return policy.actions[record.rung].verify_within_s
    return 120.0
