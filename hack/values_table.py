"""Print the values table of helm/prognos/values.yaml from its `# --` comments (helm-docs style).

Usage: python hack/values_table.py > /dev/stdout  (pasted into helm/prognos/README.md)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

VALUES = Path(__file__).resolve().parents[1] / "helm" / "prognos" / "values.yaml"


def rows() -> list[tuple[str, str, str]]:
    data = yaml.safe_load(VALUES.read_text())
    out: list[tuple[str, str, str]] = []
    path: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in VALUES.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and comment:
            comment.append(stripped[1:].strip())
            continue
        match = re.match(r"^( *)([A-Za-z0-9_]+):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        path = [(i, k) for i, k in path if i < indent] + [(indent, key)]
        if comment:
            dotted = ".".join(k for _, k in path)
            value = data
            for _, k in path:
                value = value[k]
            out.append((dotted, json.dumps(value), " ".join(comment)))
            comment = []
    return out


def main() -> None:
    print("| key | default | description |")
    print("|---|---|---|")
    for key, default, text in rows():
        print(f"| `{key}` | `{default}` | {text} |")


if __name__ == "__main__":
    main()
