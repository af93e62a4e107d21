"""Which process am I: the few facts a multi-process run (``accelerate launch``) needs.

Under ``accelerate launch --num_processes N`` every process runs the same command; TRL and the
Trainer split the batches and gather the rewards. What is ours to decide is who writes: only the
main process writes the step log, ``run_config.yaml``, ``log_history.json``, tokenizer files and
reports, while every process takes part in the collective calls (``Trainer.save_model``, the
judge-down decision, the judge counters). Without a launcher these functions answer for the one
process there is.

    >>> rank(), world_size(), is_main_process()
    (0, 1, True)
    >>> max_across_ranks(2.5)
    2.5
"""

from __future__ import annotations

import os
import re
from importlib.metadata import PackageNotFoundError, version
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["CpuRankResumeMixin", "package_version", "gather_across_ranks", "is_main_process", "max_across_ranks", "rank", "world_size"]


def _initialized() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank (``RANK`` set by the launcher, else 0)."""
    if _initialized():
        import torch.distributed as dist

        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Number of processes in the run (``WORLD_SIZE`` set by the launcher, else 1)."""
    if _initialized():
        import torch.distributed as dist

        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on global rank 0: the process that writes logs, reports and configs."""
    return rank() == 0


def gather_across_ranks(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (a collective call: every rank must
    make it); ``[obj]`` without a process group."""
    if not _initialized() or world_size() == 1:
        return [obj]
    from accelerate.utils import gather_object

    return list(gather_object([obj]))


def max_across_ranks(value: float) -> float:
    """The largest ``value`` over all ranks (collective), e.g. so every rank stops on the same
    step when any rank's judge has been down too long."""
    return max(float(v) for v in gather_across_ranks(float(value)))


@contextmanager
def _cpu_map_location() -> Iterator[None]:
    """``torch.load(map_location=cpu:N)`` -> ``map_location="cpu"`` while the block runs."""
    import torch

    original = torch.load

    def load(*args: Any, **kwargs: Any) -> Any:
        where = kwargs.get("map_location")
        if isinstance(where, torch.device) and where.type == "cpu":
            kwargs["map_location"] = "cpu"
        return original(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


class CpuRankResumeMixin:
    """Trainer mixin: resume a multi-process CPU run.

    Under a MULTI_CPU (gloo) group accelerate gives every rank the device ``cpu:0`` and the
    Trainer loads the optimizer state with ``map_location=args.device`` when ``world_size > 1``;
    ``torch.load`` cannot restore a storage to ``"cpu:0"`` and the resume fails. This loads the
    optimizer and scheduler state to plain ``"cpu"`` there; everything else is the Trainer's own.
    """

    def _load_optimizer_and_scheduler(self, checkpoint: Any) -> Any:
        device = getattr(self.args, "device", None)
        if checkpoint is None or getattr(device, "type", None) != "cpu":
            return super()._load_optimizer_and_scheduler(checkpoint)  # type: ignore[misc]
        with _cpu_map_location():
            return super()._load_optimizer_and_scheduler(checkpoint)  # type: ignore[misc]


def package_version(name: str = "trl") -> tuple[int, int]:
    """(major, minor) of an installed distribution; (0, 0) when it is not installed.

    >>> package_version("no-such-distribution-here")
    (0, 0)
    """
    try:
        parts = re.findall(r"\d+", version(name))[:2]
    except PackageNotFoundError:
        return (0, 0)
    major, minor = (int(p) for p in (parts + ["0", "0"])[:2])
    return (major, minor)
