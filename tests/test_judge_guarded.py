"""GuardedJudge is the one failure path of training and evaluation; describe() names a judge in reports."""

from __future__ import annotations

import json
from pathlib import Path

from eval_fakes import FakeGenerator, KeywordJudge, make_records

from heartgrpo.io.asyncs import run_sync
from heartgrpo.eval.generate import generate_answers
from heartgrpo.eval.grade import grade_answers
from heartgrpo.judge import LexicalJudge, Verdict
from heartgrpo.judge.factory import judge_label
from heartgrpo.judge.guarded import GuardedJudge, guarded
from heartgrpo.judge.types import JudgeDescription, describe_judge
from heartgrpo.pipeline import judge_note

RUBRIC = [{"criterion": "a", "points": 1.0, "tags": []}, {"criterion": "b", "points": -1.0, "tags": []}]


class Flaky:
    """Raises on responses with "down", returns one verdict too few on "short", else all met."""

    async def grade(self, prompt, response, rubrics):
        if "down" in response:
            raise ConnectionError("refused")
        n = len(rubrics) - 1 if "short" in response else len(rubrics)
        return [Verdict(True, "ok") for _ in range(n)]


def _rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_training_and_evaluation_record_the_same_failures():
    judge = GuardedJudge(Flaky())
    raised = run_sync(judge.grade([], "judge down", RUBRIC))
    short = run_sync(judge.grade([], "short answer", RUBRIC))
    assert [v.met for v in raised + short] == [None] * 4
    assert raised[0].error == "judge raised ConnectionError: refused"
    assert short[0].error == "judge returned 1 verdicts for 2 criteria"
    assert judge.failed_calls == 2 and judge.down_for() >= 0.0 and judge._memo == {}  # failures never remembered
    ok = run_sync(judge.grade([], "fine", RUBRIC))
    assert [v.met for v in ok] == [True, True] and judge.down_for() == 0.0


def test_evaluation_goes_through_the_guard_and_keeps_its_figures(tmp_path: Path):
    answers = tmp_path / "a.jsonl"
    generate_answers(make_records(), FakeGenerator(), answers, progress=False)
    grade_answers(make_records(), answers, KeywordJudge(), tmp_path / "raw.jsonl", progress=False)
    wrapped = GuardedJudge(KeywordJudge())
    grade_answers(make_records(), answers, wrapped, tmp_path / "wrapped.jsonl", progress=False)
    raw, via = _rows(tmp_path / "raw.jsonl"), _rows(tmp_path / "wrapped.jsonl")
    assert raw.keys() == via.keys() and [raw[k]["criteria"] for k in raw] == [via[k]["criteria"] for k in raw]
    # the judge is recorded as it was passed; a failed criterion stays unjudged (None), never False
    assert raw["hb-1"]["judge"]["kind"] == "KeywordJudge" and via["hb-1"]["judge"]["kind"] == "GuardedJudge(KeywordJudge)"
    failed = [c for r in raw.values() for c in r["criteria"] if c["error"]]
    assert failed and all(c["met"] is None for c in failed)
    sent = sum(not r["response_empty"] for r in raw.values())  # an empty answer is not sent to the judge
    assert wrapped.calls + wrapped.shared_hits == sent  # the judge given was used as the guard, not wrapped again


def test_guarded_does_not_wrap_twice():
    inner = GuardedJudge(LexicalJudge())
    assert guarded(inner) is inner and guarded(LexicalJudge()).inner.__class__ is LexicalJudge


def test_one_description_names_the_judge_in_title_and_note():
    lexical = LexicalJudge()
    assert judge_label(GuardedJudge(lexical)) == lexical.describe().label
    assert judge_note(GuardedJudge(lexical)) == lexical.describe().meaning and "word overlap" in judge_note(lexical)

    class Own:
        approximate = True

        def describe(self):
            return JudgeDescription(" - mine", "It rewards what I say.")

    assert (judge_label(Own()), judge_note(GuardedJudge(Own()))) == (" - mine", "It rewards what I say.")
    assert describe_judge(KeywordJudge()) == JudgeDescription(
        "", "Judge: KeywordJudge; a gain is a gain in the rubric score as that judge grades it.")


def test_sync_reward_calls_over_the_guarded_judge_free_their_loops_and_clients():
    """TRL < 0.27 calls the reward function synchronously: each call runs its own event loop and
    makes the endpoint's clients on it. Through the GuardedJudge that GRPO wires in, every call's
    clients must be closed and dropped after it, and its loop freed once its batch leaves the
    reward's recent-batch memory (they once stayed in the endpoint: about 1 MiB a step)."""
    import asyncio
    import gc
    import weakref

    from heartgrpo.io.loopback import LoopbackServer, grading_responder
    from heartgrpo.judge import OpenAIJudge
    from heartgrpo.rewards import make_reward_func

    loops: list[weakref.ref] = []

    class Watched(OpenAIJudge):
        async def grade(self, prompt, response, rubrics):
            loops.append(weakref.ref(asyncio.get_running_loop()))
            return await super().grade(prompt, response, rubrics)

    with LoopbackServer(grading_responder()) as server:
        judge = Watched("m", base_url=server.base_url, max_retries=0)
        reward = make_reward_func(GuardedJudge(judge), "complexity", use_async=False)
        for step in range(12):
            rewards = reward(prompts=["q"] * 2, completions=[f"answer {step} {i}" for i in range(2)], rubrics=[RUBRIC] * 2)
            assert all(r is not None for r in rewards)
        gc.collect()
        calls = list({id(ref): ref for ref in loops}.values())  # one loop a call
        assert len(calls) == 12 and len(judge.endpoint._loops) == 0
        assert sum(ref() is not None for ref in calls) <= reward.recent.size  # only the last batches' results keep theirs

        async def closed_by_the_guard() -> int:
            await judge.grade([{"role": "user", "content": "q"}], "one more", RUBRIC)
            made = len(judge.endpoint._loops)
            await GuardedJudge(judge).aclose()
            return made - len(judge.endpoint._loops)

        assert asyncio.run(closed_by_the_guard()) == 1
