"""Which stack the tests run on: the pinned workstation stack (``make test``) or the Colab/Kaggle
T4 stack (``make test-colab``: exactly ``notebooks/t4-stack/common.txt`` and ``no-deps.txt``).
Tests that only make sense on one of them skip on the other with :func:`t4_stack_mismatch`'s
reason."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

from heartgrpo.doctor.stack import STACK_DIR, read_requirements, which_stack

ROOT = Path(__file__).resolve().parents[1]
STACK_FILES = [STACK_DIR / n for n in ("common.txt", "no-deps.txt")]


def t4_requirements() -> list[Requirement]:
    return [Requirement(line) for path in STACK_FILES for line in read_requirements(path)]


def on_t4_stack() -> bool:
    """Whether the installed stack is the T4 one, as ``heartgrpo doctor`` decides it."""
    return which_stack() == "t4"


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


def consult_trl_missing() -> str | None:
    """None when the installed TRL runs multi-turn consultations (``rollout_func`` with ``env_mask``);
    else why not, as a skip reason (the Colab/Kaggle TRL 0.22 refuses a ``consult:`` config at load)."""
    from heartgrpo.config.consult import CONSULT_MIN_TRL
    from heartgrpo.io.process import package_version

    have = package_version("trl")
    if have < CONSULT_MIN_TRL:
        return f"TRL {have[0]}.{have[1]} has no rollout_func/env_mask: a consult: config fails at load on this stack"
    return None


def loadable_configs(paths: list[Path]) -> list:
    """``paths`` as pytest params; a ``*-consult.yaml`` skips where :func:`consult_trl_missing` says so."""
    import pytest

    reason = consult_trl_missing()
    return [pytest.param(p, marks=pytest.mark.skip(reason=reason)) if reason and p.stem.endswith("-consult")
            else p for p in paths]
