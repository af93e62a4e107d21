"""Run config -> TRL configs: filtering against the installed TRL, CPU precision, explicit values."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from heartgrpo.config.run import config_from_dict
from heartgrpo.train.trl_config import (
    build_grpo_config,
    build_sft_config,
    filter_kwargs,
    grpo_kwargs,
    precision_kwargs,
    resolve_optim,
)


def _cfg(**sections):
    return config_from_dict({"name": "t", "model": {"name_or_path": "m"}, **sections})


@dataclasses.dataclass
class OldTRLConfig:
    """Stands in for an older TRL config: no min_p, still has warmup_ratio."""

    output_dir: str = ""
    learning_rate: float = 0.0
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    num_generations: int = 8


def test_unknown_kwarg_is_dropped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="heartgrpo.train.trl_config"):
        kept = filter_kwargs(OldTRLConfig, {"learning_rate": 1e-5, "min_p": 0.1, "num_generations": 6})
    assert kept == {"learning_rate": 1e-5, "num_generations": 6}
    assert any("min_p" in r.getMessage() and "OldTRLConfig" in r.getMessage() for r in caplog.records)
    OldTRLConfig(**kept)  # constructible


def test_build_grpo_config_against_a_fake_older_dataclass() -> None:
    cfg = _cfg(grpo={"warmup_ratio": 0.1, "learning_rate": 3e-6})
    out = build_grpo_config(cfg, Path("/tmp/x"), config_cls=OldTRLConfig, on_cuda=False)
    assert isinstance(out, OldTRLConfig)
    assert (out.learning_rate, out.warmup_ratio, out.num_generations) == (3e-6, 0.1, 6)


def test_warmup_ratio_maps_to_fractional_steps_without_warmup_ratio_field() -> None:
    @dataclasses.dataclass
    class NewArgs:
        warmup_steps: float = 0

    kwargs = grpo_kwargs(NewArgs, _cfg(grpo={"warmup_ratio": 0.1}), Path("/tmp/x"), on_cuda=False)
    assert kwargs["warmup_steps"] == 0.1 and "warmup_ratio" not in kwargs


def test_real_grpo_config_on_cpu(tmp_path: Path) -> None:
    cfg = _cfg(grpo={"num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "optim": "adamw_8bit", "max_completion_length": 64},
               reward={"strategies": [{"name": "hybrid", "weight": 1.0}, {"name": "complexity", "weight": 0.5}]})
    args = build_grpo_config(cfg, tmp_path, reward_weights=[1.0, 0.5], on_cuda=False)
    assert args.bf16 is False and args.fp16 is False and args.use_cpu is True
    assert args.optim == "adamw_torch"  # 8-bit Adam needs CUDA
    assert (args.num_generations, args.max_completion_length, args.steps_per_generation) == (4, 64, 2)
    assert args.generation_batch_size % args.num_generations == 0
    assert args.remove_unused_columns is False  # rubrics must reach the reward functions
    assert args.reward_weights == [1.0, 0.5]
    g = cfg.grpo
    assert (args.learning_rate, args.beta, args.epsilon, args.loss_type, args.scale_rewards) == (g.learning_rate, g.beta, g.epsilon, g.loss_type, g.scale_rewards)
    assert (args.temperature, args.min_p, args.top_p, args.weight_decay, args.seed) == (g.temperature, g.min_p, g.top_p, g.weight_decay, 3407)
    assert args.save_steps == g.save_steps and args.report_to == [] or args.report_to == "none"
    assert not hasattr(args, "max_prompt_length") or args.max_prompt_length is None


def test_real_sft_config_completion_only(tmp_path: Path) -> None:
    cfg = _cfg(sft={"max_length": 512, "learning_rate": 1e-4})
    args = build_sft_config(cfg, tmp_path, on_cuda=False)
    assert args.completion_only_loss is True and args.assistant_only_loss is False and args.packing is False
    assert (args.max_length, args.learning_rate, args.bf16) == (512, 1e-4, False)


def test_precision_and_optim_rules() -> None:
    assert precision_kwargs("auto", on_cuda=False, bf16_supported=False)["bf16"] is False
    assert precision_kwargs("auto", on_cuda=True, bf16_supported=True) == {"bf16": True, "fp16": False}
    assert precision_kwargs("auto", on_cuda=True, bf16_supported=False) == {"bf16": False, "fp16": True}
    assert precision_kwargs("float16", on_cuda=True, bf16_supported=True) == {"bf16": False, "fp16": True}
    assert resolve_optim("adamw_8bit", on_cuda=True) == "adamw_8bit"
    assert resolve_optim("adamw_8bit", on_cuda=False) == "adamw_torch"
    assert resolve_optim("adamw_torch_fused", on_cuda=False) == "adamw_torch_fused"


def test_trl_extra_passes_through_and_is_filtered(tmp_path: Path) -> None:
    cfg = _cfg(grpo={"trl_extra": {"mask_truncated_completions": True, "no_such_arg": 1}})
    args = build_grpo_config(cfg, tmp_path, on_cuda=False)
    assert args.mask_truncated_completions is True


def test_settings_fields_reach_trl_by_their_own_name() -> None:
    """Every sft/grpo settings field outside NOT_SAME_NAMED is a field of the pinned TRL's config
    (a new settings field either is TRL's, or is listed there with its rule), and it is passed.
    On another TRL (the T4 stack's 0.22) a field that TRL lacks is left out of the keywords."""
    from trl import GRPOConfig, SFTConfig

    from heartgrpo.config.run import GRPOSettings, SFTSettings
    from heartgrpo.doctor.report import pinned_versions
    from heartgrpo.doctor.stack import pin_source
    from heartgrpo.train.trl_config import NOT_SAME_NAMED, config_fields, filter_kwargs, same_named, sft_kwargs

    pinned_trl = next(r for r in pinned_versions(pin_source(gpu=False, stack="pinned")) if r["package"] == "trl")["ok"]
    cfg = _cfg(sft={"adam_beta2": 0.95, "max_grad_norm": 0.3}, grpo={"top_k": 7, "repetition_penalty": 1.1})
    sft = sft_kwargs(SFTConfig, cfg, Path("/tmp/x"), on_cuda=False)
    grpo = grpo_kwargs(GRPOConfig, cfg, Path("/tmp/x"), on_cuda=False)
    for settings, cls, kwargs in ((SFTSettings, SFTConfig, sft), (GRPOSettings, GRPOConfig, grpo)):
        own = set(settings.model_fields) - NOT_SAME_NAMED
        missing = own - config_fields(cls)
        assert own and not (missing and pinned_trl), sorted(missing)
        assert missing.isdisjoint(filter_kwargs(cls, kwargs)), sorted(missing)  # what the config object is built from
    assert (sft["adam_beta2"], sft["max_grad_norm"], grpo["top_k"], grpo["repetition_penalty"]) == (0.95, 0.3, 7, 1.1)
    assert same_named(cfg.grpo).keys() <= grpo.keys() and "max_prompts" not in grpo and "enabled" not in sft
