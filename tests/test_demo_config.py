"""The CPU demo config keeps the settings that make GRPO's learning visible within its budget,
and the GRPO prompt selection they rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heartgrpo.config import load_config
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
    from heartgrpo.doctor_run import _run_config

    cfg = _run_config(load_config(ROOT / "configs" / "cpu-demo.yaml"), tmp_path, "some-model", on_cuda=False)
    assert cfg.grpo.prompt_ids is None and cfg.grpo.max_prompts is None


def test_the_learning_curve_benchmark_trains_on_its_own_rows(tmp_path):
    from benchmarks.learning_curve import build_config

    cfg = build_config("some-model", "complexity", seed=0, steps=2, out=tmp_path, quick=True)
    assert cfg.grpo.prompt_ids is None and cfg.grpo.max_prompts is None
