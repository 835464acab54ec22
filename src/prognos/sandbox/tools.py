"""Build the sandbox's Go tools from Go modules and cache them outside the repository.

This machine cannot download release binaries or container images; only the Go module proxy is
reachable. So every control-plane binary is compiled from its published module:

* ``k8s.io/kubernetes`` cannot be ``go install``-ed at a version because its go.mod replaces each
  staging module (``k8s.io/api``, ...) with a local path. We generate a tiny tools module that
  requires ``k8s.io/kubernetes vX.Y.Z`` and replaces each staging module with its published
  ``v0.Y.Z``. The staging list is *derived* from the downloaded go.mod, never hard-coded, so a
  version bump keeps working.
* ``go.etcd.io/etcd/server/v3`` has the same problem (it replaces its sibling modules with
  relative paths) and gets the same treatment.
* kwok and helm have no replace directives, so they build directly from their module.

Binaries land in ``<cache>/tools/<tool>-<version>/bin`` and a build is skipped when its stamp
file exists, so a warm machine pays nothing and a cold one builds once. Versions are stamped with
``-ldflags -X`` so that ``--version`` tells the truth.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"

#: Flags upstream uses for release builds: static, reproducible, stripped.
_BUILD_TAGS = "selinux,notest,grpcnotrace"


class ToolError(RuntimeError):
    """A tool could not be built or is missing a prerequisite; the message says what to do."""


def cache_dir() -> Path:
    """Root of Prognos' machine-wide cache (``PROGNOS_CACHE_DIR`` overrides it)."""
    env = os.environ.get("PROGNOS_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "prognos"


@dataclass(frozen=True)
class Tool:
    """One cached build: a name, a version, the binaries it yields and how to build them."""

    name: str
    version: str
    binaries: tuple[str, ...]
    builder: Callable[[Tool, Path, Callable[[str], None]], None] = field(compare=False)

    @property
    def root(self) -> Path:
        return cache_dir() / "tools" / f"{self.name}-{self.version}"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def stamp(self) -> Path:
        return self.root / ".built"

    def is_built(self) -> bool:
        return self.stamp.exists() and all((self.bin_dir / b).exists() for b in self.binaries)


def _require(binary: str, hint: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise ToolError(f"'{binary}' is not installed: {hint}")
    return path


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env.setdefault("GOFLAGS", "-mod=mod")
    # Cold links of kube-apiserver need a few GiB; a lower GC target keeps peaks in check.
    env.setdefault("GOGC", "100")
    return env


def _run(cmd: Sequence[str], cwd: Path, log: Callable[[str], None]) -> str:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(
        list(cmd), cwd=cwd, env=_go_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-30:])
        raise ToolError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _module_gomod(module: str, version: str, workdir: Path, log: Callable[[str], None]) -> str:
    """Download ``module@version`` and return the text of its go.mod (fails early if unserved)."""
    out = _run(["go", "mod", "download", "-json", f"{module}@{version}"], workdir, log)
    info = json.loads(out)
    if "Error" in info:
        raise ToolError(f"the Go module proxy does not serve {module}@{version}: {info['Error']}")
    return Path(info["GoMod"]).read_text()


def _replaced_modules(gomod: str, marker: str) -> list[str]:
    """Module paths that ``gomod`` replaces with a local path starting with ``marker``."""
    mods: list[str] = []
    for line in gomod.splitlines():
        line = line.strip().removeprefix("replace").strip()
        if "=>" not in line:
            continue
        left, right = (s.strip() for s in line.split("=>", 1))
        if right.startswith(marker):
            mods.append(left.split()[0])
    return mods


def _write_tools_module(
    workdir: Path,
    require: str,
    version: str,
    replaces: dict[str, str],
    godebug: list[str],
    tools: Sequence[str],
) -> None:
    lines = ["module prognos.local/sandboxtools", "", "go 1.26.0", ""]
    lines += godebug
    lines += ["", f"require {require} {version}", ""]
    lines += [f"replace {mod} => {mod} {ver}" for mod, ver in sorted(replaces.items())]
    lines += [""] + [f"tool {t}" for t in tools]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text("\n".join(lines) + "\n")


def _ldflags(pairs: dict[str, str]) -> str:
    return " ".join(["-s", "-w"] + [f"-X '{k}={v}'" for k, v in pairs.items()])


def _go_build(
    workdir: Path, out: str, packages: Sequence[str], ldflags: str, log: Callable[[str], None]
) -> None:
    """``go build`` like upstream releases; ``out`` ending in '/' is a directory, else a file."""
    Path(out.rstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    cmd = ["go", "build", "-trimpath", "-tags", _BUILD_TAGS, "-ldflags", ldflags, "-o", out]
    _run([*cmd, *packages], workdir, log)


def _build_kubernetes(tool: Tool, tmp: Path, log: Callable[[str], None]) -> None:
    gomod = _module_gomod("k8s.io/kubernetes", tool.version, tmp, log)
    staging = _replaced_modules(gomod, "./staging/")
    if not staging:
        raise ToolError("found no staging replace lines in k8s.io/kubernetes go.mod")
    minor_version = "v0." + tool.version.removeprefix("v").split(".", 1)[1]
    godebug = [ln for ln in gomod.splitlines() if ln.startswith("godebug")]
    cmds = [f"k8s.io/kubernetes/cmd/{b}" for b in tool.binaries]
    _write_tools_module(
        tmp, "k8s.io/kubernetes", tool.version, dict.fromkeys(staging, minor_version), godebug, cmds
    )
    _run(["go", "mod", "tidy"], tmp, log)
    major, minor = tool.version.removeprefix("v").split(".")[:2]
    stamp: dict[str, str] = {}
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamp |= {
            f"{pkg}.gitVersion": tool.version,
            f"{pkg}.gitMajor": major,
            f"{pkg}.gitMinor": minor,
            f"{pkg}.gitTreeState": "clean",
            f"{pkg}.buildDate": "1970-01-01T00:00:00Z",
        }
    _go_build(tmp, f"{tool.bin_dir}/", cmds, _ldflags(stamp), log)


def _build_etcd(tool: Tool, tmp: Path, log: Callable[[str], None]) -> None:
    gomod = _module_gomod("go.etcd.io/etcd/server/v3", tool.version, tmp, log)
    siblings = _replaced_modules(gomod, "../")
    _write_tools_module(
        tmp,
        "go.etcd.io/etcd/server/v3",
        tool.version,
        dict.fromkeys(siblings, tool.version),
        [],
        ["go.etcd.io/etcd/server/v3"],
    )
    _run(["go", "mod", "tidy"], tmp, log)
    flags = _ldflags({"go.etcd.io/etcd/api/v3/version.GitSHA": f"release-{tool.version}"})
    _go_build(tmp, str(tool.bin_dir / "etcd"), ["go.etcd.io/etcd/server/v3"], flags, log)


def _build_plain(
    module: str, packages: Sequence[str], stamp: dict[str, str]
) -> Callable[[Tool, Path, Callable[[str], None]], None]:
    """Builder for modules without replace directives: a tools module that just requires them."""

    def build(tool: Tool, tmp: Path, log: Callable[[str], None]) -> None:
        _module_gomod(module, tool.version, tmp, log)
        _write_tools_module(tmp, module, tool.version, {}, [], packages)
        _run(["go", "mod", "tidy"], tmp, log)
        _go_build(tmp, f"{tool.bin_dir}/", packages, _ldflags(stamp), log)

    return build


def _k8s_minor() -> str:
    return KUBERNETES_VERSION.removeprefix("v").split(".")[1]


TOOLS: dict[str, Tool] = {
    "etcd": Tool("etcd", ETCD_VERSION, ("etcd",), _build_etcd),
    "kubernetes": Tool(
        "kubernetes",
        KUBERNETES_VERSION,
        ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
        _build_kubernetes,
    ),
    "kwok": Tool(
        "kwok",
        KWOK_VERSION,
        ("kwok",),
        _build_plain("sigs.k8s.io/kwok", ["sigs.k8s.io/kwok/cmd/kwok"], {}),
    ),
    "helm": Tool(
        "helm",
        HELM_VERSION,
        ("helm",),
        _build_plain(
            "helm.sh/helm/v3",
            ["helm.sh/helm/v3/cmd/helm"],
            {
                "helm.sh/helm/v3/internal/version.version": HELM_VERSION,
                "helm.sh/helm/v3/internal/version.gitTreeState": "clean",
                "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor": "1",
                "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor": _k8s_minor(),
                "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor": "1",
                "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor": _k8s_minor(),
            },
        ),
    ),
}


def cold_build_seconds(tool: Tool) -> float | None:
    """Seconds the cached build of ``tool`` took, if its stamp recorded it."""
    try:
        data = json.loads(tool.stamp.read_text())
    except (OSError, ValueError):
        return None
    seconds = data.get("build_seconds") if isinstance(data, dict) else None
    return float(seconds) if isinstance(seconds, int | float) else None


def _prefixed(say: Callable[[str], None], prefix: str, message: str) -> None:
    say(prefix + message)


def bin_dir() -> Path:
    """One directory with links to every built binary, the ``bin_dir`` of ``sandbox status``."""
    return cache_dir() / "bin"


def binary(name: str) -> Path:
    """Path of a built binary; raises ToolError with the fix if it has not been built."""
    for tool in TOOLS.values():
        if name in tool.binaries:
            if not tool.is_built():
                raise ToolError(f"{name} is not built yet: run 'prognos sandbox build'")
            return tool.bin_dir / name
    raise ToolError(f"unknown sandbox binary {name!r}")


def build(names: Sequence[str] | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Build the named tools (all by default) unless cached; return the shared bin directory."""
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    selected = [TOOLS[n] for n in (names or list(TOOLS))]
    if any(not t.is_built() for t in selected):
        _require("go", "install Go 1.26 or newer (Debian: 'apt-get install golang', or go.dev)")
    for tool in selected:
        if tool.is_built():
            say(f"[build] {tool.name} {tool.version}: cached in {tool.root}")
            continue
        say(f"[build] {tool.name} {tool.version}: building (cold builds take minutes) ...")
        started = time.monotonic()
        tmp = tool.root / "src"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        tool.builder(tool, tmp, functools.partial(_prefixed, say, f"[build] {tool.name}: "))
        seconds = time.monotonic() - started
        # The stamp records how long the cold build took, for benchmarks/sandbox_startup.py.
        tool.stamp.write_text(json.dumps({"version": tool.version, "build_seconds": seconds}))
        shutil.rmtree(tmp, ignore_errors=True)
        say(f"[build] {tool.name} {tool.version}: done in {seconds:.0f}s")
    out = bin_dir()
    out.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS.values():
        if not tool.is_built():
            continue
        for b in tool.binaries:
            link = out / b
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(tool.bin_dir / b)
    return out
