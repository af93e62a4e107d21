"""A configuration that cannot fill one GRPO step fails before any model loads, with the numbers."""

from __future__ import annotations

import pytest

from heartgrpo.config.run import config_from_dict
from heartgrpo.train import grpo
from heartgrpo.train.fill import ZeroStepError, check_grpo_fills_a_step, grpo_prompts_per_round

RUBRICS = [{"criterion": "Mentions an ECG", "points": 3, "tags": []}]


def _rows(n: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": [{"role": "user", "content": f"Chest pain {i}?"}], "rubrics": RUBRICS} for i in range(n)]


def _cfg(tmp_path, **g) -> object:
    return config_from_dict({
        "name": "t", "output_dir": str(tmp_path / "run"), "model": {"name_or_path": str(tmp_path / "no-model"), "backend": "hf"},
        "grpo": {"max_steps": 3, "num_generations": 6, "per_device_train_batch_size": 6, **g},
        "reward": {"strategies": [{"name": "complexity"}]}, "judge": {"kind": "approximate"},
    })


@pytest.mark.parametrize(("world", "n_prompts", "ok"), [(1, 1, True), (2, 1, False), (2, 2, True), (4, 3, False)])
def test_one_step_needs_a_round_of_distinct_prompts(world: int, n_prompts: int, ok: bool) -> None:
    kw = dict(n_prompts=n_prompts, num_generations=6, per_device_train_batch_size=6, gradient_accumulation_steps=1,
              world_size=world, max_steps=5)
    if ok:
        assert check_grpo_fills_a_step(**kw) == world
    else:
        with pytest.raises(ZeroStepError, match=rf"{n_prompts} prompt\(s\).*{world} process\(es\) needs {world} .*per_device_train_batch_size"):
            check_grpo_fills_a_step(**kw)


def test_the_rule_is_trls_sampler_rule() -> None:
    """TRL's RepeatSampler yields nothing with one prompt fewer than a round, something with a round."""
    from trl.trainer.utils import RepeatSampler

    for world, per_device, accum, ngen in [(1, 6, 1, 6), (2, 6, 1, 6), (2, 4, 3, 2), (3, 2, 2, 4)]:
        if (per_device * world * accum) % ngen:
            continue
        need = grpo_prompts_per_round(ngen, per_device, accum, world)
        sampler = lambda n: RepeatSampler(list(range(n)), mini_repeat_count=ngen, batch_size=need, repeat_count=accum)  # noqa: E731
        assert len(list(sampler(need - 1))) == 0 and len(list(sampler(need))) > 0


def test_other_zero_step_settings_are_refused() -> None:
    base = dict(num_generations=4, per_device_train_batch_size=4, gradient_accumulation_steps=1, world_size=1)
    with pytest.raises(ZeroStepError, match="no prompt is left"):
        check_grpo_fills_a_step(n_prompts=0, max_steps=3, **base)
    with pytest.raises(ZeroStepError, match="grpo.max_steps = 0"):
        check_grpo_fills_a_step(n_prompts=5, max_steps=0, **base)
    with pytest.raises(ZeroStepError, match="not divisible by grpo.num_generations = 4"):
        check_grpo_fills_a_step(n_prompts=5, max_steps=3, generation_batch_size=6, **base)


def _no_model(*args, **kwargs):
    raise AssertionError("a model was loaded for a configuration that trains zero steps")


def test_run_grpo_on_two_ranks_with_one_prompt_fails_before_the_model(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")  # what `accelerate launch --num_processes 2` sets, read by io.process.world_size
    monkeypatch.setattr(grpo, "load_model", _no_model)
    with pytest.raises(ZeroStepError, match=r"1 prompt\(s\), but one step on 2 process\(es\) needs 2"):
        grpo.run_grpo(_cfg(tmp_path), _rows(1), judge=object())


def test_run_grpo_with_an_empty_selection_fails_before_the_model(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(grpo, "load_model", _no_model)
    with pytest.raises(ZeroStepError, match="no prompt is left"):
        grpo.run_grpo(_cfg(tmp_path), [], judge=object())
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(ZeroStepError, match=r"3 prompt\(s\).*needs 4"):
        grpo.run_grpo(_cfg(tmp_path, num_generations=2, per_device_train_batch_size=4, gradient_accumulation_steps=2), _rows(3),
                      judge=object())


def test_trl_extra_steps_per_generation_widens_the_round(tmp_path, monkeypatch) -> None:
    """``grpo.trl_extra.steps_per_generation`` is TRL's own knob: a round of 3 x 4 / 2 = 6 prompts."""
    monkeypatch.setattr(grpo, "load_model", _no_model)
    monkeypatch.setenv("WORLD_SIZE", "1")
    cfg = _cfg(tmp_path, num_generations=2, per_device_train_batch_size=4, trl_extra={"steps_per_generation": 3})
    with pytest.raises(ZeroStepError, match=r"5 prompt\(s\).*needs 6"):
        grpo.run_grpo(cfg, _rows(5), judge=object())


def test_the_demo_config_on_two_ranks_is_refused_with_the_numbers(tmp_path, monkeypatch) -> None:
    """The demo trains one prompt (``prompt_ids``): fine on one process, zero steps on two."""
    from pathlib import Path

    from heartgrpo.config.run import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.yaml", {"output_dir": str(tmp_path / "run")})
    rows = _rows(3) + [{"id": "rar-train-00002", "prompt": [{"role": "user", "content": "Murmur?"}], "rubrics": RUBRICS}]
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert [r["id"] for r in grpo.load_prompts(cfg, rows)] == ["rar-train-00002"]
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ZeroStepError, match=r"1 prompt\(s\), but one step on 2 process\(es\) needs 2 .*grpo.max_prompts, grpo.prompt_ids"):
        grpo.load_prompts(cfg, rows)
