"""`heartgrpo rubrics compare` on the real HealthBench dev rows (skipped without ../shared):
the figures separate a rubric from itself and from another conversation's, and the command
given in docs/data.md runs end to end (generator on a loopback server, any judge)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from heartgrpo.cli.app import app
from heartgrpo.rubricgen.compare import baseline_rubrics, compare_rubrics
from heartgrpo.io.jsonl import write_jsonl
from heartgrpo.judge import LexicalJudge
from heartgrpo.io.loopback import LoopbackServer, Reply

ROOT = Path(__file__).resolve().parents[1]
HB = ROOT.parent / "shared" / "data" / "healthbench"
REAL, GRADED = HB / "hard_rebuilt_dev.jsonl", HB / "graded_dev.jsonl.gz"
pytestmark = pytest.mark.skipif(not REAL.is_file() or not GRADED.is_file(),
                                reason="real HealthBench rows absent (../shared/data/healthbench/)")
runner = CliRunner()


@pytest.fixture(scope="module")
def dev_subset(tmp_path_factory) -> Path:
    """The first 12 dev conversations (a file of the tmp dir, never of the repository)."""
    path = tmp_path_factory.mktemp("hb") / "dev12.jsonl"
    path.write_text("".join(REAL.read_text(encoding="utf-8").splitlines(keepends=True)[:12]), encoding="utf-8")
    return path


@pytest.mark.parametrize("matcher", ["lexical", "judge"])
def test_figures_separate_the_own_rubric_from_another_conversations(dev_subset, tmp_path, matcher):
    own, other = tmp_path / "own.jsonl", tmp_path / "other.jsonl"
    write_jsonl(baseline_rubrics(dev_subset, "real"), own)
    write_jsonl(baseline_rubrics(dev_subset, "shifted"), other)
    judge = LexicalJudge(0.5)
    ceiling = compare_rubrics(dev_subset, GRADED, own, judge, matcher=matcher, answers_per_conversation=4, progress=False)
    floor = compare_rubrics(dev_subset, GRADED, other, judge, matcher=matcher, answers_per_conversation=4, progress=False)
    assert ceiling["n_conversations"] == floor["n_conversations"] == 12
    assert ceiling["n_answers_scored"] > 20 and ceiling["judge_approximate"]
    assert ceiling["coverage"]["all"] == 1.0 and floor["coverage"]["all"] < 0.2
    assert ceiling["tau_pooled"] == 1.0 and ceiling["tau_within_conversation"]["mean"] == 1.0
    assert floor["tau_pooled"] < 0.9


def test_generate_then_compare_commands(dev_subset, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    rubric = {"rubric": [
        {"title": "Exam", "description": "Essential Criteria: Explains that an examination by a clinician is needed.", "weight": 5},
        {"title": "Causes", "description": "Essential Criteria: Gives possible causes of the symptom.", "weight": 5},
        {"title": "History", "description": "Important Criteria: Asks about injury, surgery or recent activity changes.", "weight": 4},
        {"title": "Red flags", "description": "Important Criteria: Lists warning signs needing urgent care.", "weight": 4},
        {"title": "Self care", "description": "Important Criteria: Suggests safe self-care measures meanwhile.", "weight": 3},
        {"title": "Plain", "description": "Optional Criteria: Uses plain, non-technical language throughout.", "weight": 2},
        {"title": "Brief", "description": "Optional Criteria: Keeps the reply short and focused.", "weight": 1},
        {"title": "Certainty", "description": "Pitfall Criteria: Claims a definite diagnosis without examination.", "weight": -2},
    ]}
    out = tmp_path / "gen"
    with LoopbackServer(lambda req, i: Reply(json.dumps(rubric))) as server:
        gen = runner.invoke(app, ["rubrics", "generate", "--input", str(dev_subset), "--out", str(out), "--model", "loopback",
                                  "--base-url", server.base_url, "--limit", "3"])
    assert gen.exit_code == 0, gen.output
    result = runner.invoke(app, ["rubrics", "compare", "--generated", str(out / "records.jsonl"), "--real", str(dev_subset),
                                 "--graded", str(GRADED), "--out", str(tmp_path / "cmp"), "--config", str(ROOT / "configs" / "cpu-demo.yaml"),
                                 "--set", "judge.kind=approximate", "--answers-per-conversation", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert report["n_conversations"] == 3 and report["judge"] == "approximate"
    assert 6 <= report["n_answers_scored"] == report["n_answers"] <= 9
    assert 0.0 <= report["coverage"]["all"] <= 1.0 and report["coverage"]["n_real_items"] > 20
    assert "APPROXIMATE judge" in (tmp_path / "cmp" / "comparison.md").read_text()
