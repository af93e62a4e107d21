"""``heartgrpo doctor --run`` on the consultation config runs a two-turn episode through
``rollout_func`` and says so; a trainer that ignores ``rollout_func`` fails the check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from t4_stack import consult_trl_missing
from typer.testing import CliRunner

from heartgrpo.cli.app import app

pytestmark = [pytest.mark.slow, pytest.mark.skipif(consult_trl_missing() is not None, reason=str(consult_trl_missing()))]


def test_doctor_run_on_the_consult_config_checks_a_two_turn_episode(tiny_qwen3, tmp_path: Path) -> None:
    out = tmp_path / "doctor"
    result = CliRunner().invoke(app, ["doctor", "--run", "--config", "configs/cpu-consult.yaml", "--model", str(tiny_qwen3),
                                      "--out", str(out), "--set", f"output_dir={tmp_path / 'run'}",
                                      # the tiny model ties lm_head to the embeddings: LoRA on lm_head would not merge back
                                      "--set", "lora.target_modules=[q_proj, k_proj, v_proj, o_proj]"])
    report = json.loads((out / "doctor.json").read_text())
    checks = {c["name"]: c for c in report["run"]["checks"]}
    assert checks["consult_episode"]["ok"], checks["consult_episode"]
    assert "6 of 6 rollouts doctor-patient-doctor" in checks["consult_episode"]["detail"]
    assert "consult" in report["run"]["phases"]
    assert all(c["ok"] for c in checks.values()), {n: c["detail"] for n, c in checks.items() if not c["ok"]}
    assert result.exit_code == report["exit_code"], result.output


def test_a_trainer_that_ignores_rollout_func_fails_the_check(tiny_qwen3, tmp_path: Path, monkeypatch) -> None:
    import heartgrpo.train.grpo as grpo
    from heartgrpo.config.run import load_config
    from heartgrpo.doctor.consult import consult_check
    from heartgrpo.judge.factory import build_judge
    from heartgrpo.judge.guarded import GuardedJudge

    real = grpo.build_trainer
    monkeypatch.setattr(grpo, "build_trainer", lambda *a, rollout_func=None, **k: real(*a, **k))  # drops it, as unsloth#3573
    cfg = load_config("configs/cpu-consult.yaml", overrides={
        "model.name_or_path": str(tiny_qwen3), "output_dir": str(tmp_path), "judge.kind": "approximate",
        "grpo.num_generations": 2, "grpo.per_device_train_batch_size": 2, "grpo.max_completion_length": 16})
    check = consult_check(cfg, tmp_path / "consult", GuardedJudge(build_judge(cfg.judge)))
    assert not check["ok"] and "never called rollout_func" in check["detail"], check
