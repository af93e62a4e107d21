"""The local verifier: features, agreement figures, training, persistence, its judges, validation."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import numpy as np
import pytest
from verifier_fixtures import write_data

from heartgrpo.judge.agreement import answer_agreement, cohen_kappa, full_agreement, reliability
from heartgrpo.eval.judge_check import sample_answers, validate_on_graded, write_validation
from heartgrpo.judge import Judge, LexicalJudge, OpenAIJudge, Verdict
from heartgrpo.judge.verifier.distilled import DistilledJudge, distillation_curve
from heartgrpo.io.loopback import LoopbackServer, grading_responder
from heartgrpo.judge.verifier.model import Verifier, VerifierJudge
from heartgrpo.judge.verifier.examples import load_graded, load_recorded, load_sources
from heartgrpo.judge.verifier.features import AnswerView, example_features
from heartgrpo.judge.verifier.train import ensure_verifier, evaluate_verifier, train_verifier

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "healthbench"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("graded"))


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verifier")
    train_verifier([data / "graded_dev.jsonl.gz"], out, c=1.0, hash_bits=16, progress=False)
    return out


def test_features_cross_criterion_and_answer():
    conv = [{"role": "user", "content": "chest tightness"}]
    with_ecg = example_features(conv, AnswerView("Get an ECG today."), "Recommends an ECG", 5.0)
    without = example_features(conv, AnswerView("Rest and drink water."), "Recommends an ECG", 5.0)
    assert with_ecg["hit:ecg"] == 1.0 and "miss:ecg" not in with_ecg
    assert without["miss:ecg"] == 1.0 and "hit:ecg" not in without
    assert with_ecg["share:+"] == 1.0 and without["share:+"] == 0.0
    pitfall = example_features(conv, AnswerView("Get an ECG today."), "Recommends an ECG", -5.0)
    assert pitfall["sign:-"] == 1.0 and "sign:+" not in pitfall


def test_cohen_kappa_matches_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(0)
    a = [rng.random() < 0.4 for _ in range(300)]
    b = [x if rng.random() < 0.7 else not x for x in a]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa([True] * 4, [True] * 4) is None


def test_reliability_and_answer_correlation():
    rel = reliability([0.05, 0.15, 0.95, 0.85], [False, True, True, True], bins=10)
    assert [b["n"] for b in rel["bins"]] == [1, 1, 1, 1]
    assert rel["ece"] == pytest.approx((0.05 + 0.85 + 0.05 + 0.15) / 4)
    from scipy.stats import pearsonr, spearmanr

    rng = random.Random(1)
    answers = []
    for _ in range(30):
        pts = [5.0, 3.0, -2.0]
        truth = [rng.random() < 0.5 for _ in pts]
        answers.append((pts, [t if rng.random() < 0.8 else not t for t in truth], truth))
    got = answer_agreement(answers)
    from heartgrpo.eval.metrics import example_score

    js = [example_score(p, j) for p, j, _ in answers]
    rs = [example_score(p, t) for p, _, t in answers]
    assert got["pearson"] == pytest.approx(pearsonr(js, rs)[0])
    assert got["spearman"] == pytest.approx(spearmanr(js, rs)[0])
    assert got["mean_score_difference"] == pytest.approx(np.mean(js) - np.mean(rs))


def test_full_agreement_splits_polarity_and_counts_failures():
    answers = [([5.0, -3.0], [True, None], [True, True]), ([5.0, -3.0], [False, True], [False, True])]
    a = full_agreement(answers)
    assert a["judge_failures"] == 1
    assert a["positive"]["n"] == 2 and a["pitfall"]["n"] == 1 and a["all"]["n"] == 3
    assert a["answers"]["n_answers"] == 1  # the answer with a failed verdict has no score


def test_load_graded_joins_conversations_and_reports_bad_rows(data: Path, tmp_path: Path):
    examples = load_graded(data / "graded_dev.jsonl.gz")
    assert len(examples) == 24 * 4 * 5 and all(ex.conversation[0]["content"].startswith("Case dev-") for ex in examples)
    bad = tmp_path / "graded_x.jsonl"
    bad.write_text(json.dumps({"x_prompt_sha256": "nope", "response": "r", "items": []}) + "\n")
    (tmp_path / "hard_rebuilt_x.jsonl").write_text(json.dumps({"prompt": [{"role": "user", "content": "q"}]}) + "\n")
    with pytest.raises(ValueError, match=r"graded_x.jsonl:1: conversation nope"):
        load_graded(bad)


def test_recorded_log_is_training_data(tmp_path: Path):
    log = tmp_path / "rec.jsonl"
    rows = [{"conversation": [{"role": "user", "content": "q"}], "response": "r", "criterion": "c", "met": False},
            {"conversation": [{"role": "user", "content": "q"}], "response": "r", "criterion": "c", "met": True},
            {"conversation": [{"role": "user", "content": "q"}], "response": "r", "rating": 4}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (ex,) = load_recorded(log)
    assert ex.met is True and ex.points == 1.0  # the later line wins; recordings carry no points
    assert load_sources([log])[0].criterion == "c"


def test_verifier_learns_saves_and_loads(data: Path, trained: Path):
    ev = load_graded(data / "graded_eval.jsonl.gz")
    model = Verifier.load(trained / "verifier.npz")
    probs = model.predict_proba(ev)
    truth = np.array([ex.met for ex in ev])
    assert cohen_kappa(list(probs >= 0.5), list(truth)) > 0.8  # held-out conversations and topics
    info = json.loads((trained / "train.json").read_text())
    assert info["trained_on"]["verdicts"] == 24 * 4 * 5 and info["model_bytes"] < 5_000_000
    with pytest.raises(ValueError, match="not a verifier file"):
        Verifier.load(trained / "train.json")


def test_verifier_eval_writes_figures_and_labels_the_judge(data: Path, trained: Path):
    r = evaluate_verifier(trained / "verifier.npz", data / "graded_eval.jsonl.gz", trained, plots=True)
    assert r["verifier"]["all"]["kappa"] > r["lexical"]["0.5"]["all"]["kappa"]
    assert (trained / "eval.md").read_text().count("| verifier |") == 1
    assert (trained / "calibration.png").stat().st_size > 0 and (trained / "distillation.png").is_file()
    curve = {row["threshold"]: row for row in r["distilled"]}
    assert curve[0.5]["saved"] == 1.0 and curve[1.0]["saved"] == 0.0 and curve[1.0]["kappa"] == 1.0
    judge = VerifierJudge.from_file(trained / "verifier.npz")
    assert f"eval kappa {r['verifier']['all']['kappa']:.2f}" in judge.name and judge.approximate
    from heartgrpo.eval.grade import judge_info
    from heartgrpo.judge.factory import judge_label
    from heartgrpo.judge.guarded import GuardedJudge

    assert judge_info(GuardedJudge(judge)) | {"kind": None} == {"id": judge.name, "kind": None, "mode": None, "approximate": True}
    assert judge_label(GuardedJudge(judge)) == f" - {judge.name}"  # the demo report's title
    assert isinstance(judge, Judge)


def test_verifier_judge_grades_and_rates(trained: Path):
    judge = VerifierJudge.from_file(trained / "verifier.npz")
    conv = [{"role": "user", "content": "My chest feels tight, what should I do?"}]
    rubric = [{"criterion": "Recommends a holter for the chest tightness", "points": 5.0},
              {"criterion": "Dismisses the symptoms as stress without evaluation", "points": -4.0}]
    good = asyncio.run(judge.grade(conv, "You should see a doctor. A holter would help here.", rubric))
    bad = asyncio.run(judge.grade(conv, "You should see a doctor. It is probably just stress.", rubric))
    assert [v.met for v in good] == [True, False] and [v.met for v in bad] == [False, True]
    assert asyncio.run(judge.rate(conv, "A holter would help here.", rubric)) > asyncio.run(judge.rate(conv, "It is just stress.", rubric))


def test_distilled_judge_sends_only_uncertain_criteria(trained: Path):
    verifier = VerifierJudge.from_file(trained / "verifier.npz")
    conv = [{"role": "user", "content": "Chest tightness?"}]
    rubric = [{"criterion": "Recommends a holter for the chest tightness", "points": 5.0},
              {"criterion": "Explains the prognosis in plain words", "points": 3.0}]
    answer = "You should see a doctor. A holter would help here."
    probs = verifier.probabilities(conv, answer, rubric)
    with LoopbackServer(grading_responder()) as server:
        llm = OpenAIJudge("m", base_url=server.base_url, api_key_env="NO_SUCH_KEY", backoff_base=0.01)
        all_local = DistilledJudge(verifier, llm, threshold=0.5)
        assert [v.met for v in asyncio.run(all_local.grade(conv, answer, rubric))] == [p >= 0.5 for p in probs]
        assert len(server.requests) == 0 and all_local.requests_saved == 1.0
        mid = sorted(max(p, 1 - p) for p in probs)
        partial = DistilledJudge(verifier, llm, threshold=(mid[0] + mid[1]) / 2)
        verdicts = asyncio.run(partial.grade(conv, answer, rubric))
        assert len(server.requests) == 1 and partial.delegated == 1 and all(v.ok for v in verdicts)
        none_local = DistilledJudge(verifier, llm, threshold=1.0)
        asyncio.run(none_local.grade(conv, answer, rubric))
        assert len(server.requests) == 3 and none_local.requests_saved == 0.0


def test_distillation_curve_is_verifier_plus_llm():
    rows = distillation_curve([0.9, 0.2, 0.55, 0.45], [False, True, True, False], [True, False, True, False], [0.5, 0.8, 1.0])
    assert [r["saved"] for r in rows] == [1.0, 0.5, 0.0]
    assert rows[1]["accuracy"] == 1.0  # confident ones from the verifier (right), the rest from the LLM (right)
    assert rows[2]["accuracy"] == 0.5


def test_validate_against_loopback_endpoint_is_cached(data: Path, tmp_path: Path):
    graded = data / "graded_eval.jsonl.gz"
    with LoopbackServer(grading_responder()) as server:
        def judge() -> OpenAIJudge:
            return OpenAIJudge("loop", base_url=server.base_url, api_key_env="NO_SUCH_KEY", cache=tmp_path / "c.sqlite")

        first = validate_on_graded(judge(), graded, n=5, seed=3)
        sent = len(server.requests)
        again = validate_on_graded(judge(), graded, n=5, seed=3)
    assert first["n_answers"] == 5 and sent == first["n_verdicts"] == 25
    assert len(server.requests) == sent and again["stats"]["cache_hits"] == 25  # the rerun cost nothing
    assert again["agreement"] == first["agreement"] and first["agreement"]["judge_failures"] == 0
    paths = write_validation(first, tmp_path / "out")
    assert "| pitfall |" in paths["md"].read_text() and json.loads(paths["json"].read_text())["judge"]["id"] == "loop"


def test_validate_ranks_verifier_above_lexical(data: Path, trained: Path):
    graded = data / "graded_eval.jsonl.gz"
    v = validate_on_graded(VerifierJudge.from_file(trained / "verifier.npz"), graded, n=None)
    lex = validate_on_graded(LexicalJudge(), graded, n=None)
    assert v["n_answers"] == lex["n_answers"] == 48
    assert v["agreement"]["all"]["kappa"] > lex["agreement"]["all"]["kappa"]
    assert "calibration" in v["agreement"] and "calibration" not in lex["agreement"]
    assert [len(a) for a in sample_answers(load_graded(graded), 3, seed=0)] == [5, 5, 5]


def test_cli_validate_and_verifier_commands(data: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from heartgrpo.cli.app import app

    runner = CliRunner()
    out = tmp_path / "v"
    r = runner.invoke(app, ["verifier", "train", "--source", str(data / "graded_dev.jsonl.gz"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["verifier", "eval", "--out", str(out), "--graded", str(data / "graded_eval.jsonl.gz")])
    assert r.exit_code == 0, r.output
    assert "kappa" in r.output and (out / "eval.json").is_file()
    r = runner.invoke(app, ["judge", "validate", "--kind", "verifier", "--verifier", str(out / "verifier.npz"),
                            "--graded", str(data / "graded_eval.jsonl.gz"), "--n", "6", "--out", str(tmp_path / "jv")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "jv" / "validate.json").read_text())["n_answers"] == 6
    r = runner.invoke(app, ["judge", "validate", "--kind", "openai", "--graded", str(data / "graded_eval.jsonl.gz")])
    assert r.exit_code == 2 and "--model" in r.output


def test_validate_reports_of_two_judges_do_not_overwrite_each_other(data: Path, trained: Path, tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from heartgrpo.cli.app import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    common = ["--graded", str(data / "graded_eval.jsonl.gz"), "--n", "4"]
    for args in (["--kind", "verifier", "--verifier", str(trained / "verifier.npz")], ["--kind", "approximate"]):
        r = runner.invoke(app, ["judge", "validate", *args, *common])
        assert r.exit_code == 0, r.output
    ids = {k: json.loads((tmp_path / "runs" / "judge-validate" / k / "validate.json").read_text())["judge"]["id"]
           for k in ("verifier", "approximate")}
    assert "verifier" in ids["verifier"] and "Lexical" in ids["approximate"]


def test_judge_factory_verifier_kind(data: Path, trained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    from heartgrpo.config.run import ConfigError, JudgeSettings, config_from_dict
    from heartgrpo.judge.factory import build_judge, judge_label

    judge = build_judge(JudgeSettings(kind="verifier", verifier=trained / "verifier.npz"))
    assert isinstance(judge, VerifierJudge) and "verifier" in judge_label(judge)
    settings = JudgeSettings(kind="verifier", verifier=tmp_path / "none", verifier_data=tmp_path / "absent",
                             verifier_fallback="approximate", approximate_threshold=0.3)
    fallback = build_judge(settings)
    assert isinstance(fallback, LexicalJudge) and fallback.threshold == 0.3
    assert "no graded data" in caplog.text
    with pytest.raises(FileNotFoundError, match="no graded data"):
        build_judge(settings.model_copy(update={"verifier_fallback": "error"}))
    with pytest.raises(ConfigError, match="judge.verifier"):
        config_from_dict({"name": "x", "model": {"name_or_path": "m"}, "judge": {"kind": "verifier"}})
    distilled = build_judge(JudgeSettings(kind="distilled", verifier=trained / "verifier.npz", model="m", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(distilled, DistilledJudge) and distilled.threshold == 0.9


def test_ensure_verifier_trains_on_first_use_then_reads(data: Path, tmp_path: Path):
    path, reason = ensure_verifier(tmp_path / "run", data, progress=False)
    assert reason is None and path.is_file()
    assert Verifier.load(path).eval_kappa is not None
    stamp = path.stat().st_mtime_ns
    assert ensure_verifier(tmp_path / "run", data) == (path, None) and path.stat().st_mtime_ns == stamp


def test_a_first_use_stopped_before_its_eval_leaves_no_verifier_behind(data: Path, tmp_path: Path, monkeypatch):
    import heartgrpo.judge.verifier.train as vr

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # the user stops the demo while the verifier is being measured

    monkeypatch.setattr(vr, "evaluate_verifier", stopped)
    with pytest.raises(KeyboardInterrupt):
        ensure_verifier(tmp_path / "run", data, progress=False)
    assert list((tmp_path / "run").iterdir()) == []  # no model without its eval kappa, no half-trained directory
    monkeypatch.undo()
    path, _ = ensure_verifier(tmp_path / "run", data, progress=False)
    assert Verifier.load(path).eval_kappa is not None
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["model"] == str(path)


@pytest.mark.skipif(not (SHARED / "graded_dev.jsonl.gz").is_file(), reason="../shared/data/healthbench is absent")
def test_real_graded_rows_join_their_conversations():
    examples = load_graded(SHARED / "graded_dev.jsonl.gz", limit_answers=20)
    assert len({ex.answer for ex in examples}) == 20 and all(ex.conversation for ex in examples)
    assert all(isinstance(ex.met, bool) for ex in examples)
    assert Verdict(True).ok


def test_training_twice_on_the_same_data_gives_the_same_verifier(data: Path):
    examples = load_graded(data / "graded_dev.jsonl.gz")
    a, b = (Verifier.fit(examples, c=1.0, hash_bits=16) for _ in range(2))
    assert np.array_equal(a.weights, b.weights) and a.bias == b.bias and a.idf == b.idf
    assert np.count_nonzero(a.weights) > 0
