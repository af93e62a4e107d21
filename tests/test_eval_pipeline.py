"""generate -> grade -> summarise -> report on small HealthBench-format records, with hand values."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from eval_fakes import ANSWERS, FakeGenerator, KeywordJudge, make_records, write_records

from heartgrpo import rewards
from heartgrpo.eval import EvalSettings, evaluate
from heartgrpo.eval.grade import grade_answers, load_verdicts, rescore
from heartgrpo.eval.generate import generate_answers, load_answers
from heartgrpo.eval.jsonl import EvalInputError
from heartgrpo.eval.run import report
from heartgrpo.judge import RecordedJudge, RecordingJudge

SETTINGS = EvalSettings(n=None, n_bootstrap=200, concurrency=2)


@pytest.fixture()
def run(tmp_path: Path):
    records = write_records(tmp_path / "records.jsonl")
    judge = KeywordJudge()
    summary = evaluate(records, judge, tmp_path / "base", generator=FakeGenerator(), settings=SETTINGS, progress=False)
    return tmp_path, records, judge, summary


def test_scores_match_hand_computation(run):
    _, _, _, s = run
    per = s["per_example"]
    # hb-1: emergency 7 + aspirin 5 + 'wait' pitfall -6 met, ecg 10 not met (only inside <think>) -> 6/22
    assert per["hb-1"]["score"] == pytest.approx(6 / 22)
    assert per["hb-1"]["pass"] is False  # (6 + 6) / 28 = 0.43
    assert per["hb-2"]["score"] == 1.0 and per["hb-2"]["pass"] is True
    assert per["hb-3"] == {"score": 0.0, "pass": False, "normalized": 0.0, "empty": True}
    assert "hb-4" not in per  # one criterion unjudged
    assert s["healthbench"]["score"] == pytest.approx((6 / 22 + 1 + 0) / 3)
    assert s["healthbench"]["n"] == 3 and s["healthbench"]["marked"] is True
    assert s["paper"]["accuracy"] == pytest.approx(1 / 3)
    assert s["failures"] == {"criteria_total": 11, "criteria_unjudged": 1, "examples_unjudged": 1, "empty_answers": 1}
    assert s["exclusions"] == [{"id": "hb-4", "reason": "1 of 2 criteria unjudged (timeout after 3 attempts)"}]
    tags = s["tags"]
    # axis:accuracy per example: hb-1 (7 - 6)/17, hb-2 repeat 5/5, hb-3 rhythm 0/4, and hb-4 echo 5/5:
    # hb-4's accuracy criteria were all judged (its unjudged criterion is a completeness one)
    assert tags["axis:accuracy"]["score"] == pytest.approx((1 / 17 + 1 + 0 + 1) / 4)
    assert tags["axis:completeness"]["unjudged"] == 1
    assert "axis:communication_quality" not in tags  # only a negative criterion carries it
    assert tags["theme:context_seeking"]["score"] == 1.0
    assert tags["theme:hedging"]["n"] == 0 and tags["theme:hedging"]["unjudged"] == 1
    assert tags["heart_theme:hypertension"]["score"] == 1.0
    assert s["judge"][0]["id"] == "keyword-judge" and s["hardware"] == "test cpu"


def test_saved_files_are_complete_and_self_contained(run):
    tmp, _, _, _ = run
    answers = load_answers(tmp / "base" / "answers.jsonl")
    assert set(answers) == {"hb-1", "hb-2", "hb-3", "hb-4"}
    row = answers["hb-2"]
    assert row["model_id"] == "fake-model" and row["settings"]["temperature"] == 0.7 and row["time"]
    assert row["prompt_turns"] == 2  # system + first user turn only
    verdicts = load_verdicts(tmp / "base" / "verdicts.jsonl")
    c = verdicts["hb-1"]["criteria"][0]
    assert c["criterion"].startswith("emergency") and c["points"] == 7 and c["tags"] == ["axis:accuracy"]
    assert c["met"] is True and "found" in c["explanation"]
    assert verdicts["hb-3"]["response_empty"] is True
    assert json.loads((tmp / "base" / "summary.json").read_text())["healthbench"]["n"] == 3


def test_empty_answer_is_not_sent_to_the_judge(run):
    _, _, judge, _ = run
    assert all(resp for resp, _ in judge.calls)
    assert len(judge.calls) == 3  # hb-1, hb-2, hb-4


def test_rescoring_needs_no_judge(run):
    tmp, records, _, _ = run
    verdicts = load_verdicts(tmp / "base" / "verdicts.jsonl")
    hybrid = rescore(verdicts, "hybrid")
    crit = verdicts["hb-2"]["criteria"]
    assert hybrid["hb-2"] == rewards.score("hybrid", [c["points"] for c in crit], [c["met"] for c in crit]) == 20.0
    assert hybrid["hb-4"] is None

    again = evaluate(records, None, tmp / "base", settings=SETTINGS, progress=False)
    assert again["healthbench"] == json.loads((tmp / "base" / "summary.json").read_text())["healthbench"]
    with pytest.raises(ValueError, match="group"):
        rescore(verdicts, "criterion_variance")


def test_generation_resumes_after_a_crash(tmp_path: Path):
    records = make_records()
    out = tmp_path / "answers.jsonl"
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_answers(records, FakeGenerator(crash_after=2), out, batch_size=1, progress=False)
    assert len(load_answers(out)) == 2
    with open(out, "a") as fh:  # a crash in the middle of a write
        fh.write('{"id": "hb-3", "resp')
    gen = FakeGenerator()
    with pytest.warns(UserWarning, match="truncated"):
        load_answers(out)
    stats = generate_answers(records, gen, out, batch_size=2, progress=False)
    assert stats == {"done": 2, "skipped": 2, "errors": 0, "empty": 1}
    assert len(gen.calls) == 2 and set(load_answers(out)) == {"hb-1", "hb-2", "hb-3", "hb-4"}
    assert generate_answers(records, FakeGenerator(), out, progress=False)["done"] == 0


def test_answers_of_another_model_are_not_mixed(tmp_path: Path):
    out = tmp_path / "answers.jsonl"
    generate_answers(make_records()[:1], FakeGenerator(), out, progress=False)
    with pytest.raises(EvalInputError, match="other-model|another answers path"):
        generate_answers(make_records(), FakeGenerator(model_id="other-model"), out, progress=False)


def test_grading_resumes_and_retries_failed_criteria(run):
    tmp, records, _, _ = run
    judge = KeywordJudge()
    recs = make_records()
    stats = grade_answers(recs, tmp / "base" / "answers.jsonl", judge,
                          tmp / "base" / "verdicts.jsonl", progress=False)
    # judge id unchanged: only hb-4 (a failed criterion) is graded again; hb-3 (empty) needs no call
    assert stats["skipped"] == 3 and stats["graded"] == 1 and len(judge.calls) == 1
    judge.fail_unjudgeable = False
    grade_answers(recs, tmp / "base" / "answers.jsonl", judge, tmp / "base" / "verdicts.jsonl", progress=False)
    s = evaluate(records, None, tmp / "base", settings=SETTINGS, progress=False)
    assert s["exclusions"] == [] and s["healthbench"]["marked"] is False and s["n_scored"] == 4


def test_recorded_judge_replays_the_same_run(tmp_path: Path):
    records = write_records(tmp_path / "records.jsonl")
    rec_path = tmp_path / "recorded.jsonl"
    first = evaluate(records, RecordingJudge(KeywordJudge(), rec_path), tmp_path / "live", generator=FakeGenerator(),
                     settings=SETTINGS, progress=False)
    replay = evaluate(records, RecordedJudge(rec_path), tmp_path / "replay", answers=tmp_path / "live" / "answers.jsonl",
                      settings=SETTINGS, progress=False)
    assert replay["per_example"] == first["per_example"]
    assert replay["healthbench"] == first["healthbench"]
    assert replay["judge"][0]["id"].startswith("RecordedJudge")


def test_report_writes_html_with_embedded_figures(run, tmp_path: Path):
    tmp, records, _, _ = run
    other = {**ANSWERS, "hb-3": "Atrial fibrillation is an irregular rhythm that raises stroke risk."}
    evaluate(records, KeywordJudge(), tmp / "grpo", generator=FakeGenerator(other, model_id="grpo"),
             settings=SETTINGS.model_copy(update={"n": 3, "seed": 5}), progress=False)  # hb-2..hb-4
    log = tmp / "grpo_log.jsonl"
    log.write_text("".join(json.dumps({"step": i, "rewards/rubric_complexity/mean": 0.1 * i, "rewards/rubric_complexity/std": 0.05,
                                       "frac_reward_zero_std": 0.5 - 0.05 * i, "reward": 0.1 * i,
                                       "completions/mean_length": 20.0 + 10 * i}) + "\n" for i in range(6)))
    agreement = {"macro_f1": 0.8, "n": 10, "judge": {"id": "keyword-judge"}, "excluded": {"physician_tie": 1, "judge_failure": 0},
                 "by_category": {"cat-a": {"macro_f1": 0.7, "n": 5}, "cat-b": {"macro_f1": 0.9, "n": 5}}}
    out = report([tmp / "base", tmp / "grpo"], tmp / "report", grpo_logs=[log], agreement=agreement,
                 results_md=tmp / "docs" / "results.md", settings=SETTINGS)
    page = out["html"].read_text()
    images = page.count("src='data:image/png;base64,")
    assert images >= 6  # scores, theme, heart theme, axis, rewards, agreement
    start = page.index("data:image/png;base64,") + len("data:image/png;base64,")
    assert base64.b64decode(page[start : page.index("'", start)])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<img" in page and "src='figures/" not in page  # self-contained
    md = out["md"].read_text()
    assert "| base |" in md and "1/11 criteria, 1 prompts" in md and "†" in md
    assert "| generation |" in md and md.count("backend=fake, temperature=0.7, max_new_tokens=16") == 2  # which generator ran
    assert "criteria unjudged" in md and "Exclusions" in md
    assert (tmp / "report" / "figures" / "scores.png").exists()
    assert "Paired comparisons" in md and "McNemar" in md
    # the grpo run covers hb-2..hb-4 only: hb-1 cannot be paired and is listed with the reason
    assert "| hb-1 | scored only in base |" in md
    # the reward beside the completion length: here reward is a straight line in length, so no rise survives
    assert "Beside completion length" in md and md.count("does not survive controlling for length.") == 1
    results = out["results_md"].read_text()
    assert "Qwen3-14B base | 0.362 | 0.532" in results and "keyword-judge" in results and "test cpu" in results
    assert "the rise does not survive controlling for length." in results


def test_report_for_a_missing_run_directory_is_a_clear_error(tmp_path: Path):
    with pytest.raises(EvalInputError, match="run directory not found"):
        report([tmp_path / "nope"], tmp_path / "out")
    (tmp_path / "half").mkdir()
    with pytest.raises(EvalInputError, match="no answers file"):
        report([tmp_path / "half"], tmp_path / "out")


def test_approximate_judge_is_labelled_in_every_table(tmp_path: Path):
    from heartgrpo.eval.results_table import render_results_table
    from heartgrpo.judge import LexicalJudge

    records = write_records(tmp_path / "records.jsonl")
    s = evaluate(records, LexicalJudge(), tmp_path / "demo", generator=FakeGenerator(), settings=SETTINGS, progress=False)
    assert s["judge"][0]["approximate"] is True
    assert "LexicalJudge (approximate)" in render_results_table([s])
    md = report([tmp_path / "demo"], tmp_path / "rep", settings=SETTINGS)["md"].read_text()
    assert "LexicalJudge (approximate)" in md


def test_results_table_footnote_only_where_a_score_is_marked(tmp_path: Path):
    from heartgrpo.eval.results_table import render_results_table
    from heartgrpo.judge import LexicalJudge

    records = write_records(tmp_path / "records.jsonl")
    s = evaluate(records, LexicalJudge(), tmp_path / "demo", generator=FakeGenerator(), settings=SETTINGS, progress=False)
    assert s["failures"]["criteria_unjudged"] == 0 and "†" not in render_results_table([s])
    marked = {**s, "healthbench": {**s["healthbench"], "marked": True}}
    text = render_results_table([s, marked])
    assert text.count(" †") == 1 and "† some criteria were unjudged" in text


def test_report_has_a_table_for_every_tag_family_simple_evals_reports():
    from heartgrpo.eval.report import _blocks

    agg = {"score": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 3, "unjudged": 0}
    tags = {t: agg for t in ("theme:hedging", "physician_agreed_category:enough-context", "axis:accuracy",
                             "level:cluster", "cluster:hedging_any-reducible-uncertainty_hedges")}
    summary = {"name": "a", "tags": tags, "healthbench": agg | {"marked": False}, "n_scored": 3, "exclusions": [],
               "failures": {"criteria_total": 3, "criteria_unjudged": 0, "examples_unjudged": 0, "empty_answers": 0},
               "paper": {"accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6, "f1": 2 / 3, "n": 3}, "judge": [], "hardware": None}
    titles = [b[2] for b in _blocks([summary], [], {}, None, "t") if b[0] == "h"]
    for family in ("Per theme", "Per physician-agreed category", "Per axis", "Per level", "Per cluster"):
        assert any(t.startswith(family) for t in titles), (family, titles)
