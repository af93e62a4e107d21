"""Old import paths of moved modules stay valid for one release, as the same module objects."""

from __future__ import annotations

import importlib

import pytest

from heartgrpo._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module(old):
    module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])
    assert module.__spec__.name == MOVED[old]  # the module keeps its own spec


def test_names_the_notebooks_and_readme_used_still_import():
    from heartgrpo.signal_study import OutcomeModel, load_verdict_log  # noqa: F401
    from heartgrpo.train.judging import (  # noqa: F401
        GuardedJudge, JudgeUnavailableError, build_judge, close_judge, is_approximate, judge_in_use, judge_label)
    from heartgrpo.train.pipeline import (  # noqa: F401
        eval_dir_for, judge_note, run_demo, stage_eval, stage_generator, stage_grpo, stage_prep, stage_report, stage_sft)


def test_a_patch_through_the_old_path_is_seen_through_the_new(monkeypatch):
    import heartgrpo.pipeline
    import heartgrpo.train.pipeline as old

    monkeypatch.setattr(old, "stage_prep", "patched")
    assert heartgrpo.pipeline.stage_prep == "patched"
