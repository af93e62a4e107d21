"""The rewards of a reward function's last few batches, shared with a reward that depends on them.

TRL calls every reward function on the same batch, in list order (sync functions) or gathered
on one loop (async ones), so the format reward may run before, during or after the rubric
reward it reads. :class:`RecentBatches` keys each batch by :func:`batch_key` and holds the task
that scores it:

* the function's own call (``peer=False``) scores the batch afresh, unless a peer already
  started scoring this very batch on its behalf (then it takes that result and drops it);
* a peer's call (``peer=True``) takes the result of the function's own call for the batch when
  there is one (and drops it), else starts the scoring itself and leaves it for the own call.

Either way the judge grades a batch once. Only the last ``size`` batches are kept.

Example:
    >>> import asyncio
    >>> calls = []
    >>> async def score():
    ...     calls.append(1)
    ...     return [1.0]
    >>> recent = RecentBatches()
    >>> asyncio.run(recent.get("k", score, peer=True)), asyncio.run(recent.get("k", score, peer=False)), len(calls)
    ([1.0], [1.0], 1)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["RecentBatches", "batch_key"]


def batch_key(prompts: Any, completions: Any, rubrics: Any) -> str:
    """A digest of one batch: its prompts, completions and rubrics."""
    text = json.dumps([prompts, completions, rubrics], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RecentBatches:
    """Scoring tasks of recent batches by key, each marked with who started it."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[asyncio.Future, bool]] = OrderedDict()

    def _usable(self, key: str) -> tuple[asyncio.Future, bool] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        task, _ = entry
        if task.done():
            if task.cancelled() or task.exception() is not None:
                del self._entries[key]
                return None
            return entry
        if task.get_loop() is not asyncio.get_running_loop():  # left pending by a loop that is gone
            del self._entries[key]
            return None
        return entry

    async def get(self, key: str, score: Callable[[], Awaitable[Any]], peer: bool) -> Any:
        """The batch's rewards: an existing result as described in the module docstring, or ``score()``."""
        entry = self._usable(key)
        if entry is not None:
            task, by_peer = entry
            if peer or by_peer:
                if peer != by_peer:  # the other side's result is taken once
                    del self._entries[key]
                return await task
        task = asyncio.ensure_future(score())
        self._entries[key] = (task, peer)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return await task
