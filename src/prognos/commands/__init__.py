"""Sub-commands of the ``prognos`` CLI, one module each (see ``prognos.cli``).

To add a command: create ``prognos/commands/<name>.py`` with ``register(subparsers)`` that adds a
parser and sets ``func=<callable(args) -> int>``, then list the module here.
"""

from __future__ import annotations

COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "run",
    "sandbox",
    "forecast",
    "detect",
    "simulate",
    "crds",
    "shard",
)


class UsageError(Exception):
    """Bad input from the user: printed as one line on stderr, exit code 2, never a traceback."""
