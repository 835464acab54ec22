"""Start, watch and stop the sandbox's background processes, tracked by pid in a state file.

Every process is recorded in the state file *as soon as it is spawned*, before we wait for it to
become ready, so that ``down``, a Ctrl-C or the next ``up`` can always find and stop it: nothing
the sandbox starts is ever left running unrecorded. A pid is only signalled when its
``/proc/<pid>/cmdline`` still matches what we started, so a reused pid is never killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


class ComponentError(RuntimeError):
    """A sandbox component failed to start or become ready; names it and its log."""

    def __init__(self, component: str, reason: str, log: Path | None) -> None:
        self.component = component
        self.log = log
        where = f" (log: {log})" if log else ""
        tail = ""
        if log is not None and log.exists():
            lines = log.read_text(errors="replace").strip().splitlines()[-8:]
            if lines:
                tail = "\n  last log lines:\n    " + "\n    ".join(lines)
        super().__init__(f"sandbox component '{component}' {reason}{where}{tail}")


@dataclass(frozen=True)
class ProcRecord:
    """What we need to find and stop a process later."""

    name: str
    pid: int
    argv0: str
    log: str
    argv: tuple[str, ...] = ()


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if it is free on loopback, else any free port the kernel hands out."""
    candidates = [preferred] if preferred else []
    candidates.append(0)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port or 0))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise OSError("no free TCP port on 127.0.0.1")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _state(pid: int) -> str | None:
    """The process state letter from /proc (R, S, D, Z, ...), or None if there is no process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(rec: ProcRecord) -> bool:
    """True if ``rec.pid`` is running and is still the program we started (not a reused pid).

    A process that is exec-ing shows an empty cmdline for a moment; it counts as alive, since a
    reused pid would show its own, different command line.
    """
    state = _state(rec.pid)
    if state is None or state in ("Z", "X"):
        return False
    cmd = _cmdline(rec.pid)
    return not cmd or cmd[0] == rec.argv0


class ProcessTable:
    """The set of processes one sandbox started, persisted as JSON in its state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[ProcRecord] = []
        # Children spawned by this process, polled so that they never linger as zombies.
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        if path.exists():
            data = json.loads(path.read_text() or "[]")
            self.records = [
                ProcRecord(**{**item, "argv": tuple(item.get("argv", ()))}) for item in data
            ]

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in self.records], indent=2))
        tmp.replace(self.path)

    def get(self, name: str) -> ProcRecord | None:
        return next((r for r in self.records if r.name == name), None)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ProcRecord:
        """Start ``argv`` detached in its own session, logging to ``log``; record it at once."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ComponentError(name, f"could not be started: {exc}", log) from exc
        self._children[proc.pid] = proc
        rec = ProcRecord(
            name=name, pid=proc.pid, argv0=str(argv[0]), log=str(log), argv=tuple(argv)
        )
        self.records = [r for r in self.records if r.name != name] + [rec]
        self._save()
        return rec

    def wait_ready(
        self, rec: ProcRecord, check: Callable[[], bool], timeout: float, what: str = "ready"
    ) -> None:
        """Poll ``check`` until it is true; fail fast, naming the component, if it dies."""
        deadline = time.monotonic() + timeout
        while True:
            self._reap()
            if not is_alive(rec):
                raise ComponentError(rec.name, "exited during start-up", Path(rec.log))
            with contextlib.suppress(Exception):
                if check():
                    return
            if time.monotonic() > deadline:
                raise ComponentError(
                    rec.name, f"was not {what} within {timeout:.0f}s", Path(rec.log)
                )
            time.sleep(0.25)

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    def stop(self, name: str, grace: float = 10.0, sig: int = signal.SIGTERM) -> bool:
        """Stop one process (kept in the table so ``restart`` can bring it back)."""
        rec = self.get(name)
        if rec is None or not is_alive(rec):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(rec.pid, sig)
        deadline = time.monotonic() + grace
        while is_alive(rec) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        if is_alive(rec):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec.pid, signal.SIGKILL)
        return True

    def restart(self, name: str) -> ProcRecord:
        """Start a recorded process again with the same command line and log."""
        rec = self.get(name)
        if rec is None or not rec.argv:
            raise KeyError(f"no restartable process {name!r}")
        self.stop(name)
        return self.spawn(name, rec.argv, Path(rec.log))

    def stop_all(self, grace: float = 10.0) -> list[str]:
        """Stop every recorded process, newest first, each before the next.

        Reverse start order matters: the apiserver shuts down in about a second while etcd is
        up, but waits out its whole grace period if etcd is killed at the same time.
        """
        stopped = [rec.name for rec in reversed(self.records) if self.stop(rec.name, grace)]
        self.records = []
        if self.path.exists():
            self._save()
        return stopped

    def describe(self) -> dict[str, Any]:
        return {r.name: {"pid": r.pid, "alive": is_alive(r), "log": r.log} for r in self.records}
