"""Prometheus metrics of remediation (served by the operator's ``/metrics``).

Both are counted by ``prognos.remediation.runner`` right after the Incident write that records
what they count, so one process counts a thing at most once; an operator that resumes an
Incident counts what it records itself (an action planned before a crash and found applied
after it is counted by the process that writes ``Applied``, once). Counters live in the process
registry and start at zero with the process, as Prometheus counters do.

``prognos_incidents_opened_total{namespace, policy, signal}``
    Incidents opened: counted at an Incident's first status write, the one that carries its
    ``IncidentOpened`` notification.

``prognos_remediation_actions_total{namespace, policy, action, result}``
    Actions by final result, counted once per action record when its result is written.
    ``action`` is the rung's type (``rolloutRestart``, ``deletePod``, ``evictPod``, ``scaleOut``,
    ``rollback``, ``job``); ``result`` is one of:

    * ``applied``: the change was made (``Applied``; also "found already applied after an
      operator restart"). Its later verification (``Verified``/``Unverified``) is not counted
      again here.
    * ``failed``: it could not apply (``Failed``: the API refused it, or planning found nothing
      to do, e.g. ``rollback`` without a previous revision, ``scaleOut`` already at ``max``).
    * ``blocked``: it was held (a PodDisruptionBudget's 429) and never applied: given up after
      its ``verifyWithin``, or superseded because the signal cleared while it was held. A held
      action that is applied on a retry counts as ``applied`` only.
    * ``dry_run``: a ``dryRun`` policy recorded what it would have done.

    A ``Planned`` record superseded before it ran (the incident resolved) has no result and is
    not counted.
"""

from __future__ import annotations

from prometheus_client import Counter

#: The values of the ``result`` label of ``prognos_remediation_actions_total``.
RESULTS = ("applied", "failed", "blocked", "dry_run")

INCIDENTS_OPENED = Counter(
    "prognos_incidents_opened_total",
    "Incidents opened, by policy and signal.",
    ["namespace", "policy", "signal"],
)
ACTIONS = Counter(
    "prognos_remediation_actions_total",
    "Remediation actions by final result (applied, failed, blocked, dry_run).",
    ["namespace", "policy", "action", "result"],
)
