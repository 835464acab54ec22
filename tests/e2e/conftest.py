"""Fixtures of the e2e tier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def tools(sandbox: dict[str, Any]) -> dict[str, str]:
    """The sandbox's helm and kubectl, and the admin kubeconfig they use."""
    bin_dir = Path(sandbox["bin_dir"])
    return {
        "helm": str(bin_dir / "helm"),
        "kubectl": str(bin_dir / "kubectl"),
        "kubeconfig": sandbox["kubeconfig"],
    }
