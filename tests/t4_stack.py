"""Which stack the tests run on: the pinned workstation stack (``make test``) or the Colab/Kaggle
T4 stack (``make test-colab``: exactly ``notebooks/t4-stack/common.txt`` and ``no-deps.txt``).
Tests that only make sense on one of them skip on the other with :func:`t4_stack_mismatch`'s
reason."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
STACK_FILES = [ROOT / "notebooks" / "t4-stack" / n for n in ("common.txt", "no-deps.txt")]


def t4_requirements() -> list[Requirement]:
    out = []
    for path in STACK_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(Requirement(line))
    return out


def t4_stack_mismatch() -> str | None:
    """None when every T4-stack requirement is installed; else the first one that is not, as a reason."""
    for req in t4_requirements():
        try:
            have = version(req.name)
        except PackageNotFoundError:
            return f"{req.name} is not installed (the T4 stack wants {req})"
        if not req.specifier.contains(have, prereleases=True):
            return f"{req.name} {have} is installed, the T4 stack wants {req}"
    return None
