"""GuardedJudge: shared verdicts, exceptions as failures, down-time; build_judge from config."""

from __future__ import annotations

import asyncio

import pytest

from heartgrpo.config.judge import JudgeSettings
from heartgrpo.judge import LexicalJudge, ProcessPoolJudge, Verdict
from heartgrpo.judge.factory import build_judge, close_judge, judge_in_use
from heartgrpo.judge.guarded import GuardedJudge
from heartgrpo.judge.types import is_approximate

RUBRIC = [{"criterion": "mentions ECG", "points": 5}, {"criterion": "mentions aspirin", "points": 3}]
PROMPT = [{"role": "user", "content": "chest pain?"}]


class Counting:
    def __init__(self, fail: bool = False, raise_: bool = False) -> None:
        self.calls, self.fail, self.raise_ = 0, fail, raise_

    async def grade(self, prompt, response, rubrics):
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.raise_:
            raise ConnectionError("refused")
        return [Verdict.failed("timeout") if self.fail else Verdict(True, "ok") for _ in rubrics]


def test_verdicts_are_shared_across_strategies_and_concurrent_calls() -> None:
    inner = Counting()
    g = GuardedJudge(inner)

    async def go():
        a, b = await asyncio.gather(g.grade(PROMPT, "ECG", RUBRIC), g.grade(PROMPT, "ECG", RUBRIC))
        c = await g.grade(PROMPT, "ECG", RUBRIC)
        return a, b, c

    a, b, c = asyncio.run(go())
    assert inner.calls == 1 and a == b == c and g.shared_hits == 2
    asyncio.run(g.grade(PROMPT, "other answer", RUBRIC))
    assert inner.calls == 2


def test_exceptions_become_failed_verdicts_and_failures_are_not_memoised() -> None:
    now = [0.0]
    inner = Counting(raise_=True)
    g = GuardedJudge(inner, clock=lambda: now[0])
    out = asyncio.run(g.grade(PROMPT, "x", RUBRIC))
    assert [v.met for v in out] == [None, None] and "ConnectionError" in out[0].error
    now[0] = 30.0
    asyncio.run(g.grade(PROMPT, "x", RUBRIC))
    assert inner.calls == 2 and g.down_for() == 30.0
    inner.raise_ = False  # back up: down time resets
    asyncio.run(g.grade(PROMPT, "x", RUBRIC))
    assert g.down_for() == 0.0


def test_build_judge_kinds(tmp_path) -> None:
    lexical = build_judge(JudgeSettings(kind="approximate", approximate_threshold=0.3))
    assert isinstance(lexical, LexicalJudge) and is_approximate(lexical) and is_approximate(GuardedJudge(lexical))
    assert lexical.threshold == 0.3
    rec = tmp_path / "rec.jsonl"
    rec.write_text("")
    assert type(build_judge(JudgeSettings(kind="recorded", recording=rec))).__name__ == "RecordedJudge"
    oa = build_judge(JudgeSettings(kind="openai", model="m", base_url="http://127.0.0.1:9/v1", cache=None))
    assert type(oa).__name__ == "OpenAIJudge" and oa.mode == "per_criterion" and not is_approximate(oa)


def test_workers_build_a_process_pool_that_close_judge_stops(tmp_path) -> None:
    settings = JudgeSettings(kind="openai", model="m", base_url="http://127.0.0.1:9/v1", cache=tmp_path / "c.sqlite",
                             workers=2, mode="batched", max_retries=1)
    pool = build_judge(settings)
    assert isinstance(pool, ProcessPoolJudge) and pool.workers == 2
    assert pool.judge_kwargs["mode"] == "batched" and pool.judge_kwargs["cache"] == str(tmp_path / "c.sqlite")
    pool.start()
    processes = [w.process for w in pool._workers]
    assert all(p.is_alive() for p in processes)
    close_judge(GuardedJudge(pool))  # the wrapper GRPO uses is looked through
    assert not any(p.is_alive() for p in processes)
    close_judge(LexicalJudge())  # nothing to stop: no error


def test_judge_in_use_closes_only_the_judge_it_built(monkeypatch) -> None:
    class Closable:
        closed = 0

        def close(self) -> None:
            self.closed += 1

    given, built = Closable(), Closable()
    monkeypatch.setattr("heartgrpo.judge.factory.build_judge", lambda settings: built)
    settings = JudgeSettings(kind="approximate")
    with judge_in_use(settings, given) as used:
        assert used is given
    with pytest.raises(KeyError):  # closed on the way out of an error too
        with judge_in_use(settings) as used:
            assert used is built
            raise KeyError("stage failed")
    assert (given.closed, built.closed) == (0, 1)
