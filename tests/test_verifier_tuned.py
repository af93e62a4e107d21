"""The verifier's second feature set, its tuned cut, quick training and the benchmarks' judge choice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from verifier_fixtures import write_data

from heartgrpo.judge import LexicalJudge
from heartgrpo.judge.verifier.model import DEFAULT_THRESHOLD, Verifier, VerifierJudge
from heartgrpo.judge.verifier.crosses import cross_features
from heartgrpo.judge.verifier.examples import load_graded
from heartgrpo.judge.verifier.features import AnswerView, _criterion_view, example_features
from heartgrpo.judge.verifier.train import evaluate_verifier, subsample_answers, train_verifier

def crosses(conversation, view, criterion, points, idf):
    """The second feature set of one example, with the criterion read as example_features reads it."""
    words, cstems = _criterion_view(criterion)[:2]
    return cross_features(conversation, view, criterion, points, idf, words=words, cstems=cstems)


CONV = [{"role": "user", "content": "My blood pressure is 150/95 at home."}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "Is that high?"}]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("graded2"))


def test_cross_features_read_length_coverage_numbers_and_kind():
    short, long = AnswerView("Yes, 150/95 is high."), AnswerView("Yes. " + "Blood pressure explained at length. " * 120)
    crit = "Gives a concise answer such as stating that 150/95 is high"
    fs, fl = crosses(CONV, short, crit, 5.0, {}), crosses(CONV, long, crit, 5.0, {})
    assert fs["concise+:0"] == 1.0 and "concise+:5" in fl  # a length word against the answer's length
    assert fs["num+:3"] == 1.0 and fl["num+:0"] == 1.0     # 150 and 95 verbatim, or not at all
    assert fs["cwl+:concise:0"] == 1.0 and "cwl+:concise:5" in fl
    assert fs["turns:3:+"] == 1.0 and any(k.startswith("ceg+:True:") for k in fs)  # "such as": it gives examples
    assert any(k.startswith("ceg+:False:") for k in crosses(CONV, short, "States that it is high", 5.0, {}))
    pit = crosses(CONV, short, crit, -5.0, {})
    assert all(("+" not in k.split(":")[0]) for k in pit)  # every cross is split by the criterion's sign
    assert crosses(CONV, short, "Recommends an echocardiogram", 5.0, {"echoc": 4.0})["missmax+:3"] == 1.0


def test_feature_sets_are_what_the_file_says():
    one = example_features(CONV, AnswerView("Yes."), "Says it is high", 4.0, answer_words=False)
    two = example_features(CONV, AnswerView("Yes."), "Says it is high", 4.0, answer_words=False, features=2)
    assert set(one) < set(two) and not any(k.startswith("cwl") for k in one)


def test_subsample_keeps_whole_answers_and_is_seeded(data: Path):
    examples = load_graded(data / "graded_dev.jsonl.gz")
    a, b = subsample_answers(examples, 10), subsample_answers(examples, 10)
    assert [e.answer for e in a] == [e.answer for e in b] and len({e.answer for e in a}) == 10
    assert len(a) == 10 * 5  # every verdict of a drawn answer (5 criteria each)
    assert subsample_answers(examples, 10, seed=1) != a and subsample_answers(examples, 10_000) == examples


def test_quick_training_records_its_sample_and_cut(data: Path, tmp_path: Path):
    info = train_verifier([data / "graded_dev.jsonl.gz"], tmp_path, answers=40, c=1.0, hash_bits=16, progress=False)
    assert info["trained_on"]["answers"] == 40 and info["sampled_answers"] == 40
    model = Verifier.load(tmp_path / "verifier.npz")
    assert model.features == 2 and model.threshold == DEFAULT_THRESHOLD == info["threshold"]


def test_feature_set_one_files_still_score_as_trained(data: Path, tmp_path: Path):
    examples = load_graded(data / "graded_dev.jsonl.gz")
    old = Verifier.fit(examples, c=1.0, hash_bits=16, features=1, threshold=0.5)
    meta_path = old.save(tmp_path / "v1.npz")
    loaded = Verifier.load(meta_path)
    assert loaded.features == 1 and np.allclose(loaded.predict_proba(examples[:20]), old.predict_proba(examples[:20]))
    # a file written before the feature set was recorded has none: it is read as set 1
    with np.load(meta_path) as d:
        meta = json.loads(bytes(d["meta"]).decode())
        parts = {k: d[k] for k in ("index", "value")}
    del meta["features"]
    legacy = tmp_path / "legacy.npz"
    np.savez_compressed(legacy, **parts, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    assert Verifier.load(legacy).features == 1


def test_verdict_cut_is_the_files_threshold(data: Path, tmp_path: Path):
    train_verifier([data / "graded_dev.jsonl.gz"], tmp_path, c=1.0, hash_bits=16, progress=False, threshold=0.3)
    judge = VerifierJudge.from_file(tmp_path / "verifier.npz")
    conv = [{"role": "user", "content": "chest tightness?"}]
    rubric = [{"criterion": f"Recommends a {t} for the chest tightness", "points": 5.0} for t in ("ecg", "statin", "holter")]
    answer = "A statin would help here."
    probs = judge.probabilities(conv, answer, rubric)
    assert [v.met for v in asyncio.run(judge.grade(conv, answer, rubric))] == [p >= 0.3 for p in probs]


def test_report_sentence_carries_the_eval_kappa(data: Path, tmp_path: Path):
    from heartgrpo.pipeline import judge_note

    train_verifier([data / "graded_dev.jsonl.gz"], tmp_path, c=1.0, hash_bits=16, progress=False)
    judge = VerifierJudge.from_file(tmp_path / "verifier.npz")
    assert "not measured" in judge_note(judge)
    r = evaluate_verifier(tmp_path / "verifier.npz", data / "graded_eval.jsonl.gz", tmp_path, lexical_thresholds=(), plots=False)
    note = judge_note(VerifierJudge.from_file(tmp_path / "verifier.npz"))
    assert f"Cohen's kappa {r['verifier']['all']['kappa']:.3f}" in note and "graded_eval.jsonl.gz" in note


def test_report_of_a_verifier_run_carries_the_verifiers_sentence_not_the_lexical_one(data: Path, tmp_path: Path):
    from heartgrpo.config.run import config_from_dict
    from heartgrpo.judge.factory import offline_judge
    from heartgrpo.pipeline import judge_note

    train_verifier([data / "graded_dev.jsonl.gz"], tmp_path / "v", c=1.0, hash_bits=16, progress=False)
    judge = {"kind": "verifier", "verifier": str(tmp_path / "v"), "verifier_fallback": "approximate"}
    cfg = config_from_dict({"name": "t", "model": {"name_or_path": "m"}, "judge": judge})
    assert "logistic model trained on real GPT-4.1 verdicts" in judge_note(offline_judge(cfg.judge))
    gone = config_from_dict({"name": "t", "model": {"name_or_path": "m"}, "judge": {**judge, "verifier": str(tmp_path / "none")}})
    assert "word overlap" in judge_note(offline_judge(gone.judge))  # the run fell back to the lexical judge
    strict = config_from_dict({"name": "t", "model": {"name_or_path": "m"},
                               "judge": {**judge, "verifier": str(tmp_path / "none"), "verifier_fallback": "error"}})
    assert offline_judge(strict.judge) is None


def test_benchmarks_judge_with_the_verifier_when_it_beats_the_lexical_judge(data: Path, tmp_path: Path):
    from benchmarks.judges import bench_judge, judge_settings, judge_text

    choice = bench_judge(0.5, run_dir=tmp_path / "bv", data=data)  # trained and measured on first use
    assert choice.kind == "verifier" and isinstance(choice.judge, VerifierJudge)
    assert choice.verifier_kappa > choice.lexical_kappa
    assert f"{choice.verifier_kappa:.3f}" in judge_text(choice) and f"{choice.lexical_kappa:.3f}" in judge_text(choice)
    assert judge_settings(choice) == {"kind": "verifier", "verifier": str(tmp_path / "bv" / "verifier.npz"),
                                      "verifier_fallback": "approximate"}
    assert json.loads((tmp_path / "bv" / "lexical_kappa.json").read_text())["0.5"] == choice.lexical_kappa
    none = bench_judge(0.3, run_dir=tmp_path / "nv", data=tmp_path / "absent")
    assert none.kind == "lexical" and isinstance(none.judge, LexicalJudge) and none.judge.threshold == 0.3
    assert "no graded data" in judge_text(none) and judge_settings(none)["kind"] == "approximate"


def test_negated_criteria_are_read_as_the_opposite_behaviour(data: Path, tmp_path: Path):
    # the synthetic split has no "Fails to ..." criterion: the verifier answers one from what
    # it learnt of "Recommends a ..." alone, turned around
    train_verifier([data / "graded_dev.jsonl.gz"], tmp_path, c=1.0, hash_bits=16, progress=False)
    judge = VerifierJudge.from_file(tmp_path / "verifier.npz")
    conv = [{"role": "user", "content": "chest tightness?"}]
    negated = [{"criterion": "Fails to recommend a holter for the chest tightness", "points": -5.0}]
    plain = [{"criterion": "Recommends a holter for the chest tightness", "points": 5.0}]
    with_it, without = "You should see a doctor. A holter would help here.", "You should see a doctor."
    assert judge.probabilities(conv, with_it, negated)[0] < 0.5 < judge.probabilities(conv, without, negated)[0]
    assert judge.probabilities(conv, with_it, negated)[0] == pytest.approx(1 - judge.probabilities(conv, with_it, plain)[0], abs=0.05)


def test_verifier_benchmark_section_has_both_trainings(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import benchmarks.verifier as bench

    monkeypatch.setenv("HEARTGRPO_BENCH_DOCS", str(tmp_path / "docs"))
    monkeypatch.delenv("HEARTGRPO_BENCH_QUICK", raising=False)
    assert bench.main(["--data", str(data), "--run-dir", str(tmp_path / "run")]) == 0
    text = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert text.count("| verifier |") == 1 and text.count("| verifier, quick training (600 answers) |") == 1
    assert "feature set 2" in text and "p(met) >= 0.44" in text and "quick training (`heartgrpo verifier train --quick`" in text
    assert (tmp_path / "docs" / "figures" / "verifier_distillation.png").is_file()
