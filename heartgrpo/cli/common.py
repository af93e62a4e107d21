"""What every ``heartgrpo`` command shares: the ``--config`` / ``--set`` / ``--verbose`` options,
logging set-up, config loading with overrides, the one-screen summary, and the exit codes
(0 ok, 2 bad configuration or input, 3 judge unavailable, checkpoint kept).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import typer
import yaml

__all__ = ["ConfigOpt", "DEFAULT_CONFIG", "SetOpt", "VerboseOpt"]

DEFAULT_CONFIG = Path("configs/cpu-demo.yaml")
ConfigOpt = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="run configuration YAML")
SetOpt = typer.Option(None, "--set", help="override a config key, e.g. --set grpo.max_steps=2 (repeatable)")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="log at INFO level")


def _setup(verbose: bool) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        for name in ("transformers", "datasets", "httpx"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _load(config: Path, overrides: list[str] | None):
    from heartgrpo.config.run import ConfigError, load_config

    parsed: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        key, value = item.split("=", 1)
        parsed[key.strip()] = yaml.safe_load(value)
    return load_config(config, parsed)


def _summary(title: str, rows: list[tuple[str, Any]]) -> None:
    from heartgrpo.io.process import is_main_process

    if not is_main_process():  # under accelerate launch: one summary, from the main process
        return
    width = max(len(k) for k, _ in rows) if rows else 0
    typer.secho(f"\n== {title} ==", bold=True)
    for key, value in rows:
        typer.echo(f"  {key:<{width}}  {value}")


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _run(fn, *args: Any) -> Any:
    """Call ``fn`` turning known failures into a message and an exit code."""
    from heartgrpo.config.run import ConfigError

    try:
        return fn(*args)
    except ConfigError as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(2) from None
    except FileNotFoundError as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    except Exception as err:
        from heartgrpo.io.jsonl import DataError
        from heartgrpo.eval.jsonl import EvalInputError
        from heartgrpo.judge.guarded import JudgeUnavailableError

        if isinstance(err, JudgeUnavailableError):
            typer.secho(f"judge unavailable: {err}", fg="red", err=True)
            raise typer.Exit(3) from None
        if isinstance(err, (DataError, EvalInputError)):
            typer.secho(f"bad input: {err}", fg="red", err=True)
            raise typer.Exit(2) from None
        raise
