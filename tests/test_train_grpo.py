"""SFT and GRPO for a few steps on the tiny Qwen3 with a fake judge; resume; judge-down stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import TrainerCallback

from heartgrpo.config.run import config_from_dict
from heartgrpo.eval.length import LENGTH_KEY
from heartgrpo.judge import Verdict
from heartgrpo.train.grpo import format_reward_func, run_grpo
from heartgrpo.judge.guarded import GuardedJudge, JudgeUnavailableError
from heartgrpo.train.sft import filter_by_length, run_sft, sft_example

pytestmark = pytest.mark.slow

RUBRICS = [
    {"criterion": "Recommends calling emergency services", "points": 5, "tags": ["category:essential"]},
    {"criterion": "Mentions an ECG", "points": 3, "tags": []},
    {"criterion": "Mentions aspirin", "points": 2, "tags": []},
    {"criterion": "Says it is heartburn", "points": -2, "tags": ["category:pitfall"]},
]


def _rows(n: int = 5) -> list[dict]:
    return [{"id": f"q{i}", "prompt": [{"role": "user", "content": f"Chest pain question {i}?"}],
             "rubrics": RUBRICS[: 4 - i % 2], "reference_answer": "call"} for i in range(n)]


class FakeJudge:
    """Deterministic judge: criterion met when the response length parity matches its index."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, tuple[str, ...]]] = []

    async def grade(self, prompt, response, rubrics):
        self.seen.append((prompt[-1]["content"], response, tuple(c["criterion"] for c in rubrics)))
        return [Verdict((len(response) + j) % 2 == 0, "fake") for j, _ in enumerate(rubrics)]


class DownJudge:
    async def grade(self, prompt, response, rubrics):
        return [Verdict.failed("connection refused") for _ in rubrics]


def _cfg(tiny: Path, out: Path, **grpo) -> object:
    return config_from_dict({
        "name": "t", "output_dir": str(out), "model": {"name_or_path": str(tiny), "backend": "hf"},
        "lora": {"r": 4, "alpha": 8},
        "sft": {"max_steps": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "max_length": 128, "save_steps": 2},
        "grpo": {"max_steps": 3, "num_generations": 2, "per_device_train_batch_size": 4, "max_completion_length": 6,
                 "save_steps": 2, "logging_steps": 1, **grpo},
        "reward": {"strategies": [{"name": "complexity", "weight": 1.0}, {"name": "healthbench", "weight": 0.5}],
                   "format_reward": {"enabled": True, "weight": 0.1}},
        "judge": {"kind": "approximate", "max_down_seconds": 50},
    })


def test_sft_then_grpo_with_rubric_rewards(tiny_qwen3: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_qwen3, tmp_path / "run")
    sft_rows = [{"id": f"s{i}", "prompt": [{"role": "user", "content": f"Question {i}?"}],
                 "completion": "<start_working_out> reasoning <end_working_out><SOLUTION> call </SOLUTION>"} for i in range(4)]
    sft = run_sft(cfg, sft_rows)
    assert (sft.adapter_dir / "adapter_config.json").is_file() and sft.steps == 2 and sft.train_loss > 0

    judge = FakeJudge()
    result = run_grpo(cfg, _rows(), judge=judge)  # continues from the SFT adapter
    assert result.steps == 3 and (result.adapter_dir / "adapter_model.safetensors").is_file()
    # the reward functions received the rubrics column: the judge saw each row's own criteria
    by_prompt = {r["prompt"][0]["content"]: tuple(c["criterion"] for c in r["rubrics"]) for r in _rows()}
    assert judge.seen and all(crit == by_prompt[p] for p, _, crit in judge.seen)
    # two strategies over one guarded judge: each distinct completion is graded once, not twice
    assert len(judge.seen) == len(set(judge.seen))
    steps = [json.loads(line) for line in result.log_path.read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2, 3]
    for key in ("rewards/rubric_complexity/mean", "rewards/rubric_healthbench/std", "rewards/format_paper/mean",
                "frac_reward_zero_std", "judge/shared_rate"):
        assert key in steps[0], key
    # the mean completion length in tokens beside the reward, under the one name the report reads
    assert all(0 < s[LENGTH_KEY] <= 6 and isinstance(s["reward"], float) for s in steps)  # max_completion_length 6
    # the reward functions' own metrics: through TRL's log_metric (TRL >= 1.0) or RewardMetricsCallback
    for key in ("rubric_complexity/met_rate/essential", "rubric_healthbench/cache_hit_rate",
                "rubric_healthbench/judge_failure_rate", "rubric_healthbench/unscorable_rate"):
        assert all(key in s for s in steps), key
    assert all(0.0 <= s["rubric_complexity/met_rate/essential"] <= 1.0 for s in steps)
    assert steps[0]["rubric_healthbench/judge_failure_rate"] == 0.0
    assert (result.log_path.parent / "steps.csv").read_text().startswith("step,")


