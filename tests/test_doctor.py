"""``heartgrpo doctor``: the static report and its exit status, the memory estimate, and ``--run``
with the hf backend on CPU (3 SFT + 3 GRPO steps on the tiny Qwen3, every check reported)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from heartgrpo.cli.app import app
from heartgrpo.config.run import load_config
from heartgrpo.doctor.report import EXIT_CODES, needed_packages, static_report
from heartgrpo.doctor.memory import estimate_memory, shapes_for, unsloth_standby_share

runner = CliRunner()
CPU_ENV = {"python": "3.11", "platform": "linux", "torch": "2.13.0+cpu", "torch_cuda": None, "driver": None, "cuda_available": False, "gpus": []}


def test_the_14b_config_on_this_cpu_machine_reports_no_cuda_gpu_and_the_96gb_estimate(tmp_path):
    result = runner.invoke(app, ["doctor", "--config", "configs/qwen3-14b-rtx6000pro.yaml", "--out", str(tmp_path)])
    assert result.exit_code == EXIT_CODES["no_cuda_gpu"] == 4, result.output
    assert "no_cuda_gpu" in result.output and "RTX 6000 PRO (96 GiB)" in result.output and ": fits" in result.output
    report = json.loads((tmp_path / "doctor.json").read_text())
    assert report["status"] == "no_cuda_gpu" and report["memory"]["target"]["card_gib"] == 96
    assert report["memory"]["target"]["fits"] and "present" not in report["memory"]
    md = (tmp_path / "doctor.md").read_text()
    assert "**status: no_cuda_gpu** (exit code 4)" in md and "vllm-bnb-plugin" in md and "KV cache: 160.0 KiB/token" in md


@pytest.mark.parametrize("path", ["configs/qwen3-4b-colab-t4.yaml", "configs/qwen3-4b-kaggle-t4.yaml"])
def test_t4_configs_are_estimated_against_15_gb(path):
    report = static_report(load_config(path), env=CPU_ENV)
    est = report["memory"]["target"]
    assert est["card_gib"] == 15 and est["vllm_share"] == round(unsloth_standby_share(15), 4) == 0.76
    assert est["fits"] and est["peak_gib"] < 15
    assert report["status"] == "no_cuda_gpu" and report["exit_code"] == 4


def test_estimate_says_why_a_config_does_not_fit():
    cfg = load_config("configs/qwen3-14b-rtx6000pro.yaml", {"model.load_in_4bit": False, "model.vllm_standby": False,
                                                            "model.gpu_memory_utilization": 0.3})
    est = estimate_memory(cfg, 15)
    assert not est["fits"]
    assert any("peak" in r and "> 15 GiB card" in r for r in est["reasons"])
    assert any("cannot hold one 4096-token sequence" in r for r in est["reasons"])  # 16-bit 14B weights leave no KV room
    s = shapes_for("unsloth/Qwen3-14B-Base")
    assert s.kv_bytes_per_token == 2 * 40 * 8 * 128 * 2 and est["parts_gib"]["weights"] == round(s.params * 2 / 2**30, 2)
    four_bit = estimate_memory(load_config("configs/qwen3-14b-rtx6000pro.yaml"), 96)
    assert four_bit["parts_gib"]["weights"] < est["parts_gib"]["weights"] / 2.5


def test_shapes_come_from_a_config_json_on_disk(tiny_qwen3):
    s = shapes_for(str(tiny_qwen3))
    assert (s.layers, s.hidden, s.kv_heads, s.head_dim) == (2, 64, 2, 16) and s.source.startswith("config.json")
    with pytest.raises(KeyError, match="built-in table"):
        shapes_for("nobody/unknown-model")


def test_needed_packages_follow_the_config():
    names = {p["package"] for p in needed_packages(load_config("configs/qwen3-14b-rtx6000pro.yaml"))}
    assert {"unsloth", "vllm", "vllm-bnb-plugin", "bitsandbytes", "tensorboard", "openai"} <= names
    no_vllm = load_config("configs/qwen3-14b-rtx6000pro.yaml", {"model.fast_inference": False, "grpo.use_vllm": False})
    assert "vllm-bnb-plugin" not in {p["package"] for p in needed_packages(no_vllm)}


def test_a_cpu_config_is_ok_without_a_gpu():  # on either stack: each is checked against its own pins
    report = static_report(load_config("configs/cpu-demo.yaml", {"judge.kind": "approximate", "model.name_or_path": "Qwen/Qwen3-0.6B"}), env=CPU_ENV)
    assert report["needs_gpu"] is False and report["status"] in ("ok", "problems")
    assert report["status"] != "no_cuda_gpu"
    assert all(p["ok"] is not False for p in report["pins"] if p["group"] == "core")


@pytest.mark.slow
def test_doctor_run_on_cpu_checks_every_point(tiny_qwen3, tmp_path):
    out = tmp_path / "doctor"
    result = runner.invoke(app, ["doctor", "--run", "--config", "configs/cpu-demo.yaml", "--model", str(tiny_qwen3),
                                 "--out", str(out), "--set", f"output_dir={tmp_path / 'run'}"])
    report = json.loads((out / "doctor.json").read_text())
    checks = {c["name"]: c for c in report["run"]["checks"]}
    assert set(checks) == {"generations_differ", "none_left_out", "adapter_changes_outputs", "rollouts_use_adapter",
                           "save_reload_identical", "merged_export", "eval_after_training"}
    assert all(c["ok"] for c in checks.values()), checks
    assert report["run"]["sft_steps"] == 3 and report["run"]["grpo_steps"] == 3
    assert set(report["run"]["phases"]) == {"model", "sft", "grpo", "reload", "export", "eval"}
    assert all(p["seconds"] >= 0 and p["peak_rss_gib"] > 0 for p in report["run"]["phases"].values())
    assert "--run checks" in (out / "doctor.md").read_text()
    assert result.exit_code == report["exit_code"], result.output


def test_none_check_fails_when_a_none_is_counted_as_zero():
    from heartgrpo.doctor.run import _none_check

    left_out = [{"advantages": [0.0, 1.0, -1.0, 0.5, -0.5, 0.0]}]
    counted = [{"advantages": [-0.4, 1.2, -0.8, 0.7, -0.3, 0.2]}]  # baseline shifted by a 0 reward for the None
    assert _none_check(left_out)["ok"] and not _none_check(counted)["ok"]
    assert not _none_check([{"advantages": [0.0] * 6}])["ok"]  # no spread: nothing was measured


def test_run_on_a_machine_without_the_gpu_it_needs_is_not_started(tmp_path):
    result = runner.invoke(app, ["doctor", "--run", "--config", "configs/qwen3-14b-rtx6000pro.yaml", "--out", str(tmp_path)])
    assert result.exit_code == 4, result.output
    report = json.loads((tmp_path / "doctor.json").read_text())
    assert "run" not in report and any(p.startswith("--run not started: backend 'unsloth' needs a CUDA GPU") for p in report["problems"])
