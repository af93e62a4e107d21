"""TRL reward functions over a judge: extraction, strategies, groups, failures, async/sync paths, logging."""

import asyncio
import inspect
import json

import pytest

from heartgrpo.judge import Verdict
from heartgrpo.answer_format import extract_answer
from heartgrpo.rewards.trl import make_reward_func, trl_supports_async_rewards
from heartgrpo.rewards import complexity_factor, likert
from heartgrpo.rewards.trl import is_async_reward

RUBRIC = [
    {"criterion": "ecg", "points": 5, "tags": ["category:essential"]},
    {"criterion": "aspirin", "points": 3, "tags": ["category:important"]},
    {"criterion": "wait", "points": -2, "tags": ["category:pitfall"]},
]


class KeywordJudge:
    """Test judge: a criterion is met when its text occurs in the response; 'FAIL' fails it."""

    def __init__(self):
        self.seen = []

    async def grade(self, prompt, response, rubrics):
        self.seen.append(response)
        out = []
        for c in rubrics:
            if "FAIL" in response and c["criterion"] == "aspirin":
                out.append(Verdict.failed("timeout after 1 s (3 attempts)"))
            else:
                out.append(Verdict(c["criterion"] in response, "kw", cached="CACHED" in response))
        return out

    async def rate(self, prompt, response, rubrics):
        self.seen.append(response)
        return None if "FAIL" in response else float(len(response.split()) % 10 + 1)


def call(f, **kw):
    result = f(**kw)
    return asyncio.run(result) if inspect.isawaitable(result) else result


def test_name_and_async_detection():
    from heartgrpo.io.process import package_version

    f = make_reward_func(KeywordJudge(), "complexity")
    assert f.__name__ == "rubric_complexity"
    # TRL >= 0.27 (the pinned 1.14.2) gathers async rewards; the Colab pin 0.22.2 does not
    assert trl_supports_async_rewards() is (package_version("trl") >= (0, 27))
    assert is_async_reward(f) is trl_supports_async_rewards()
    assert not is_async_reward(make_reward_func(KeywordJudge(), "hybrid", use_async=False))
    assert make_reward_func(KeywordJudge(), "binary", name="my_reward").__name__ == "my_reward"


def test_rewards_match_hand_computation():
    judge = KeywordJudge()
    f = make_reward_func(judge, "healthbench")
    completions = ["ecg and aspirin", "ecg, then wait", "nothing useful"]
    rewards = call(f, prompts=["q"] * 3, completions=completions, rubrics=[RUBRIC] * 3)
    assert rewards == [pytest.approx(8 / 8), pytest.approx((5 - 2) / 8), 0.0]
    complexity = call(make_reward_func(judge, "complexity"), prompts=["q"], completions=["ecg and aspirin"], rubrics=[RUBRIC])
    assert complexity == [pytest.approx(20 * complexity_factor(3))]


def test_failed_verdict_makes_completion_unscorable():
    f = make_reward_func(KeywordJudge(), "complexity")
    rewards = call(f, prompts=["q", "q"], completions=["ecg FAIL", "ecg"], rubrics=[RUBRIC] * 2)
    assert rewards[0] is None and rewards[1] is not None and rewards[1] > 0


def test_think_and_reasoning_are_stripped_before_judging():
    judge = KeywordJudge()
    f = make_reward_func(judge, "healthbench", strip_reasoning=True)
    completions = [
        "<think>maybe aspirin? wait</think>Take the ecg.",
        "<start_working_out>aspirin, wait<end_working_out><SOLUTION>ecg now</SOLUTION>",
        "aspirin wait<end_working_out>ecg",  # generation prompt ended with <start_working_out>
        [{"role": "assistant", "content": "<think>ecg</think>aspirin"}],
    ]
    rewards = call(f, prompts=["q"] * 4, completions=completions, rubrics=[RUBRIC] * 4)
    assert judge.seen == ["Take the ecg.", "ecg now", "ecg", "aspirin"]
    assert rewards == [pytest.approx(5 / 8), pytest.approx(5 / 8), pytest.approx(5 / 8), pytest.approx(3 / 8)]


def test_extract_answer_options():
    text = "<think>t</think><start_working_out>w<end_working_out><SOLUTION>s</SOLUTION>"
    assert extract_answer(text, strip_think=False) == text
    assert extract_answer(text, strip_reasoning=False) == "<start_working_out>w<end_working_out><SOLUTION>s</SOLUTION>"
    assert extract_answer(text, strip_reasoning=True) == "s"
    assert extract_answer("</think>answer") == "answer"
    assert extract_answer("<think>never closed") == ""


def test_rubrics_as_json_strings_and_rar_format():
    rar = [{"title": "t", "description": "Essential Criteria: ecg", "weight": 5}]
    f = make_reward_func(KeywordJudge(), "binary")
    assert call(f, prompts=["q", "q"], completions=["ecg", "no"], rubrics=[json.dumps(RUBRIC), rar]) == [0.0, 0.0]
    assert call(f, prompts=["q"], completions=["ecg"], rubrics=[rar]) == [1.0]
    with pytest.raises(KeyError, match="rubrics"):
        call(f, prompts=["q"], completions=["ecg"])
    with pytest.raises(ValueError, match=r"rubrics\[0\]"):
        call(f, prompts=["q"], completions=["ecg"], rubrics=["not json"])


