"""The CPU demo config keeps the settings that make GRPO's learning visible within its budget,
and the GRPO prompt selection they rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heartgrpo.config.run import load_config
from heartgrpo.train.grpo import select_prompts

ROOT = Path(__file__).resolve().parents[1]


def test_demo_trains_on_one_prompt_for_quarters_of_eight_steps():
    g = load_config(ROOT / "configs" / "cpu-demo.yaml").grpo
    # one prompt per step, the same one every step: step rewards differ by sampling noise only
    assert g.prompt_ids is not None and len(g.prompt_ids) == 1
    assert g.per_device_train_batch_size * g.gradient_accumulation_steps == g.num_generations >= 4
    assert g.max_steps >= 32 and g.max_steps // 4 >= 8  # first/last quarter of >= 8 steps each
    assert g.learning_rate >= 3e-4 and g.lr_scheduler_type == "constant"
    assert g.max_completion_length <= 48  # a step stays short on 2 cores


def test_the_demo_prompt_is_in_the_bundled_sample_grpo_split(tmp_path):
    from heartgrpo.data import prepare_datasets

    cfg = load_config(ROOT / "configs" / "cpu-demo.yaml")
    prepare_datasets(cfg.data, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "grpo.jsonl").read_text().splitlines() if line.strip()]
    chosen = select_prompts(rows, cfg.grpo.prompt_ids)
    assert [r["id"] for r in chosen] == cfg.grpo.prompt_ids
    assert len(chosen[0]["rubrics"]) >= 7  # enough criteria for rewards to differ within a group


def test_select_prompts_keeps_data_order_and_names_unknown_ids():
    rows = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    assert select_prompts(rows, None) == rows
    assert [r["id"] for r in select_prompts(rows, ["c", "a"])] == ["a", "c"]
    with pytest.raises(ValueError, match="no GRPO prompt has id x, y"):
        select_prompts(rows, ["y", "a", "x"])


def test_doctor_run_trains_on_its_own_prompts_not_the_demo_selection(tmp_path):
    from heartgrpo.doctor.run import _run_config

    cfg = _run_config(load_config(ROOT / "configs" / "cpu-demo.yaml"), tmp_path, "some-model", on_cuda=False)
    assert cfg.grpo.prompt_ids is None and cfg.grpo.max_prompts is None


def test_the_learning_curve_benchmark_trains_on_its_own_rows(tmp_path):
    from benchmarks.learning_curve import build_config

    cfg = build_config("some-model", "complexity", seed=0, steps=2, out=tmp_path, quick=True)
    assert cfg.grpo.prompt_ids is None and cfg.grpo.max_prompts is None


def test_demo_judges_with_the_verifier_and_falls_back_to_the_lexical_judge_without_data(tmp_path, caplog):
    from heartgrpo.judge import LexicalJudge
    from heartgrpo.judge.factory import build_judge

    j = load_config(ROOT / "configs" / "cpu-demo.yaml").judge
    assert j.kind == "verifier" and j.verifier == Path("runs/cpu-demo/verifier")  # trained there once, then read
    assert j.verifier_fallback == "approximate"
    fallback = build_judge(j.model_copy(update={"verifier": tmp_path / "v", "verifier_data": tmp_path / "absent"}))
    assert isinstance(fallback, LexicalJudge) and fallback.threshold == j.approximate_threshold
    assert "instead of the verifier: no graded data" in caplog.text


class _FixedVerifier:
    """Stands in for a trained verifier: fixed p(met) per answer, all below its verdict cut."""

    threshold = 0.44
    info: dict = {}
    eval_kappa = None

    def __init__(self, p_by_answer):
        self.p_by_answer = p_by_answer

    def predict_proba(self, asks):
        import numpy as np

        return np.array([self.p_by_answer[a.response] for a in asks])


def test_demo_reward_ranks_answers_whose_verdicts_are_all_unmet():
    # the verifier marks few criteria met in a 135M model's answers: a verdict strategy gives a
    # group of such answers equal rewards (nothing to learn); the demo's rates them by p(met)
    import asyncio
    import inspect

    from heartgrpo.judge.verifier.model import VerifierJudge
    from heartgrpo.rewards import score
    from heartgrpo.train.grpo import build_reward_funcs

    cfg = load_config(ROOT / "configs" / "cpu-demo.yaml")
    judge = VerifierJudge(_FixedVerifier({"closer": 0.4, "further": 0.1}))  # type: ignore[arg-type]
    rubric = [{"criterion": "Advises an echocardiogram", "points": 5.0}, {"criterion": "Names HCM", "points": 3.0}]
    verdicts = asyncio.run(judge.grade("q", "closer", rubric))
    assert not any(v.met for v in verdicts) and score("complexity", [5.0, 3.0], [v.met for v in verdicts]) == 0.0
    (func,), _ = build_reward_funcs(cfg, judge)
    out = func(prompts=["q", "q"], completions=["closer", "further"], rubrics=[rubric, rubric])
    rewards = asyncio.run(out) if inspect.isawaitable(out) else out
    assert rewards == pytest.approx([0.4, 0.1])  # expected score sum(points * p) / sum(positive points)
