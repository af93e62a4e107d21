"""The judge as training sees it: built from config, shared by all reward strategies, watched.

:func:`build_judge` turns the ``judge:`` section into a judge object. :class:`GuardedJudge`
wraps it for GRPO:

- verdicts for the same (conversation, response, criteria) are computed once per run and shared,
  so several reward strategies over the same completions cost one round of judge calls;
- an exception from the judge becomes failed verdicts (``met=None``), never a crash;
- it measures how long the judge has been *down*: the time since the first call of an unbroken
  run of calls in which every verdict failed. GRPO's judge callback stops training cleanly (a
  checkpoint is saved) once that exceeds ``judge.max_down_seconds``.

    >>> from heartgrpo.judge import LexicalJudge
    >>> guarded = GuardedJudge(LexicalJudge())
    >>> guarded.down_for()
    0.0
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.store import json_digest

if TYPE_CHECKING:
    from heartgrpo.config import JudgeSettings

log = logging.getLogger(__name__)

__all__ = ["GuardedJudge", "JudgeUnavailableError", "build_judge", "close_judge", "is_approximate", "judge_in_use", "judge_label"]


class JudgeUnavailableError(RuntimeError):
    """The judge endpoint failed for longer than the configured limit; training stopped cleanly."""


def build_judge(settings: JudgeSettings) -> Any:
    """A judge from the ``judge:`` section (OpenAI-compatible, offline approximate, recorded,
    the local verifier, or the verifier distilled with the OpenAI-compatible judge)."""
    from heartgrpo.judge import LexicalJudge, OpenAIJudge, ProcessPoolJudge, RecordedJudge

    if settings.kind == "approximate":
        return LexicalJudge(threshold=settings.approximate_threshold)
    if settings.kind == "recorded":
        return RecordedJudge(settings.recording)
    if settings.kind in ("verifier", "distilled"):
        verifier = _verifier_judge(settings)
        if settings.kind == "verifier" or not hasattr(verifier, "verifier"):
            return verifier
        from heartgrpo.judge.distilled import DistilledJudge

        return DistilledJudge(verifier, build_judge(settings.model_copy(update={"kind": "openai"})), settings.distilled_threshold)
    options = dict(
        model=settings.model,
        base_url=settings.base_url,
        api_key_env=settings.api_key_env,
        mode=settings.mode,
        max_concurrency=settings.max_concurrency,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        cache=settings.cache,
        temperature=settings.temperature,
        replica_retry_after=settings.replica_retry_after,
        **_limit_share(settings),
    )
    if settings.workers > 1:
        return ProcessPoolJudge(settings.workers, **options)
    return OpenAIJudge(**options)


def _limit_share(settings: JudgeSettings) -> dict[str, float | None]:
    """The judge's rate limits for one judge object: the run's limits divided by the judges that
    send at once (``judge.workers`` per process, times the processes of an accelerate launch)."""
    from heartgrpo.train.distributed import world_size

    share = settings.workers * world_size()
    return {name: None if value is None else value / share
            for name, value in (("requests_per_minute", settings.requests_per_minute), ("tokens_per_minute", settings.tokens_per_minute))}


def _verifier_judge(settings: JudgeSettings) -> Any:
    """The VerifierJudge of ``judge.verifier`` (trained there on first use), or, with
    ``verifier_fallback: approximate`` and no way to get one, the lexical judge (reason logged)."""
    from heartgrpo.judge import LexicalJudge
    from heartgrpo.judge.verifier import VerifierJudge
    from heartgrpo.judge.verifier_run import ensure_verifier

    target = Path(settings.verifier)  # type: ignore[arg-type]
    if target.suffix == ".npz":
        path, reason = (target, None) if target.is_file() else (None, f"{target}: no such verifier file")
        if path is None and target.name == "verifier.npz":
            path, reason = ensure_verifier(target.parent, settings.verifier_data)
    else:
        path, reason = ensure_verifier(target, settings.verifier_data)
    if path is not None:
        return VerifierJudge.from_file(path)
    if settings.verifier_fallback == "approximate":
        log.warning("judge: using the APPROXIMATE lexical judge instead of the verifier: %s", reason)
        return LexicalJudge(threshold=settings.approximate_threshold)
    raise FileNotFoundError(f"judge.verifier: {reason}; train one with `heartgrpo verifier train`")


def judge_label(judge: Any) -> str:
    """How a run's title names an approximate judge ('' for others)."""
    inner = getattr(judge, "inner", judge)
    if not is_approximate(inner):
        return ""
    if type(inner).__name__ == "LexicalJudge":
        return " - APPROXIMATE offline lexical judge (word overlap, not a clinical grader)"
    return f" - {getattr(inner, 'name', type(inner).__name__)}"


@contextmanager
def judge_in_use(settings: JudgeSettings, judge: Any = None) -> Iterator[Any]:
    """``judge`` as given (its owner closes it), or one built from ``settings`` and closed on exit."""
    if judge is not None:
        yield judge
        return
    built = build_judge(settings)
    try:
        yield built
    finally:
        close_judge(built)


def close_judge(judge: Any) -> None:
    """Stop what a judge runs outside this process (the workers of a ProcessPoolJudge, also
    behind a GuardedJudge); judges without such resources need nothing."""
    inner = getattr(judge, "inner", judge)
    close = getattr(inner, "close", None)
    if callable(close):
        close()


def is_approximate(judge: Any) -> bool:
    """True for judges that declare themselves approximate (e.g. the lexical judge)."""
    inner = getattr(judge, "inner", judge)
    return bool(getattr(inner, "approximate", False))


def _key(prompt: Any, response: str, rubrics: Sequence[Any]) -> str:
    return json_digest(prompt, response, list(rubrics), default=str)


class GuardedJudge:
    """Judge wrapper: shared verdicts, exceptions as failed verdicts, down-time measurement.

    ``clock`` is injectable for tests. ``memo_size`` bounds the shared-verdict memory.
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

    def down_for(self) -> float:
        """Seconds since the judge started failing every verdict (0 when it is up)."""
        return 0.0 if self._down_since is None else self.clock() - self._down_since

    def _observe(self, verdicts: Sequence[Any]) -> None:
        self.calls += 1
        if verdicts and all(getattr(v, "met", None) is None for v in verdicts):
            self.failed_calls += 1
            if self._down_since is None:
                self._down_since = self.clock()
        elif verdicts:
            self._down_since = None

    async def _grade_inner(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list:
        from heartgrpo.judge import Verdict

        try:
            verdicts = list(await self.inner.grade(prompt, response, rubrics))
        except Exception as err:  # a transport bug must not kill training: fail the verdicts
            log.warning("judge raised %s: %s", type(err).__name__, err)
            verdicts = [Verdict.failed(f"{type(err).__name__}: {err}") for _ in rubrics]
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
        if all(getattr(v, "met", None) is not None for v in verdicts):  # never memoise failures
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
