"""The named policies, one test each: empty answers, judge failure under the format reward, a
rubric without positive points, and McNemar's accepted outcome types."""

import asyncio
import inspect

import numpy as np
import pandas as pd
import pytest

from heartgrpo.answer_format import EMPTY_EXPLANATION
from heartgrpo.config.run import FormatRewardSettings, config_from_dict
from heartgrpo.eval import grade
from heartgrpo.eval.metrics import example_score, mcnemar
from heartgrpo.judge import Verdict
from heartgrpo.rewards import format_reward_func, make_reward_func, score, score_group
from heartgrpo.rewards.trl import is_async_reward

RUBRIC = [
    {"criterion": "ecg", "points": 5, "tags": []},
    {"criterion": "wait", "points": -2, "tags": []},
]
PAPER_OK = "<start_working_out>r<end_working_out><SOLUTION>ecg</SOLUTION>"


class CountingJudge:
    """A criterion is met when its text occurs in the response; a response with FAIL fails every verdict."""

    def __init__(self):
        self.graded: list[str] = []
        self.rated: list[str] = []

    async def grade(self, prompt, response, rubrics):
        self.graded.append(response)
        await asyncio.sleep(0)
        if "FAIL" in response:
            return [Verdict.failed("judge down") for _ in rubrics]
        return [Verdict(c["criterion"] in response, "kw") for c in rubrics]

    async def rate(self, prompt, response, rubrics):
        self.rated.append(response)
        return 7.0


