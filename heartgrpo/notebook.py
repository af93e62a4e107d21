"""The set-up every notebook starts with, in one call: :func:`open_run`.

    >>> cfg = open_run("configs/cpu-demo.yaml", {"grpo.max_steps": 2})   # doctest: +SKIP
    config configs/cpu-demo.yaml: model demo:smollm2-135m-instruct, backend hf, output runs/cpu-demo
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

__all__ = ["doctor_command", "find_root", "open_run"]


def find_root(start: str | Path | None = None) -> Path:
    """The repository root (the folder holding ``configs/`` and ``heartgrpo/``): ``start``
    (default: the working directory), one of its parents (a notebook in ``notebooks/``), or its
    ``heartgrpo/`` subfolder (Colab and Kaggle clone the repository into ``./heartgrpo``)."""
    here = Path(start or Path.cwd()).resolve()
    for p in [here, *here.parents, here / "heartgrpo"]:
        if (p / "configs").is_dir() and (p / "heartgrpo").is_dir():
            return p
    raise FileNotFoundError(f"{here}: no heartgrpo repository here, above or in ./heartgrpo (a folder with configs/ and heartgrpo/)")


def doctor_command(config: str | Path, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """``heartgrpo doctor --run`` for ``config`` with ``overrides`` as ``--set`` options."""
    sets = [f"--set={key}={json.dumps(value)}" for key, value in (overrides or {}).items()]
    return [sys.executable, "-m", "heartgrpo.cli.app", "doctor", "--run", "--config", str(config), *sets]


def open_run(config: str | Path, overrides: Mapping[str, Any] | None = None, *, doctor: bool = False) -> RunConfig:
    """Work from the repository root, load ``config`` with ``overrides`` (dotted keys, checked like
    the file: a wrong key or type fails here, before any GPU time is spent) and print one line
    naming the model, backend and output directory. ``doctor=True`` first runs ``heartgrpo doctor
    --run`` for the same config in its own process (its GPU memory is given back when it exits)."""
    from heartgrpo.config.run import load_config

    os.chdir(find_root())
    cfg = load_config(config, dict(overrides or {}))
    print(f"config {config}: model {cfg.model.name_or_path}, backend {cfg.model.backend}, output {cfg.output_dir}")
    if doctor:
        subprocess.run(doctor_command(config, overrides), check=False)
    return cfg
