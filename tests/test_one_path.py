"""One path per parameter: an endpoint field reaches the HTTP request through
``EndpointSettings.endpoint_kwargs`` alone; a reward strategy is resolved once, at config load,
and the object travels; the reward function is a picklable callable class; evaluation and report
directories follow ``output_dir`` unless set."""

from __future__ import annotations

import asyncio
import pickle

from heartgrpo.config.data import RubricGenSettings
from heartgrpo.config.judge import JudgeSettings
from heartgrpo.config.run import config_from_dict
from heartgrpo.io.chat import ChatClient
from heartgrpo.io.loopback import LoopbackServer, Reply
from heartgrpo.judge import LexicalJudge
from heartgrpo.judge.factory import build_judge
from heartgrpo.pipeline import eval_dir_for
from heartgrpo.rewards import STRATEGIES, AsyncRubricReward, RubricReward, make_reward_func

PROMPT = [{"role": "user", "content": "I have crushing chest pain."}]
RUBRIC = [{"criterion": "Advises calling emergency services", "points": 5, "tags": []}]


class TracedJudgeSettings(JudgeSettings):
    """A judge section with one more transport field (an :class:`Endpoint` keyword), added here only."""

    extra_body: dict = {"trace_id": "t-judge"}


class TracedRubricSettings(RubricGenSettings):
    extra_body: dict = {"trace_id": "t-rubrics"}


def test_a_field_added_to_the_judge_settings_reaches_the_http_request():
    with LoopbackServer(lambda req, i: Reply(content='{"explanation": "ok", "criteria_met": true}')) as server:
        settings = TracedJudgeSettings(kind="openai", model="m", base_url=server.base_url, max_retries=0)
        judge = build_judge(settings)

        async def grade():
            try:
                return await judge.grade(PROMPT, "Call emergency services now.", RUBRIC)
            finally:
                await judge.aclose()

        verdicts = asyncio.run(grade())
    assert [v.met for v in verdicts] == [True]
    assert server.requests and all(r.get("trace_id") == "t-judge" for r in server.requests)


def test_a_field_added_to_a_data_llm_section_reaches_the_http_request():
    with LoopbackServer(lambda req, i: Reply(content="fine")) as server:
        settings = TracedRubricSettings(model="m", base_url=server.base_url, max_retries=0)
        chat = ChatClient(settings.model, **settings.endpoint_kwargs(), namespace="t", prompt_version="v1")

        async def ask():
            try:
                return await chat.complete([{"role": "user", "content": "hi"}], str)
            finally:
                await chat.aclose()

        assert asyncio.run(ask()) == "fine"
    assert server.requests[0]["trace_id"] == "t-rubrics"


def test_endpoint_kwargs_keep_only_transport_fields():
    kwargs = JudgeSettings(kind="openai", model="m", base_url="http://a/v1", timeout=7).endpoint_kwargs()
    assert kwargs["timeout"] == 7.0 and kwargs["base_url"] == "http://a/v1"
    assert not {"model", "kind", "mode", "cache", "temperature", "workers"} & set(kwargs)


def test_the_strategy_is_resolved_at_config_load_and_the_object_travels():
    cfg = config_from_dict({"name": "t", "model": {"name_or_path": "m"},
                            "reward": {"strategies": [{"name": "hybrid", "options": {"normalize": True}}]}})
    spec = cfg.reward.strategies[0]
    assert spec.strategy is STRATEGIES["hybrid"]
    from heartgrpo.train.grpo import build_reward_funcs

    funcs, _ = build_reward_funcs(cfg, LexicalJudge())
    assert funcs[0].strategy is spec.strategy and funcs[0].__name__ == "rubric_hybrid"


def test_reward_function_is_a_picklable_class_with_one_body_for_both_forms():
    sync = make_reward_func(LexicalJudge(), "healthbench", use_async=False)
    both = make_reward_func(LexicalJudge(), "healthbench", use_async=True)
    assert type(sync) is RubricReward and type(both) is AsyncRubricReward
    kwargs = {"prompts": ["Chest pain?"], "completions": ["Call emergency services."], "rubrics": [RUBRIC]}
    expected = sync(**kwargs)
    assert asyncio.run(both(**kwargs)) == expected == [1.0]
    assert sync.pending_metrics  # no log_metric passed: the metrics wait on the function
    copy = pickle.loads(pickle.dumps(sync))
    assert not copy.pending_metrics  # a copy starts with none
    assert copy.__name__ == "rubric_healthbench" and copy(**kwargs) == expected


def test_eval_and_report_directories_follow_output_dir_unless_set(tmp_path):
    base = {"name": "t", "model": {"name_or_path": "m"}, "output_dir": str(tmp_path / "run")}
    cfg = config_from_dict(base)
    assert eval_dir_for(cfg, "grpo") == tmp_path / "run" / "eval" / "grpo"
    cfg = config_from_dict({**base, "eval": {"out_dir": str(tmp_path / "elsewhere")}})
    assert eval_dir_for(cfg, "sft") == tmp_path / "elsewhere" / "sft"
