"""Horizontal sharding: which PredictiveScalers and RemediationPolicies this process owns.

One operator process handles about 1,000 scalers plus 500 policies within its targets (see
``benchmarks/RESULTS.md``). Beyond that, run several shards, each an independent operator
(with its own peering group, so each shard can also have a standby). Two ways to split:

``--shard-count N --shard-index I`` (stable hash)
    An object belongs to shard ``jump_hash(sha256(namespace/name), N)``. The filter runs on
    the client (a Kopf ``when=`` filter on every handler of the two kinds), so it is correct
    on every Kubernetes version; each shard still receives every object's watch events, which
    are cheap next to the ticks it skips. Kubernetes 1.36 has an alpha server-side
    ``shardRange()`` selector, but a server without the feature gate silently ignores it, so
    every shard would act on every object: not used. The key is the name, not the UID, so an
    object keeps its shard across delete and re-create and ``prognos shard`` can say where a
    name goes before it exists. Jump consistent hashing (Lamping and Veach, 2014) moves only
    ``1/(N+1)`` of the objects, all to the new shard, when a shard is added.

``--shard-selector SELECTOR`` (labels)
    The shard owns the objects of the two kinds whose labels match a Kubernetes label
    selector (``tier=gold``, ``prognos.io/shard in (a,b)``). This filter also runs on the
    client, on purpose: with the selector on the watch (Kopf's server-side
    ``label_selectors``), an object relabelled away arrives as a DELETED event without a
    deletion timestamp, and Kopf keeps its daemon running on a stale body; with a client-side
    filter Kopf sees the new labels and stops the daemon, and the shard whose selector now
    matches starts one. The selectors of the shards must partition the objects; Prognos
    cannot check that across processes, so an object matching no shard is not handled, and
    one matching two is handled twice. Prefer the hash mode unless objects must be pinned.

Everything else is shared and not sharded: each shard watches pods (to wake its own
policies), NotificationChannels (to notify about its own Incidents) and serves the
Alertmanager intake for its own policies, so Alertmanager needs one webhook per shard. The
operator-wide action limit (``--max-actions``) applies per shard.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Label selector syntax as Kubernetes defines it, checked at start-up so that a typo is a
#: usage error, not a shard that silently owns nothing. One requirement each: ``key``,
#: ``!key``, ``key=v``, ``key==v``, ``key!=v``, ``key in (a,b)``, ``key notin (a)``.
_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_VALUE_RE = re.compile(_VALUE)
_PARTS = re.compile(
    rf"^\s*(?:(?P<neg>!)\s*(?P<nkey>{_KEY})|(?P<key>{_KEY})\s*"
    rf"(?:(?P<op>==?|!=)\s*(?P<value>{_VALUE})|\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*$"
)


@dataclass(frozen=True)
class Requirement:
    """One requirement of a label selector, with the API server's matching semantics."""

    key: str
    op: str  # "exists", "!exists", "=", "!=", "in", "notin"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        match self.op:
            case "exists":
                return present
            case "!exists":
                return not present
            case "=" | "in":
                return present and labels[self.key] in self.values
            case _:  # "!=" and "notin" also match objects without the label, as in Kubernetes
                return not present or labels[self.key] not in self.values


def parse_selector(selector: str) -> tuple[Requirement, ...]:
    """Parse a label selector; ``ShardError`` names the requirement that is not valid."""
    out = []
    for text in split_selector(selector):
        m = _PARTS.match(text)
        values = [v.strip() for v in m["values"].split(",")] if m and m["setop"] else []
        if not m or not all(_VALUE_RE.fullmatch(v) for v in values) or values == [""]:
            raise ShardError(
                f"--shard-selector: {text.strip()!r} is not a label selector requirement "
                "(key, !key, key=value, key!=value, key in (a,b), key notin (a,b))"
            )
        if m["neg"]:
            out.append(Requirement(m["nkey"], "!exists"))
        elif m["op"]:
            out.append(
                Requirement(m["key"], "!=" if m["op"] == "!=" else "=", frozenset([m["value"]]))
            )
        elif m["setop"]:
            out.append(Requirement(m["key"], m["setop"], frozenset(values)))
        else:
            out.append(Requirement(m["key"], "exists"))
    return tuple(out)


