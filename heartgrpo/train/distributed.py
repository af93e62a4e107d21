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
from typing import Any

__all__ = ["gather_across_ranks", "is_main_process", "max_across_ranks", "rank", "world_size"]


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
