"""The ``heartgrpo`` command: every sub-command on the tiny Qwen3, bad configs, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from heartgrpo.cli.app import app

runner = CliRunner()


def _config(tmp_path: Path, tiny: Path, **over) -> Path:
    raw = yaml.safe_load((Path(__file__).parent.parent / "configs" / "cpu-demo.yaml").read_text())
    raw.update(output_dir=str(tmp_path / "run"), name="cli-test")
    raw["model"]["name_or_path"] = str(tiny)
    raw["lora"] = {"r": 4, "alpha": 8}
    raw["sft"].update(max_steps=2, max_length=2048, save_steps=2)
    raw["grpo"].update(max_steps=2, num_generations=2, per_device_train_batch_size=2, max_completion_length=6, save_steps=2)
    raw["eval"].update(n=3, max_new_tokens=6, n_bootstrap=50)
    raw["data"].update(eval_n=3)
    raw["judge"].update(kind="approximate")  # the lexical judge for tests (the demo's verifier trains minutes on first use)
    for key, value in over.items():
        raw[key] = value
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_help_lists_every_command() -> None:
    out = runner.invoke(app, ["--help"])
    assert out.exit_code == 0
    for name in ("prep", "sft", "grpo", "eval", "report", "demo"):
        assert name in out.output
    for name in ("prep", "sft", "grpo", "eval", "report", "demo"):
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0 and "--config" in sub.output


def test_bad_config_exits_2_with_the_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {name_or_path: m}\ngrpo: {num_generations: 4, per_device_train_batch_size: 4, temprature: 0.7}\n")
    out = runner.invoke(app, ["grpo", "--config", str(bad)])
    assert out.exit_code == 2
    assert "grpo.temprature: unknown key" in out.output
    out = runner.invoke(app, ["sft", "--config", str(bad), "--set", "grpo.temprature=1"])
    assert out.exit_code == 2


@pytest.mark.slow
def test_pipeline_commands_end_to_end(tiny_qwen3: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, tiny_qwen3)
    run = tmp_path / "run"
    out = runner.invoke(app, ["prep", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert (run / "data" / "sft.jsonl").is_file() and (run / "data" / "grpo.jsonl").is_file() and "== prep ==" in out.output

    out = runner.invoke(app, ["sft", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert (run / "sft" / "adapter" / "adapter_config.json").is_file() and "== sft ==" in out.output

    out = runner.invoke(app, ["eval", "--config", str(cfg), "--stage", "sft"])
    assert out.exit_code == 0, out.output
    assert "(approximate)" in out.output

    out = runner.invoke(app, ["grpo", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    strategy = yaml.safe_load(cfg.read_text())["reward"]["strategies"][0]["name"]  # the demo's, over the lexical judge
    assert f"rewards/rubric_{strategy}/mean" in out.output and "completions/mean_length" in out.output
    steps = [json.loads(x) for x in (run / "grpo" / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]

    out = runner.invoke(app, ["grpo", "--config", str(cfg), "--resume", "--set", "grpo.max_steps=3"])
    assert out.exit_code == 0, out.output
    assert "checkpoint-2" in out.output

    out = runner.invoke(app, ["eval", "--config", str(cfg), "--stage", "grpo"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["report", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    html = (run / "report" / "report.html").read_text()
    assert "before GRPO (SFT)" in html and "after GRPO" in html and "approximate" in html
    assert "rewards word overlap with the rubric" in html  # what the lexical judge rewards, as the demo says


def test_prep_takes_a_healthbench_path(tmp_path: Path, monkeypatch) -> None:
    import heartgrpo.pipeline as pipeline

    seen = {}

    def fake_stage_prep(cfg):
        seen["healthbench"] = cfg.data.healthbench
        raise FileNotFoundError("stop here")

    monkeypatch.setattr(pipeline, "stage_prep", fake_stage_prep)
    cfg = Path(__file__).parent.parent / "configs" / "cpu-demo.yaml"
    out = runner.invoke(app, ["prep", "--config", str(cfg), "--healthbench", str(tmp_path / "hard.jsonl")])
    assert out.exit_code == 2 and seen["healthbench"] == str(tmp_path / "hard.jsonl")
