"""``refine --measure`` arithmetic on hand-made data, grading with a rule judge, and the CLI with a loopback judge."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from heartgrpo.answer_format import format_sft_completion
from heartgrpo.judge import Verdict
from heartgrpo.io.loopback import LoopbackServer, grading_responder
from heartgrpo.io.jsonl import read_jsonl, write_jsonl
from heartgrpo.refine.measure import compare_pairs, load_rubrics, measure_refinement, summarize


def _g(o: float | None, r: float | None, facets: list[str], words: tuple[int, int] = (10, 12), tags: tuple[dict, dict] = ({}, {})) -> dict:
    return {"id": "x", "facets_changed": facets, "original": {"score": o, "tags": tags[0], "words": words[0], "failed": 0},
            "refined": {"score": r, "tags": tags[1], "words": words[1], "failed": 0}}


def test_win_rate_change_per_facet_per_axis_and_length_by_hand() -> None:
    graded = [
        _g(0.2, 0.6, ["safety"], (10, 20), ({"axis:accuracy": 0.0}, {"axis:accuracy": 1.0})),
        _g(0.5, 0.5, ["safety", "communication"], (10, 10), ({"axis:accuracy": 0.5}, {"axis:accuracy": 0.5})),
        _g(0.5, 0.4, ["communication"], (30, 20)),
        _g(0.8, 1.0, [], (10, 30), ({"axis:accuracy": 1.0}, {"axis:accuracy": 0.0})),
        _g(0.1, None, ["safety"]),  # a judge failure: excluded, not scored as 0
    ]
    s = summarize(graded, n_bootstrap=200)
    o = s["overall"]
    assert s["excluded_judge_failures"] == 1 and o["n"] == 4
    assert o["win_rate"] == pytest.approx((1 + 0.5 + 0 + 1) / 4) and o["tie_rate"] == pytest.approx(0.25)
    assert o["mean_change"] == pytest.approx((0.6 + 0.5 + 0.4 + 1.0 - 0.2 - 0.5 - 0.5 - 0.8) / 4)
    assert o["win_ci"][0] <= o["win_rate"] <= o["win_ci"][1] and o["change_ci"][0] <= o["mean_change"] <= o["change_ci"][1]
    assert o["length"]["original_words"] == pytest.approx(15) and o["length"]["refined_words"] == pytest.approx(20)
    safety, comm = s["per_facet"]["safety"], s["per_facet"]["communication"]
    assert safety["n"] == 2 and safety["win_rate"] == pytest.approx(0.75) and safety["mean_change"] == pytest.approx(0.2)
    assert comm["n"] == 2 and comm["win_rate"] == pytest.approx(0.25) and comm["mean_change"] == pytest.approx(-0.05)
    assert "decision_making" not in s["per_facet"]
    acc = s["per_axis"]["axis:accuracy"]
    assert acc["n"] == 3 and acc["win_rate"] == pytest.approx(0.5) and acc["mean_change"] == pytest.approx(0.0)
    assert compare_pairs([0.1, 0.2], [0.9, 0.8])["win_ci"] == [1.0, 1.0]


class KeywordJudge:
    """Met when the criterion's first word appears in the response (a deterministic rule, no model)."""

    async def grade(self, prompt, response, rubrics):
        return [Verdict(c["criterion"].split()[0].lower() in response.lower(), "rule") for c in rubrics]


def _rows() -> list[dict]:
    def row(i: str, q: str, original: str, refined: str, facets: list[str]) -> dict:
        return {"id": i, "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": q}],
                "completion": [{"role": "assistant", "content": format_sft_completion("why", refined, "paper")}],
                "original": {"reasoning": "why", "answer": original}, "facets_changed": facets}

    return [row("a", "Is my BP of 150/95 high?", "It is fine.", "Yes: recheck and see your GP; emergency care if chest pain.", ["safety"]),
            row("b", "What is a normal pulse?", "60 to 100 at rest, see your GP if it races.", "60 to 100 at rest.", ["communication"]),
            row("c", "A question with no rubric", "x", "y", [])]


def test_measure_grades_both_answers_on_the_rubrics(tmp_path: Path) -> None:
    write_jsonl([{"id": "a", "rubrics": [{"criterion": "recheck the reading", "points": 5, "tags": ["axis:completeness"]},
                                         {"criterion": "emergency signs named", "points": 5, "tags": ["axis:accuracy"]},
                                         {"criterion": "fine without advice", "points": -5, "tags": ["axis:accuracy"]}]},
                 {"question": "What is a normal pulse?",  # a RaR row matched by its question text
                  "rubric": [{"title": "GP", "description": "Essential Criteria: GP advice when it races", "weight": 5}]}],
                tmp_path / "rubrics.jsonl")
    write_jsonl(_rows(), tmp_path / "sft_refined.jsonl")
    s = measure_refinement(tmp_path / "sft_refined.jsonl", tmp_path / "rubrics.jsonl", KeywordJudge(), tmp_path, n_bootstrap=100)
    graded = {g["id"]: g for g in read_jsonl(tmp_path / "measure_graded.jsonl")}
    assert s["no_rubric"] == 1 and s["graded"] == 2
    assert graded["a"]["original"]["score"] == pytest.approx(-0.5) and graded["a"]["refined"]["score"] == pytest.approx(1.0)
    assert graded["b"]["original"]["score"] == 1.0 and graded["b"]["refined"]["score"] == 0.0
    assert s["overall"]["win_rate"] == 0.5 and s["per_facet"]["safety"]["win_rate"] == 1.0
    assert "axis:accuracy" in s["per_axis"] and (tmp_path / "measure.md").read_text().count("|") > 10
    assert set(load_rubrics(tmp_path / "rubrics.jsonl")) == {"a", "text:what is a normal pulse?"}


def test_refine_measure_command_uses_the_configured_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from heartgrpo.cli.app import app

    monkeypatch.setenv("REFINE_TEST_KEY", "x")
    write_jsonl(_rows(), tmp_path / "out" / "sft_refined.jsonl")
    write_jsonl([{"id": i, "rubrics": [{"criterion": "recheck", "points": 5, "tags": []}, {"criterion": "advice", "points": 5, "tags": []}]}
                 for i in ("a", "b")], tmp_path / "rubrics.jsonl")
    with LoopbackServer(grading_responder()) as server:
        cfg = {"name": "m", "model": {"name_or_path": "unused"},
               "judge": {"kind": "openai", "model": "grader", "base_url": server.base_url, "api_key_env": "REFINE_TEST_KEY"},
               "refine": {"out_dir": str(tmp_path / "out"), "rubrics": str(tmp_path / "rubrics.jsonl"), "n_bootstrap": 50}}
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
        result = CliRunner().invoke(app, ["refine", "--config", str(tmp_path / "c.yaml"), "--measure"])
        assert result.exit_code == 0, result.output
        assert len(server.requests) >= 4  # two answers x two rows, graded by the endpoint
    assert "win rate" in result.output and (tmp_path / "out" / "measure.json").is_file()
