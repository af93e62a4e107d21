"""The pass@k prefilter: classification of prompts from k judged answers, the report, data.filter,
and `heartgrpo filter` from the command line on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heartgrpo.config.run import config_from_dict
from heartgrpo.config.data import grpo_source
from heartgrpo.data.filter import filter_prompts, write_filter_report
from heartgrpo.io.jsonl import read_jsonl, write_jsonl
from heartgrpo.judge import Verdict

RUBRIC = [{"criterion": "Says call", "points": 5, "tags": []}, {"criterion": "Says ecg", "points": 3, "tags": []},
          {"criterion": "Says heartburn", "points": -2, "tags": []}]


class KeywordJudge:
    """Criterion met when its last word is a word of the response."""

    id = "keyword"

    async def grade(self, prompt, response, rubrics):
        return [Verdict(c["criterion"].split()[-1] in response.split(), "keyword") for c in rubrics]


class ScriptedPolicy:
    """Answers each prompt with its script, one answer per repeat, in order (what the prompt's k
    samples would be)."""

    model_id = "scripted"
    settings = {"temperature": 1.0}

    def __init__(self, scripts: dict[str, list[str]]) -> None:
        self.scripts = scripts
        self.calls: list[int] = []

    def generate(self, prompts):
        self.calls.append(len(prompts))
        seen: dict[str, int] = {}
        out = []
        for p in prompts:
            q = p[-1]["content"]
            out.append(self.scripts[q][seen.get(q, 0)])
            seen[q] = seen.get(q, 0) + 1
        return out


def _row(q: str) -> dict:
    return {"id": q, "prompt": [{"role": "user", "content": q}], "rubrics": RUBRIC, "reference_answer": "x"}


def test_prompts_are_classified_from_their_k_rewards_and_reported(tmp_path: Path):
    scripts = {
        "solved": ["call ecg", "call ecg", "call ecg"],             # 8/8 each: mean 1 > 0.9
        "hopeless": ["heartburn", "nothing", "heartburn"],          # -2/8, 0, -2/8: mean < 0.05
        "flat": ["call", "call", "call"],                           # 5/8 three times
        "useful": ["call", "call ecg", "ecg heartburn"],            # 5/8, 1, 1/8
    }
    policy = ScriptedPolicy(scripts)
    rows = [_row(q) for q in scripts]
    result = filter_prompts(rows, policy, KeywordJudge(), k=3, batch_size=6)
    assert policy.calls == [6, 6]  # 2 prompts x k=3 per generation call
    status = {p["id"]: p["status"] for p in result.prompts}
    assert status == {"solved": "mastered", "hopeless": "hopeless", "flat": "zero_variance", "useful": "kept"}
    assert [r["id"] for r in result.kept_rows] == ["useful"]
    by_id = {p["id"]: p for p in result.prompts}
    assert by_id["useful"]["rewards"] == pytest.approx([5 / 8, 1.0, 1 / 8])
    # per item: "solved" meets both positives and avoids the pitfall in all 3 answers
    assert by_id["solved"]["satisfied_by_all"] == ["Says call", "Says ecg", "Says heartburn"]
    assert by_id["flat"]["satisfied_by_all"] == ["Says call", "Says heartburn"] and by_id["flat"]["satisfied_by_none"] == ["Says ecg"]
    assert by_id["useful"]["satisfied_by_all"] == []

    paths = write_filter_report(result, tmp_path / "f")
    assert [r["id"] for r in read_jsonl(paths["kept"])] == ["useful"]
    report = json.loads(paths["json"].read_text())
    assert report["counts"] == {"kept": 1, "unjudged": 0, "mastered": 1, "hopeless": 1, "zero_variance": 1}
    assert report["items"] == {"n": 12, "satisfied_by_all_k": 5, "satisfied_by_none": 3}  # flat: ecg; hopeless: call, ecg
    md = paths["md"].read_text()
    assert "1 of 4 prompts kept" in md and "| flat | zero_variance | 0.625 | 0.000 | 2 / 3 |" in md

    cfg = config_from_dict({"name": "t", "output_dir": str(tmp_path / "run"), "model": {"name_or_path": "x"},
                            "data": {"filter": str(tmp_path / "f")}})
    assert grpo_source(cfg) == paths["kept"]  # data.filter selects the kept prompts
    assert grpo_source(config_from_dict({"name": "t", "output_dir": str(tmp_path / "run"), "model": {"name_or_path": "x"}})) \
        == tmp_path / "run" / "data" / "grpo.jsonl"
    missing = config_from_dict({"name": "t", "model": {"name_or_path": "x"}, "data": {"filter": str(tmp_path / "nowhere.jsonl")}})
    with pytest.raises(FileNotFoundError, match="heartgrpo filter"):
        grpo_source(missing)


def test_failed_verdicts_leave_a_prompt_unjudged_and_kept():
    class Down:
        async def grade(self, prompt, response, rubrics):
            return [Verdict.failed("connection refused") for _ in rubrics]

    result = filter_prompts([_row("q")], ScriptedPolicy({"q": ["a", "b"]}), Down(), k=2)
    assert result.prompts[0]["status"] == "unjudged" and result.prompts[0]["rewards"] == [None, None]
    assert len(result.kept_rows) == 1
    with pytest.raises(ValueError, match="rating"):
        filter_prompts([_row("q")], ScriptedPolicy({"q": ["a", "b"]}), KeywordJudge(), k=2, strategy="rar_implicit")


@pytest.mark.slow
def test_heartgrpo_filter_runs_from_the_command_line_on_a_tiny_model(tiny_qwen3: Path, tmp_path: Path):
    import yaml
    from typer.testing import CliRunner

    from heartgrpo.cli.app import app

    run = tmp_path / "run"
    write_jsonl([_row(f"Chest pain question {i}?") for i in range(3)], run / "data" / "grpo.jsonl")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "t", "output_dir": str(run), "model": {"name_or_path": str(tiny_qwen3), "backend": "hf"},
                                      "judge": {"kind": "approximate"}, "eval": {"batch_size": 6},
                                      "orbit": {"filter": {"k": 3, "max_new_tokens": 8}}}))
    res = CliRunner().invoke(app, ["filter", "--config", str(config)])
    assert res.exit_code == 0, res.output
    report = json.loads((run / "filter" / "filter.json").read_text())
    assert report["n_prompts"] == 3 and sum(report["counts"].values()) == 3
    assert all(len(p["answers"]) == 3 and len(p["rewards"]) == 3 for p in report["prompts"])
    assert report["settings"]["judge_approximate"] is True and "data.filter=" in res.output
    kept = read_jsonl(run / "filter" / "kept.jsonl")
    assert [r["id"] for r in kept] == [p["id"] for p in report["prompts"] if p["status"] in ("kept", "unjudged")]
