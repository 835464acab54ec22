"""scale_to's retry-on-conflict loop (pure control flow: the two /scale calls are faked;
the real 409 path is pinned by tests/integration/test_fault_conflicts.py)."""

from __future__ import annotations

from typing import Any

import pytest

from prognos.remediation import kube as kube_mod
from prognos.remediation.kube import (
    ActionError,
    RemediationKube,
    ScaleState,
    TargetError,
    TargetRef,
)

REF = TargetRef("apps/v1", "Deployment", "web")


class RacingKube(RemediationKube):
    """Loses the optimistic-concurrency race ``conflicts`` times, then wins."""

    def __init__(self, conflicts: int, replicas: int = 2) -> None:
        super().__init__(None)
        self.conflicts = conflicts
        self.replicas = replicas
        self.version = 1
        self.writes: list[tuple[int, str | None]] = []

    def read_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        return ScaleState(self.replicas, self.replicas, {}, "uid", str(self.version))

    def patch_scale(
        self, namespace: str, ref: TargetRef, replicas: int, resource_version: str | None = None
    ) -> int:
        self.writes.append((replicas, resource_version))
        if self.conflicts:
            self.conflicts -= 1
            self.version += 1  # someone else wrote in between
            raise TargetError("Conflict", "the object has been modified")
        self.replicas = replicas
        return replicas


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: Any) -> None:
    monkeypatch.setattr(kube_mod, "CONFLICT_BACKOFF_S", 0.0)


def test_a_conflict_is_re_read_and_retried_with_the_fresh_version():
    k = RacingKube(conflicts=2)
    assert k.scale_to("ns", REF, 5) == 5
    assert k.writes == [(5, "1"), (5, "2"), (5, "3")]


def test_a_retry_never_lowers_what_someone_else_raised_meanwhile():
    k = RacingKube(conflicts=1)

    def raced_patch(*args: Any, **kwargs: Any) -> int:
        k.replicas = 7  # the racing writer scaled further than we want
        raise TargetError("Conflict", "modified")

    k.patch_scale = raced_patch  # type: ignore[method-assign]
    assert k.scale_to("ns", REF, 5) == 7


def test_a_conflict_that_outlasts_the_retries_is_a_retryable_action_error():
    k = RacingKube(conflicts=kube_mod.CONFLICT_RETRIES)
    with pytest.raises(ActionError) as err:
        k.scale_to("ns", REF, 5)
    assert err.value.retryable and err.value.reason == "Conflict"
    assert len(k.writes) == kube_mod.CONFLICT_RETRIES


def test_other_errors_are_not_retried():
    k = RacingKube(conflicts=0)

    def forbidden(*args: Any, **kwargs: Any) -> int:
        raise TargetError("Forbidden", "no")

    k.patch_scale = forbidden  # type: ignore[method-assign]
    with pytest.raises(ActionError) as err:
        k.scale_to("ns", REF, 5)
    assert not err.value.retryable
