"""The one failure path of every judge call, in training and in evaluation.

:class:`GuardedJudge` wraps any judge (DESIGN.md §5):

- an exception from the judge, or a verdict list whose length is not the number of criteria,
  becomes failed verdicts (``met=None`` with the reason in ``error``), never a crash and never a
  silent "not met";
- verdicts for the same (conversation, response, criteria) are computed once and shared (up to
  ``memo_size`` remembered), so several reward strategies over the same completions cost one round
  of judge calls; failures are never remembered;
- it measures how long the judge has been *down*: the time since the first call of an unbroken
  run of calls in which every verdict failed. GRPO's judge callback stops training cleanly (a
  checkpoint is saved) once that exceeds ``judge.max_down_seconds``
  (:class:`JudgeUnavailableError`).

    >>> from heartgrpo.io.asyncs import run_sync
    >>> class Down:
    ...     async def grade(self, prompt, response, rubrics):
    ...         raise ConnectionError("refused")
    >>> guarded = GuardedJudge(Down())
    >>> run_sync(guarded.grade([], "answer", [{"criterion": "c", "points": 1}]))[0].error
    'judge raised ConnectionError: refused'
    >>> guarded.failed_calls, guarded.down_for() >= 0.0
    (1, True)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from heartgrpo.judge.cache import json_digest
from heartgrpo.judge.types import JudgeDescription, describe_judge, is_approximate

log = logging.getLogger(__name__)

__all__ = ["GuardedJudge", "JudgeUnavailableError", "guarded"]


class JudgeUnavailableError(RuntimeError):
    """The judge endpoint failed for longer than the configured limit; training stopped cleanly."""


def _key(prompt: Any, response: str, rubrics: Sequence[Any]) -> str:
    return json_digest(prompt, response, list(rubrics), default=str)


def _met(verdict: Any) -> bool | None:
    return verdict.get("met") if isinstance(verdict, Mapping) else getattr(verdict, "met", None)


def guarded(judge: Any, **options: Any) -> GuardedJudge:
    """``judge`` itself when it is already a :class:`GuardedJudge`, else ``GuardedJudge(judge, **options)``."""
    return judge if isinstance(judge, GuardedJudge) else GuardedJudge(judge, **options)


class GuardedJudge:
    """Judge wrapper: failures as failed verdicts, shared verdicts, down-time measurement.

    ``clock`` is injectable for tests. ``memo_size`` bounds the shared-verdict memory (0: share
    only calls in flight at the same time).
    """

    def __init__(self, inner: Any, *, clock: Callable[[], float] = time.monotonic, memo_size: int = 4096) -> None:
        self.inner = inner
        self.clock = clock
        self.memo_size = memo_size
        self._memo: OrderedDict[str, list] = OrderedDict()
        self._inflight: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self._down_since: float | None = None
        self.calls = 0
        self.failed_calls = 0
        self.shared_hits = 0

    @property
    def stats(self) -> Any:
        return getattr(self.inner, "stats", None)

    @property
    def approximate(self) -> bool:
        return is_approximate(self.inner)

    def describe(self) -> JudgeDescription:
        """The wrapped judge's description (:func:`heartgrpo.judge.types.describe_judge`)."""
        return describe_judge(self.inner)

    async def aclose(self) -> None:
        """Close the wrapped judge's HTTP clients of the running loop (a judge without any: nothing)."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    def down_for(self) -> float:
        """Seconds since the judge started failing every verdict (0 when it is up)."""
        return 0.0 if self._down_since is None else self.clock() - self._down_since

    def _observe(self, verdicts: Sequence[Any]) -> None:
        self.calls += 1
        if verdicts and all(_met(v) is None for v in verdicts):
            self.failed_calls += 1
            if self._down_since is None:
                self._down_since = self.clock()
        elif verdicts:
            self._down_since = None

    async def _grade_inner(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list:
        from heartgrpo.judge.types import Verdict

        try:
            verdicts = list(await self.inner.grade(prompt, response, rubrics))
            if len(verdicts) != len(rubrics):
                error = f"judge returned {len(verdicts)} verdicts for {len(rubrics)} criteria"
                log.warning("%s", error)
                verdicts = [Verdict.failed(error) for _ in rubrics]
        except Exception as err:  # a transport bug must not kill training or evaluation: fail the verdicts
            log.warning("judge raised %s: %s", type(err).__name__, err)
            verdicts = [Verdict.failed(f"judge raised {type(err).__name__}: {err}") for _ in rubrics]
        self._observe(verdicts)
        return verdicts

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list:
        key = _key(prompt, response, rubrics)
        if key in self._memo:
            self._memo.move_to_end(key)
            self.shared_hits += 1
            return list(self._memo[key])
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(key)
        if pending is not None and pending[0] is loop:
            self.shared_hits += 1
            return list(await asyncio.shield(pending[1]))
        fut: asyncio.Future = loop.create_future()
        self._inflight[key] = (loop, fut)
        try:
            verdicts = await self._grade_inner(prompt, response, rubrics)
            fut.set_result(verdicts)
        except BaseException as err:
            fut.set_exception(err)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(key, None)
        if self.memo_size > 0 and all(_met(v) is not None for v in verdicts):  # never memoise failures
            self._memo[key] = verdicts
            while len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)
        return list(verdicts)

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        try:
            rating = await self.inner.rate(prompt, response, rubrics)
        except Exception as err:
            log.warning("judge rating raised %s: %s", type(err).__name__, err)
            rating = None
        self.calls += 1
        if rating is None:
            self.failed_calls += 1
            if self._down_since is None:
                self._down_since = self.clock()
        else:
            self._down_since = None
        return rating
