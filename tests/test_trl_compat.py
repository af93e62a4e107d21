"""TRL-version differences (heartgrpo.train.trl_compat), checked against the installed TRL's real
GRPOTrainer: pinned 1.14.2 under ``make test``, 0.22.2 (the Colab/Kaggle pin) under ``make test-colab``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from heartgrpo.config.run import config_from_dict
from heartgrpo.train.trl_compat import (
    TRL_EXCLUDES_UNSCORABLE,
    neutralize_unscorable,
    package_version,
    trl_excludes_unscorable,
    trl_passes_log_metric,
)

NAN = float("nan")
TRL = package_version("trl")


def test_neutral_fill_is_the_group_mean_of_the_scored_rows():
    r = torch.tensor([[NAN, NAN], [1.0, 2.0], [3.0, NAN], [5.0, 4.0]])  # one group of 4, two reward functions
    filled, n = neutralize_unscorable(r, num_generations=4)
    assert n == 1
    # NaN in a partly scored row counts as 0 (TRL's nansum): column means over rows 1..3
    assert filled[0].tolist() == pytest.approx([3.0, 2.0])
    assert torch.equal(filled[1:].nan_to_num(-1), r[1:].nan_to_num(-1))
    weights = torch.tensor([1.0, 0.5])
    rewards = (filled * weights).nansum(dim=1)  # what TRL < 1.6 computes next
    assert rewards[0] == pytest.approx(rewards[1:].mean())  # so the filled row's advantage is 0


def test_all_failed_group_is_zero_and_other_groups_untouched():
    r = torch.tensor([[NAN], [NAN], [2.0], [4.0]])
    filled, n = neutralize_unscorable(r, num_generations=2)
    assert n == 2 and filled.squeeze(1).tolist() == [0.0, 0.0, 2.0, 4.0]
    same, none = neutralize_unscorable(torch.tensor([[1.0], [2.0]]), num_generations=2)
    assert none == 0 and same.squeeze(1).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="num_generations=4"):
        neutralize_unscorable(torch.zeros(6, 1), num_generations=4)


def test_version_gates():
    assert not trl_excludes_unscorable((0, 22)) and not trl_excludes_unscorable((1, 5))
    assert trl_excludes_unscorable(TRL_EXCLUDES_UNSCORABLE) and trl_excludes_unscorable((1, 14))
    assert not trl_passes_log_metric((0, 22)) and trl_passes_log_metric((1, 0))


def test_grpo_config_never_keeps_trls_512_token_prompt_cap(tmp_path: Path):
    from trl import GRPOConfig

    from heartgrpo.train.trl_config import build_grpo_config, config_fields

    cfg = config_from_dict({"name": "c", "output_dir": str(tmp_path), "model": {"name_or_path": "m", "backend": "hf"},
                            "grpo": {"num_generations": 2, "per_device_train_batch_size": 2}})
    default, capped = (build_grpo_config(cfg, tmp_path, on_cuda=False, max_prompt_length=n) for n in (None, 777))
    if "max_prompt_length" in config_fields(GRPOConfig):  # TRL < 0.28: its own default is 512
        assert GRPOConfig.__dataclass_fields__["max_prompt_length"].default == 512
        assert default.max_prompt_length is None and capped.max_prompt_length == 777
    else:
        assert not hasattr(default, "max_prompt_length") and TRL >= (0, 28)


# --- the real trainer --------------------------------------------------------------------------

def _long_row() -> dict:
    text = " ".join(f"Chest pain question part {i}: does the pain spread to the left arm with sweating?" for i in range(60))
    return {"id": "long", "prompt": [{"role": "user", "content": text}], "rubrics": [{"criterion": "Calls 911", "points": 5}]}


def _cfg(tiny: Path, out: Path) -> object:
    return config_from_dict({
        "name": "compat", "output_dir": str(out), "model": {"name_or_path": str(tiny), "backend": "hf"},
        "lora": {"r": 4, "alpha": 8},
        "grpo": {"max_steps": 1, "num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                 "max_completion_length": 4, "scale_rewards": "none", "logging_steps": 1, "save_steps": 10},
        "judge": {"kind": "approximate"},
    })


class _NoJudge:
    async def grade(self, prompt, response, rubrics):  # never called: the reward below needs no judge
        raise AssertionError("not used")


def _positional_reward(prompts, completions, **kwargs):
    """Each group of 4: the first completion unscorable (a judge failure), then 1, 3, 5."""
    return [[None, 1.0, 3.0, 5.0][i % 4] for i in range(len(completions))]


def _run_recorded(monkeypatch, tiny: Path, out: Path) -> dict:
    """run_grpo on one long prompt, recording what the real TRL trainer generated from and the
    advantages it trained on."""
    import trl

    from heartgrpo.train.grpo import run_grpo

    seen: dict = {"prompt_tokens": [], "advantages": []}

    class Recording(trl.GRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            output = super()._generate_and_score_completions(inputs)
            seen["prompt_tokens"] += output["prompt_mask"].sum(dim=1).tolist()
            seen["advantages"] += output["advantages"].tolist()
            return output

    monkeypatch.setattr(trl, "GRPOTrainer", Recording)
    seen["result"] = run_grpo(_cfg(tiny, out), [_long_row()], judge=_NoJudge(), reward_funcs=[_positional_reward])
    return seen


@pytest.mark.slow
def test_long_prompt_is_not_cut_and_a_failed_completion_is_neutral(monkeypatch, tiny_qwen3: Path, tmp_path: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen3)
    text = tok.apply_chat_template(_long_row()["prompt"], add_generation_prompt=True, tokenize=False)
    full = len(tok(text, add_special_tokens=False)["input_ids"])
    assert full > 512  # longer than TRL 0.22's default max_prompt_length
    seen = _run_recorded(monkeypatch, tiny_qwen3, tmp_path / "run")
    assert seen["prompt_tokens"] == [full] * 4  # the whole prompt, every generation
    # rewards [None, 1, 3, 5], scale_rewards none: advantages against the scored mean 3; the
    # unscorable completion trains with advantage 0 (TRL 0.22 alone would give it 0 - 2.25)
    assert seen["advantages"] == pytest.approx([0.0, -2.0, 0.0, 2.0])
    step = seen["result"].log_history[0]
    assert step["reward"] == pytest.approx(3.0)
    if not trl_excludes_unscorable():
        assert step["rewards/unscorable_count"] == 1.0


@pytest.mark.slow
@pytest.mark.skipif(trl_excludes_unscorable(), reason=f"TRL {'.'.join(map(str, TRL))} >= 1.6 leaves unscorable completions out itself")
def test_without_the_fill_old_trl_trains_a_failure_as_zero(monkeypatch, tiny_qwen3: Path, tmp_path: Path):
    """The premise, on the installed TRL < 1.6: its nansum turns the None into a real 0."""
    import heartgrpo.train.trl_compat as compat

    monkeypatch.setattr(compat, "neutral_unscorable_trainer_class", lambda base: base)
    seen = _run_recorded(monkeypatch, tiny_qwen3, tmp_path / "raw")
    assert seen["advantages"] == pytest.approx([-2.25, -1.25, 0.75, 2.75])
    assert not math.isclose(seen["result"].log_history[0]["reward"], 3.0)
