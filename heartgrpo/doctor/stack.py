"""Which stack is installed (pinned workstation or Colab/Kaggle T4) and the pins it is checked against.

The two stacks differ in TRL's line: ``pyproject.toml`` pins TRL 1.x, the T4 install cells pin TRL
0.x (``notebooks/t4-stack/no-deps.txt``), so an installed TRL below :data:`T4_TRL_BELOW` is the T4
stack (:func:`which_stack`, the one place that decides). The pinned stack is checked against
``pyproject.toml``'s core dependencies and ``gpu`` extra (the package metadata when the file is
not next to the package); the T4 stack against the lists its install cells install, in their
order (:data:`T4_STEPS`), the GPU-only steps only where a CUDA GPU is visible (the cells install
them only there).

    >>> which_stack("0.22.2"), which_stack("1.14.2"), which_stack(None)
    ('t4', 'pinned', 'pinned')
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PinSource", "STACK_DIR", "T4_STEPS", "T4_TRL_BELOW", "installed_version", "pin_source", "pyproject_requirements", "read_requirements",
           "t4_requirements", "which_stack"]

ROOT = Path(__file__).resolve().parents[2]
#: the T4 stack's requirement lists, one per install step (next to the package in a checkout or an editable install)
STACK_DIR = ROOT / "notebooks" / "t4-stack"
#: the T4 install steps in the order the cells run them: (file, installed on a GPU only)
T4_STEPS = (("gpu.txt", True), ("gpu-override.txt", True), ("common.txt", False), ("no-deps.txt", False))
#: an installed TRL older than this is the T4 stack's (pyproject.toml pins TRL 1.x)
T4_TRL_BELOW = (1, 0)


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``; None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def which_stack(trl: str | None = "installed") -> str:
    """``t4`` when ``trl`` (default: the installed TRL's version) is below :data:`T4_TRL_BELOW`,
    else ``pinned`` (also without TRL: nothing says it is the T4 stack)."""
    from packaging.version import Version

    have = installed_version("trl") if trl == "installed" else trl
    if have is None:
        return "pinned"
    return "t4" if Version(have).release[:2] < T4_TRL_BELOW else "pinned"


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments and blank lines dropped).

    Raises ``ValueError`` when it holds none (a list that installs nothing is a broken list)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    if not out:
        raise ValueError(f"{path}: no requirement in it")
    return out


def t4_requirements(stack_dir: Path = STACK_DIR, *, gpu: bool = True) -> list[tuple[str, str, str]]:
    """``(requirement, group, file)`` of every T4 step, ``group`` ``gpu`` for the GPU-only steps
    (left out when ``gpu`` is False) and ``core`` for the others."""
    rows = []
    for name, gpu_only in T4_STEPS:
        if gpu_only and not gpu:
            continue
        rows += [(r, "gpu" if gpu_only else "core", name) for r in read_requirements(Path(stack_dir) / name)]
    return rows


def pyproject_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[tuple[str, str, str]]:
    """``(requirement, group, source)`` of the core dependencies and the ``gpu`` extra:
    ``pyproject.toml`` next to the package when present, else the installed metadata."""
    from packaging.requirements import Requirement

    if Path(pyproject).is_file():
        import tomllib

        project = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))["project"]
        return ([(r, "core", "pyproject.toml") for r in project["dependencies"]]
                + [(r, "gpu", "pyproject.toml") for r in project["optional-dependencies"].get("gpu", [])])
    rows = []
    for text in importlib.metadata.requires("heartgrpo") or []:
        req = Requirement(text)
        group = "core" if req.marker is None else "gpu" if 'extra == "gpu"' in str(req.marker) else None
        if group is not None:
            req.marker = None
            rows.append((str(req), group, "package metadata"))
    return rows


@dataclass
class PinSource:
    """The stack found, where its pins were read, what was left out, and the pins: ``(requirement, group, file)``."""

    stack: str
    source: str
    requirements: list[tuple[str, str, str]]
    left_out: list[str] = field(default_factory=list)


def pin_source(*, gpu: bool, stack: str | None = None, stack_dir: Path = STACK_DIR) -> PinSource:
    """The pins the installed stack (:func:`which_stack` unless ``stack`` is given) is checked
    against; ``gpu`` says whether a CUDA GPU is visible (the T4 GPU-only steps need one)."""
    stack = stack or which_stack()
    if stack == "t4":
        if not (Path(stack_dir) / T4_STEPS[-1][0]).is_file():
            return PinSource("t4", "pyproject.toml (the T4 lists are not next to this install)", pyproject_requirements(),
                             [f"{stack_dir}: not found"])
        left_out = [] if gpu else [f"{n} (installed on a GPU only)" for n, gpu_only in T4_STEPS if gpu_only]
        rel = Path(stack_dir).relative_to(ROOT) if Path(stack_dir).is_relative_to(ROOT) else Path(stack_dir)
        used = [n for n, gpu_only in T4_STEPS if gpu or not gpu_only]
        return PinSource("t4", f"{rel}/ ({', '.join(used)})", t4_requirements(stack_dir, gpu=gpu), left_out)
    rows = pyproject_requirements()
    return PinSource("pinned", rows[0][2] if rows else "pyproject.toml", rows)