def call(f, **kw):
    out = f(**kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


# ---------------------------------------------------------------- EmptyAnswerPolicy


@pytest.mark.parametrize("use_async", [False, True])
def test_empty_answer_policy_unmet_scores_without_the_judge(use_async):
    judge = CountingJudge()
    f = make_reward_func(judge, "healthbench", use_async=use_async)
    completions = ["<think>never closed", "ecg now"]  # an unterminated <think> extracts to ""
    rewards = call(f, prompts=["q"] * 2, completions=completions, rubrics=[RUBRIC] * 2)
    assert rewards == [score("healthbench", [5, -2], [False, False]), 1.0] == [0.0, 1.0]
    assert judge.graded == ["ecg now"]  # the empty answer never reached the judge


def test_empty_answer_policy_judge_sends_the_empty_string():
    judge = CountingJudge()
    f = make_reward_func(judge, "healthbench", use_async=False, on_empty="judge")
    call(f, prompts=["q"], completions=["<think>never closed"], rubrics=[RUBRIC])
    assert judge.graded == [""]
    with pytest.raises(ValueError, match="on_empty"):
        make_reward_func(judge, "healthbench", on_empty="skip")


def test_empty_answer_policy_for_the_rating_strategy_is_the_lowest_rating():
    judge = CountingJudge()
    f = make_reward_func(judge, "rar_implicit", use_async=False)
    assert call(f, prompts=["q"] * 2, completions=["", "answer"], rubrics=[RUBRIC] * 2) == [0.0, pytest.approx(6 / 9)]
    assert judge.rated == ["answer"]


def test_empty_answer_policy_is_the_same_in_evaluation():
    judge = CountingJudge()
    unmet = asyncio.run(grade._grade_one(judge, [], "", RUBRIC, "r1"))
    assert unmet == [{"met": False, "explanation": EMPTY_EXPLANATION, "error": None}] * 2 and judge.graded == []
    asked = asyncio.run(grade._grade_one(judge, [], "", RUBRIC, "r1", on_empty="judge"))
    assert judge.graded == [""] and [v["met"] for v in asked] == [False, False]


# ---------------------------------------------------------------- JudgeFailurePolicy


def _batch():
    return dict(prompts=["q"] * 3, completions=[PAPER_OK, PAPER_OK.replace("ecg", "FAIL ecg"), "FAIL plain"], rubrics=[RUBRIC] * 3)


@pytest.mark.parametrize("order", ["rubric_first", "format_first"])
def test_judge_failure_policy_exclude_sync_in_either_order(order):
    judge = CountingJudge()
    rubric = make_reward_func(judge, "healthbench", use_async=False, strip_reasoning=True)
    fmt = format_reward_func("paper", rubric_funcs=[rubric])
    funcs = [rubric, fmt] if order == "rubric_first" else [fmt, rubric]
    out = {f.__name__: call(f, **_batch()) for f in funcs}  # TRL < 0.27: sync functions, in list order
    assert out["rubric_healthbench"] == [1.0, None, None]
    assert out["format_paper"] == [1.0, None, None]  # a completion with failed verdicts is left out
    assert len(judge.graded) == 3  # the format reward read the rubric reward's results, no second judging


@pytest.mark.parametrize("order", ["rubric_first", "format_first"])
def test_judge_failure_policy_exclude_async_gathered(order):
    judge = CountingJudge()
    rubric = make_reward_func(judge, "healthbench", use_async=True, strip_reasoning=True)
    fmt = format_reward_func("paper", rubric_funcs=[rubric])
    assert is_async_reward(fmt)
    funcs = [rubric, fmt] if order == "rubric_first" else [fmt, rubric]

    async def trl_step():  # TRL >= 0.27 gathers async reward functions on one loop
        return await asyncio.gather(*(f(**_batch()) for f in funcs))

    out = dict(zip([f.__name__ for f in funcs], asyncio.run(trl_step())))
    assert out["format_paper"] == [1.0, None, None] and out["rubric_healthbench"] == [1.0, None, None]
    assert len(judge.graded) == 3
    # the next identical batch is judged afresh (results are shared within a batch, not cached across)
    asyncio.run(trl_step())
    assert len(judge.graded) == 6


def test_judge_failure_policy_format_only_trains_on_the_format_score():
    judge = CountingJudge()
    rubric = make_reward_func(judge, "healthbench", use_async=False)
    fmt = format_reward_func("paper", rubric_funcs=[rubric], on_judge_failure="format_only")
    assert call(fmt, **_batch()) == [1.0, 1.0, 0.0] and judge.graded == []
    with pytest.raises(ValueError, match="on_judge_failure"):
        format_reward_func("paper", on_judge_failure="drop")
    with pytest.raises(ValueError, match="not a reward function of make_reward_func"):
        format_reward_func("paper", rubric_funcs=[lambda prompts, completions, **kw: [1.0]])


def test_judge_failure_policy_is_configured_and_wired_by_build_reward_funcs():
    from heartgrpo.train.grpo import build_reward_funcs

    assert FormatRewardSettings().on_judge_failure == "exclude"
    cfg = config_from_dict({
        "name": "t", "model": {"name_or_path": "m"},
        "reward": {"strategies": [{"name": "healthbench"}], "format_reward": {"enabled": True}, "strip_reasoning": True},
    })
    judge = CountingJudge()
    funcs, weights = build_reward_funcs(cfg, judge)
    assert [f.__name__ for f in funcs] == ["rubric_healthbench", "format_paper"] and weights == [1.0, 0.5]
    batch = dict(_batch(), prompts=[[{"role": "user", "content": "q"}]] * 3)
    # TRL's order: sync functions one after the other, then the async ones gathered on one loop
    out = {f.__name__: f(**batch) for f in funcs if not is_async_reward(f)}
    gathered = [f for f in funcs if is_async_reward(f)]

    async def rest():
        return await asyncio.gather(*(f(**batch) for f in gathered))

    out.update(zip([f.__name__ for f in gathered], asyncio.run(rest()) if gathered else []))
    assert out == {"rubric_healthbench": [1.0, None, None], "format_paper": [1.0, None, None]}
    assert len(judge.graded) == 3


# ---------------------------------------------------------------- NoPositivePolicy


def test_no_positive_policy_none_follows_simple_evals():
    assert score("healthbench", [-3, -2], [True, False]) is None
    assert score_group("criterion_variance", [-3, -2], [[True, False], [False, False]]) == [None, None]
    assert example_score([-3, -2], [True, False]) is None
    with pytest.raises(ValueError, match=r"no positive points"):
        score("healthbench", [-3, -2], [True, False], no_positive="raise")
    with pytest.raises(ValueError, match="no_positive"):
        score("healthbench", [-3], [True], no_positive="zero")
    assert score("healthbench", [3, -2], [True, True], no_positive="raise") == pytest.approx(1 / 3)


# ---------------------------------------------------------------- McNemar's outcomes


def test_mcnemar_accepts_numpy_booleans_and_zero_one_integers():
    a = [True] * 10 + [False] * 2
    b = [False] * 10 + [True] * 2
    expected = mcnemar(a, b)
    assert mcnemar(np.array(a), np.array(b)) == expected
    frame = pd.DataFrame({"a": a, "b": b})
    assert mcnemar(frame["a"].tolist(), list(frame["b"])) == expected
    assert mcnemar(list(frame["a"]), list(frame["b"])) == expected  # np.True_ elements
    assert mcnemar([int(x) for x in a], np.array(b, dtype=np.int64)) == expected
    for bad in (None, 2, 0.5, "yes", np.float64("nan")):
        with pytest.raises(ValueError, match=r"b_pass\[1\]"):
            mcnemar([True, False], [True, bad])
