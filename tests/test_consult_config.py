"""The consult: config section: loads on this TRL; on the Colab/Kaggle TRL 0.22 it fails at load, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from t4_stack import consult_trl_missing

import heartgrpo.config.consult as cc
from heartgrpo.config.run import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(consult_trl_missing() is not None, reason=str(consult_trl_missing()))
@pytest.mark.parametrize("name", ["cpu-consult.yaml", "qwen3-4b-consult.yaml"])
def test_consult_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "configs" / name)
    assert cfg.consult is not None and cfg.consult.max_turns >= 2


def test_consult_config_fails_at_load_on_trl_0_22(monkeypatch) -> None:
    monkeypatch.setattr(cc, "package_version", lambda name="trl": (0, 22))
    with pytest.raises(ConfigError, match=r"needs TRL >= 1\.14.*installed TRL is 0\.22, which has neither rollout_func nor environment_factory"):
        load_config(ROOT / "configs" / "cpu-consult.yaml")
    # a config without the section is unaffected
    load_config(ROOT / "configs" / "cpu-demo.yaml")


@pytest.mark.skipif(consult_trl_missing() is None, reason="this TRL runs consultations: the refusal is tested with a stand-in version above")
@pytest.mark.parametrize("name", ["cpu-consult.yaml", "qwen3-4b-consult.yaml"])
def test_consult_configs_fail_at_load_on_the_installed_old_trl(name: str) -> None:
    with pytest.raises(ConfigError, match=r"needs TRL >= 1\.14.*run it on the workstation stack"):
        load_config(ROOT / "configs" / name)


def test_llm_patient_needs_an_endpoint() -> None:
    with pytest.raises(ValueError, match="patient_endpoint"):
        cc.ConsultSettings(patient="llm")