def test_group_strategy_sees_each_prompt_group():
    judge = KeywordJudge()
    f = make_reward_func(judge, "criterion_variance", floor=0.0)
    prompts = ["p1", "p1", "p2", "p2"]
    completions = ["ecg", "aspirin", "ecg", "ecg aspirin"]
    rewards = call(f, prompts=prompts, completions=completions, rubrics=[RUBRIC] * 4)
    # group p1: ecg and aspirin both split the group -> weights 5, 3 -> 5/8 and 3/8
    # group p2: ecg agreed (weight 0), aspirin split -> 0/3 and 3/3
    assert rewards == [pytest.approx(5 / 8), pytest.approx(3 / 8), pytest.approx(0.0), pytest.approx(1.0)]
    # the same completions scored as one group of four would differ
    merged = call(f, prompts=["p"] * 4, completions=completions, rubrics=[RUBRIC] * 4)
    assert merged != rewards
    chunked = call(make_reward_func(judge, "criterion_variance", floor=0.0, num_generations=2),
                   prompts=["p"] * 4, completions=completions, rubrics=[RUBRIC] * 4)
    assert chunked == rewards
    with pytest.raises(ValueError, match="num_generations"):
        call(make_reward_func(judge, "criterion_variance", num_generations=3), prompts=["p"] * 4, completions=completions, rubrics=[RUBRIC] * 4)


def test_rar_implicit_uses_rate_and_likert():
    f = make_reward_func(KeywordJudge(), "rar_implicit")
    assert f.__name__ == "rubric_rar_implicit"
    rewards = call(f, prompts=["q", "q"], completions=["one two three", "FAIL"], rubrics=[RUBRIC] * 2)
    assert rewards == [likert(4.0), None]


def test_bad_strategy_or_option_fails_at_construction():
    with pytest.raises(ValueError, match="unknown strategy"):
        make_reward_func(KeywordJudge(), "nope")
    with pytest.raises(ValueError, match="floor"):
        make_reward_func(KeywordJudge(), "complexity", floor=0.5)


def test_log_metric_reports_failure_cache_and_category_rates():
    logged = {}
    f = make_reward_func(KeywordJudge(), "complexity")
    call(
        f,
        prompts=["q"] * 3,
        completions=["ecg CACHED", "ecg FAIL", "wait"],
        rubrics=[RUBRIC] * 3,
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert logged["rubric_complexity/judge_failure_rate"] == pytest.approx(1 / 9)
    assert logged["rubric_complexity/cache_hit_rate"] == pytest.approx(3 / 9)
    assert logged["rubric_complexity/unscorable_rate"] == pytest.approx(1 / 3)
    assert logged["rubric_complexity/met_rate/essential"] == pytest.approx(2 / 3)
    assert logged["rubric_complexity/met_rate/important"] == pytest.approx(0 / 2)
    assert logged["rubric_complexity/met_rate/pitfall"] == pytest.approx(1 / 3)


def test_sync_path_works_inside_a_running_event_loop():
    f = make_reward_func(KeywordJudge(), "binary", use_async=False)

    async def notebook_cell():
        return f(prompts=["q"], completions=["ecg aspirin"], rubrics=[RUBRIC])

    assert asyncio.run(notebook_cell()) == [1.0]
    assert f(prompts=["q"], completions=["ecg"], rubrics=[RUBRIC]) == [0.0]


def test_openai_judge_through_sync_and_async_paths(tmp_path):
    from heartgrpo.judge import OpenAIJudge
    from heartgrpo.io.loopback import LoopbackServer, grading_responder

    with LoopbackServer(grading_responder()) as server:
        judge = OpenAIJudge("m", base_url=server.base_url, max_retries=0, timeout=5, cache=tmp_path / "c.sqlite")
        sync_f = make_reward_func(judge, "healthbench", use_async=False)
        kwargs = dict(prompts=["q", "q"], completions=["a", "b"], rubrics=[RUBRIC] * 2)
        first = sync_f(**kwargs)  # a fresh event loop per call: the client must not leak across loops
        second = sync_f(**{**kwargs, "completions": ["c", "d"]})
        assert all(r is not None for r in first + second) and len(server.requests) == 12
        logged = {}
        async_f = make_reward_func(judge, "healthbench", use_async=True)
        again = asyncio.run(async_f(**kwargs, log_metric=lambda n, v: logged.__setitem__(n, v)))
    assert again == first and len(server.requests) == 12
    assert logged["rubric_healthbench/cache_hit_rate"] == 1.0


def test_rar_explicit_weights_follow_category_tags():
    # points say "essential" (5) but the tag says optional: RaR weight 0.3, not 1.0
    rubric = [
        {"criterion": "ecg", "points": 5, "tags": ["category:optional"]},
        {"criterion": "aspirin", "points": 3, "tags": ["category:important"]},
    ]
    f = make_reward_func(KeywordJudge(), "rar_explicit")
    (reward,) = call(f, prompts=["q"], completions=["ecg only"], rubrics=[rubric])
    assert reward == pytest.approx(0.3 / (0.3 + 0.7))
    # without tags the RaR weight convention applies (5 -> essential, 3 -> important)
    plain = [{k: v for k, v in c.items() if k != "tags"} for c in rubric]
    (reward,) = call(f, prompts=["q"], completions=["ecg only"], rubrics=[plain])
    assert reward == pytest.approx(1.0 / 1.7)