#: The finalizer of the unsharded operator; shards append a suffix (``Shard.finalizer``).
FINALIZER = "prognos.io/finalizer"


class ShardError(ValueError):
    """A sharding option that cannot work; the CLI turns it into a usage error."""


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash: the bucket in ``[0, buckets)`` of a 64-bit key.

    From Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014):
    growing from N to N+1 buckets moves exactly the keys that land in the new bucket.
    """
    if buckets < 1:
        raise ShardError("the shard count must be at least 1")
    b, j = -1, 0
    key &= 0xFFFFFFFFFFFFFFFF
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(namespace: str, name: str, count: int) -> int:
    """The shard index that owns ``namespace/name`` among ``count`` shards."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return jump_hash(int.from_bytes(digest[:8], "big"), count)


def split_selector(selector: str) -> list[str]:
    """The requirements of a label selector (commas inside ``in (...)`` do not split)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return parts


@dataclass(frozen=True)
class Shard:
    """This process's share of the objects; the default (1 of 1, no selector) owns all."""

    count: int = 1
    index: int = 0
    selector: str | None = None
    #: The parsed ``selector`` (derived in ``__post_init__``).
    requirements: tuple[Requirement, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardError("--shard-count must be at least 1")
        if not 0 <= self.index < self.count:
            raise ShardError(f"--shard-index must be between 0 and {self.count - 1}")
        if self.selector is not None:
            if not self.selector.strip():
                raise ShardError("--shard-selector must not be empty")
            object.__setattr__(self, "requirements", parse_selector(self.selector))
            if self.count > 1:
                raise ShardError("use either --shard-selector or --shard-count, not both")

    @property
    def sharded(self) -> bool:
        return self.count > 1 or self.selector is not None

    def owns(
        self, namespace: str | None, name: str, labels: Mapping[str, str] | None = None
    ) -> bool:
        """Whether this shard handles the object with this name and these labels."""
        if self.selector is not None:
            return all(r.matches(labels or {}) for r in self.requirements)
        return self.count == 1 or shard_of(namespace or "", name, self.count) == self.index

    def peering_name(self, peering: str | None) -> str | None:
        """Each shard is its own peering group: a shared name would leave one shard active
        and the others' objects unhandled."""
        if peering is None or not self.sharded:
            return peering
        if self.selector is not None:
            return peering  # the user names each selector shard's peering group explicitly
        return f"{peering}-shard-{self.index}"

    @property
    def finalizer(self) -> str:
        """This shard's finalizer on the objects it owns.

        One shared name would start a finalizer war: Kopf removes its finalizer from every
        object none of its handlers need, so each shard would strip the name the owner just
        added, on every event. With a name per shard, a shard only ever adds or removes its
        own; ``foreign_finalizers`` lets the owner drop names left by a previous layout.
        """
        if self.selector is not None:
            digest = hashlib.sha256(self.selector.encode()).hexdigest()[:10]
            return f"{FINALIZER}-sel-{digest}"
        if self.count > 1:
            return f"{FINALIZER}-shard-{self.index}"
        return FINALIZER

    def foreign_finalizers(self, finalizers: list[str]) -> list[str]:
        """Prognos finalizers on an object this shard owns that are not this shard's: left by
        the unsharded operator or an earlier shard layout, which will never remove them."""
        return [f for f in finalizers if f.startswith(FINALIZER) and f != self.finalizer]

    def describe(self) -> dict[str, Any]:
        if self.selector is not None:
            return {"selector": self.selector}
        return {"index": self.index, "count": self.count}


def owned(
    *, name: str | None, namespace: str | None, labels: Any = None, memo: Any, **_: Any
) -> bool:
    """Kopf ``when=`` filter on the handlers of the sharded kinds.

    Kopf re-evaluates it on every event and stops a daemon whose object no longer matches, so
    it must be cheap and deterministic: one SHA-256 of the name.
    """
    options = memo.get("options") if hasattr(memo, "get") else None
    shard: Shard | None = getattr(options, "shard", None)
    return shard is None or shard.owns(namespace, name or "", dict(labels or {}))
