"""SFT on the self-refined set through the normal `heartgrpo sft` stage of the CPU demo config (tiny Qwen3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from heartgrpo.config.refine import RefineSettings
from heartgrpo.io.loopback import LoopbackServer
from heartgrpo.refine.pipeline import run_refine
from heartgrpo.refine.loopback import refine_responder

ROOT = Path(__file__).resolve().parents[1]


def test_sft_data_selects_the_refined_set_in_the_cpu_demo_config(tiny_qwen3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from heartgrpo.cli.app import app

    monkeypatch.setenv("REFINE_TEST_KEY", "x")
    monkeypatch.chdir(ROOT)
    with LoopbackServer(refine_responder(faults=False)) as server:
        s = RefineSettings(model="writer", base_url=server.base_url, api_key_env="REFINE_TEST_KEY", n_queries=10,
                           contamination_sources=[], out_dir=tmp_path / "refine")
        dataset = run_refine(s, progress=False).dataset
    overrides = [f"model.name_or_path={tiny_qwen3}", f"output_dir={tmp_path / 'run'}", f"sft.data={dataset}",
                 "sft.max_steps=2", "sft.save_steps=2", "sft.max_length=4096", "lora.r=4", "lora.alpha=8"]
    result = CliRunner().invoke(app, ["sft", "--config", "configs/cpu-demo.yaml", *[a for o in overrides for a in ("--set", o)]])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "sft" / "adapter" / "adapter_config.json").is_file()
    assert "examples (dropped as too long)  10 (0)" in result.output  # all ten refined rows trained on, none from data/sft.jsonl