def test_resume_continues_with_the_same_data_order(tiny_qwen3: Path, tmp_path: Path) -> None:
    def recorder(seen):
        def reward(prompts, completions, rubrics, id, trainer_state=None, **kwargs):
            seen.append((trainer_state.global_step, tuple(id), tuple(c[0]["content"] for c in completions)))
            assert all(isinstance(r, list) and "criterion" in r[0] for r in rubrics)
            return [float(len(c[0]["content"])) for c in completions]
        return reward

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise RuntimeError("simulated crash")

    full: list = []
    run_grpo(_cfg(tiny_qwen3, tmp_path / "a", max_steps=7), _rows(), judge=FakeJudge(), reward_funcs=[recorder(full)])
    cfg = _cfg(tiny_qwen3, tmp_path / "b", max_steps=7)
    part: list = []
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_grpo(cfg, _rows(), judge=FakeJudge(), reward_funcs=[recorder(part)], callbacks=[Crash()])
    resumed: list = []
    result = run_grpo(cfg, _rows(), judge=FakeJudge(), reward_funcs=[recorder(resumed)], resume=True)
    assert result.resumed_from is not None and result.resumed_from.name == "checkpoint-4"
    assert [s for s, _, _ in resumed] == [4, 5, 6]
    assert resumed == full[4:]  # same prompts, and the same sampled completions
    assert [json.loads(x)["step"] for x in result.log_path.read_text().splitlines()] == list(range(1, 8))


def test_judge_down_stops_cleanly_with_a_checkpoint(tiny_qwen3: Path, tmp_path: Path) -> None:
    clock = iter(range(0, 10_000, 100))
    guarded = GuardedJudge(DownJudge(), clock=lambda: float(next(clock)))
    cfg = _cfg(tiny_qwen3, tmp_path / "down", max_steps=4, save_steps=10)
    with pytest.raises(JudgeUnavailableError, match="max_down_seconds") as err:
        run_grpo(cfg, _rows(), judge=guarded)
    assert "checkpoint-1" in str(err.value) and "--resume" in str(err.value)
    assert (cfg.grpo_dir / "checkpoint-1").is_dir() and not (cfg.grpo_dir / "adapter").exists()


def test_format_reward_and_sft_helpers(tiny_qwen3: Path) -> None:
    fmt = format_reward_func("paper")
    good = [{"role": "assistant", "content": "<start_working_out>x<end_working_out>\n<SOLUTION>y</SOLUTION>"}]
    assert fmt(completions=[good, [{"role": "assistant", "content": "just text"}], "x<end_working_out><SOLUTION>y</SOLUTION>"]) == [1.0, 0.0, 1.0]
    assert format_reward_func("think")(completions=["<think>a</think> answer", "no think"]) == [1.0, 0.0]

    ex = sft_example({"id": "m", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    assert ex == {"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}
    with pytest.raises(ValueError, match="SFT row x"):
        sft_example({"id": "x", "prompt": []})
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen3)
    short = {"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}
    long = {"prompt": [{"role": "user", "content": "chest pain " * 200}], "completion": [{"role": "assistant", "content": "a"}]}
    kept, dropped = filter_by_length([short, long], tok, 64)
    assert kept == [short] and dropped == 1
