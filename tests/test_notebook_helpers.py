"""open_run: the notebooks' one set-up call; the install cell's markdown follows its code."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from heartgrpo.notebook import doctor_command, find_root, open_run

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_variants", ROOT / "notebooks" / "make_variants.py")
mv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mv)


@pytest.fixture
def back_to_cwd():
    here = Path.cwd()
    yield
    os.chdir(here)


def test_open_run_works_from_the_notebooks_folder_and_applies_overrides(back_to_cwd, capsys, tmp_path):
    os.chdir(ROOT / "notebooks")
    cfg = open_run("configs/cpu-demo.yaml", {"grpo.max_steps": 3, "output_dir": str(tmp_path)})
    assert Path.cwd() == ROOT and cfg.grpo.max_steps == 3 and cfg.output_dir == tmp_path
    assert capsys.readouterr().out.startswith(f"config configs/cpu-demo.yaml: model {cfg.model.name_or_path}, backend ")


def test_open_run_fails_on_a_wrong_key_before_anything_runs(back_to_cwd):
    from heartgrpo.config.run import ConfigError

    os.chdir(ROOT)
    with pytest.raises(ConfigError, match="grpo.max_stepz"):
        open_run("configs/cpu-demo.yaml", {"grpo.max_stepz": 3})


def test_find_root_from_a_colab_content_folder_and_nowhere(tmp_path):
    clone = tmp_path / "content" / "heartgrpo"
    (clone / "configs").mkdir(parents=True)
    (clone / "heartgrpo").mkdir()
    assert find_root(tmp_path / "content") == clone.resolve()
    assert find_root(clone / "heartgrpo") == clone.resolve()
    with pytest.raises(FileNotFoundError, match="no heartgrpo repository"):
        find_root(tmp_path)


def test_doctor_runs_in_its_own_process_with_the_same_overrides(back_to_cwd, monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr("heartgrpo.notebook.subprocess.run", lambda cmd, check: seen.append(cmd))
    os.chdir(ROOT)
    open_run("configs/cpu-demo.yaml", {"output_dir": str(tmp_path)}, doctor=True)
    assert seen == [doctor_command("configs/cpu-demo.yaml", {"output_dir": str(tmp_path)})]
    assert seen[0][:5] == [sys.executable, "-m", "heartgrpo.cli.app", "doctor", "--run"]
    assert seen[0][-1] == f'--set=output_dir="{tmp_path}"'
