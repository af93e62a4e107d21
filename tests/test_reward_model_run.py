"""Reward model end to end on a synthetic graded split: CLI train/eval, the judge kind, judge validate, the transformer head."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from verifier_fixtures import write_data

from heartgrpo.cli.app import app
from heartgrpo.config.judge import JudgeSettings
from heartgrpo.eval.judge_check import validate_on_graded
from heartgrpo.judge.factory import build_judge, offline_judge
from heartgrpo.judge.reward_model.judge import RewardModelJudge

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("graded"))


@pytest.fixture(scope="module")
def run_dir(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rm")
    r = CliRunner().invoke(app, ["reward-model", "train", "--graded", str(data / "graded_dev.jsonl.gz"), "--out", str(out),
                                 "--epochs", "150", "--hidden", "8", "--folds", "2"])
    assert r.exit_code == 0, r.output
    return out


def test_train_writes_models_and_dev_cv(run_dir: Path):
    info = json.loads((run_dir / "train.json").read_text())
    for name in ("reward_model.npz", "reward_model_no_gprc.npz", "verifier.npz", "dev_features.npz", "cv.json"):
        assert (run_dir / name).is_file(), name
    assert info["reward_model_no_gprc.npz"]["settings"]["gprc_weight"] == 0.0
    assert info["reward_model.npz"]["settings"]["gprc_weight"] == 1.0
    assert info["cv"]["gprc_on"] > 0.7  # the synthetic grader's rule is learnable


def test_eval_reports_ranking_with_cis_dimensions_and_medium_between(run_dir: Path, data: Path):
    r = CliRunner().invoke(app, ["reward-model", "eval", "--out", str(run_dir), "--graded", str(data / "graded_eval.jsonl.gz")])
    assert r.exit_code == 0, r.output
    result = json.loads((run_dir / "eval.json").read_text())
    main = result["overall"]["reward model (GPRC on)"]
    assert main["ci_low"] <= main["agreement"] <= main["ci_high"]
    assert main["agreement"] > 0.7
    assert set(result["overall"]) == {"reward model (GPRC on)", "reward model (GPRC off)", "verifier expected score (its `rate`)",
                                     "verifier verdict score", "lexical judge (its `rate`)", "length (characters)"}
    assert "content" in result["dimensions"] and 0 <= result["between"]["gprc_on"]["score_between"] <= 1
    assert "| length (characters) |" in (run_dir / "eval.md").read_text()


def test_judge_kind_rates_for_rar_implicit_and_grades_with_its_verifier(run_dir: Path, data: Path):
    with pytest.raises(ValueError, match="needs judge.reward_model"):
        JudgeSettings(kind="reward_model")
    judge = build_judge(JudgeSettings(kind="reward_model", reward_model=run_dir))
    assert isinstance(judge, RewardModelJudge) and judge.approximate
    assert offline_judge(JudgeSettings(kind="reward_model", reward_model=run_dir / "nowhere")) is None
    prompt = [{"role": "user", "content": "My chest feels tight after walking, what should I do?"}]
    rubric = [{"criterion": f"Recommends a {t} for the chest tightness", "points": 5.0} for t in ("ecg", "troponin", "statin")]
    good = "You should see a doctor. A ecg would help here. A troponin would help here. A statin would help here."
    poor = "You should see a doctor."
    rate_good, rate_poor = (asyncio.run(judge.rate(prompt, a, rubric)) for a in (good, poor))
    assert 1.0 <= rate_poor < rate_good <= 10.0
    assert asyncio.run(judge.rate(prompt, good, [{"criterion": "Dismisses it", "points": -3.0}])) is None
    verdicts = asyncio.run(judge.grade(prompt, good, rubric))
    assert len(verdicts) == 3 and all(isinstance(v.met, bool) for v in verdicts)
    assert "verifier" in verdicts[0].explanation
    r = validate_on_graded(judge, data / "graded_eval.jsonl.gz", n=None)
    assert set(r["ranking"]) == {"judge_score", "judge_rate", "length"}
    assert r["ranking"]["judge_rate"]["n_pairs"] > 0


def test_transformer_head_trains_two_steps_on_a_tiny_qwen3(data: Path, tmp_path: Path):
    pytest.importorskip("transformers")
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from heartgrpo.judge.reward_model.transformer import build_head, render, score_texts, train_transformer_head
    from heartgrpo.model.tiny import build_tiny_qwen3

    base = build_tiny_qwen3(tmp_path / "tiny")
    info = train_transformer_head(data / "graded_dev.jsonl.gz", tmp_path / "head", base, device="cpu", max_steps=2,
                                  max_length=256, lr=1e-4)
    assert info["steps"] == 2 and info["first_loss"] > 0
    head = build_head(AutoModelForCausalLM.from_pretrained(tmp_path / "head" / "lm").config.hidden_size)
    head.load_state_dict(load_file(str(tmp_path / "head" / "head.safetensors")))
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "head" / "lm")
    tok = AutoTokenizer.from_pretrained(tmp_path / "head" / "lm")
    texts = [render([{"role": "user", "content": "chest pain"}], a, [("Recommends an ECG", 5.0)]) for a in ("Get an ECG.", "Rest.")]
    scores = score_texts(lm, head, tok, texts, max_length=128)
    assert len(scores) == 2 and scores[0] != scores[1]


def test_lexical_rates_follow_word_overlap_with_the_rubric():
    from heartgrpo.judge.reward_model.data import Answers
    from heartgrpo.judge.reward_model.run import lexical_rates
    from heartgrpo.judge.verifier.examples import Example

    conv = [{"role": "user", "content": "My ankles are swollen"}]
    rows = [Example(conv, text, "Recommends elevating the swollen ankles", 5.0, True, "g", aid) for text, aid in
            (("Elevate your swollen ankles.", "a1"), ("Drink water.", "a2"))]
    covered, not_covered = lexical_rates(Answers.from_examples(rows))
    assert covered == 10.0 and not_covered == 1.0
