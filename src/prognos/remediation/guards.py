"""Guards every action passes before it is planned (DESIGN §5 rule 2). Pure.

Order, first refusal wins: pause annotation, the policy's circuit breaker, the operator-wide
circuit breaker, the per-target cooldown (from the newest action on the target by *any* policy;
only before an incident's first action: later rungs are paced by ``verifyWithin``), and for pod
actions the blast radius, which also chooses which affected pods may go. A refusal says until
when it holds (``None``: until something changes), so the runner sleeps exactly that long.
``dryRun`` is not a guard: a dry run goes through the same guards and records what it *would*
do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prognos.remediation.policy import POD_ACTIONS, ActionSpec, Limit, PolicyConfig


@dataclass(frozen=True)
class GuardInputs:
    paused_by: str | None = None
    policy_actions: Sequence[float] = ()
    global_actions: Sequence[float] = ()
    global_limit: Limit | None = None
    #: The newest action on the target by any policy (the cooldown is per target), and who.
    last_action_on_target: float | None = None
    last_action_by: str | None = None
    first_action: bool = True
    unavailable: frozenset[str] = frozenset()  # pods of the target not Ready now
    affected: Sequence[str] = ()  # pods showing the signal


@dataclass(frozen=True)
class GuardResult:
    allowed: bool
    reason: str = "Allowed"
    message: str = ""
    until: float | None = None
    pods: tuple[str, ...] = ()


def breaker(times: Sequence[float], limit: Limit, now: float) -> tuple[int, float | None]:
    """Actions inside the window, and when the oldest leaves it if the limit is reached."""
    inside = sorted(t for t in times if now - limit.window_s < t <= now)
    if len(inside) < limit.count:
        return len(inside), None
    return len(inside), inside[len(inside) - limit.count] + limit.window_s


def choose_pods(
    affected: Sequence[str], unavailable: frozenset[str], max_unavailable: int
) -> tuple[str, ...]:
    """Affected pods an action may take down so that at most ``max_unavailable`` pods are
    unavailable at once. Pods already unavailable go first: taking them down costs nothing."""
    down = set(unavailable)
    chosen: list[str] = []
    for pod in sorted(affected, key=lambda p: (p not in unavailable, p)):
        if len(down | {pod}) <= max_unavailable:
            chosen.append(pod)
            down.add(pod)
    return tuple(chosen)


def check(policy: PolicyConfig, action: ActionSpec, inputs: GuardInputs, now: float) -> GuardResult:
    if inputs.paused_by:
        return GuardResult(
            False, "Paused", f"prognos.io/paused is set on {inputs.paused_by}; no action taken"
        )
    if policy.max_actions is not None:
        count, until = breaker(inputs.policy_actions, policy.max_actions, now)
        if until is not None:
            return GuardResult(
                False,
                "CircuitOpen",
                f"policy circuit breaker: {count} actions in the last "
                f"{int(policy.max_actions.window_s)}s (max {policy.max_actions.count})",
                until,
            )
    if inputs.global_limit is not None:
        count, until = breaker(inputs.global_actions, inputs.global_limit, now)
        if until is not None:
            return GuardResult(
                False,
                "GlobalCircuitOpen",
                f"operator-wide circuit breaker: {count} actions in the last "
                f"{int(inputs.global_limit.window_s)}s (max {inputs.global_limit.count})",
                until,
            )
    if inputs.first_action and inputs.last_action_on_target is not None:
        ready_at = inputs.last_action_on_target + policy.cooldown_s
        if now < ready_at:
            return GuardResult(
                False,
                "Cooldown",
                f"last action on this target {now - inputs.last_action_on_target:.0f}s ago"
                + (f" (by {inputs.last_action_by})" if inputs.last_action_by else "")
                + f"; cooldown {int(policy.cooldown_s)}s",
                ready_at,
            )
    if action.kind in POD_ACTIONS:
        pods = choose_pods(inputs.affected, inputs.unavailable, policy.max_unavailable)
        if not inputs.affected:
            return GuardResult(False, "NoAffectedPods", "no pod shows the signal any more")
        if not pods:
            return GuardResult(
                False,
                "BlastRadius",
                f"{len(inputs.unavailable)} pod(s) already unavailable; maxUnavailable is "
                f"{policy.max_unavailable}",
            )
        return GuardResult(True, pods=pods)
    return GuardResult(True)
