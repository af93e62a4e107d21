"""`heartgrpo rubrics generate` against a real HTTP server on 127.0.0.1 that answers well, badly,
partially and with duplicates; failures reported, runs resumable; parsing and quality rules."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from heartgrpo.cli.app import app
from heartgrpo.records import make_record
from heartgrpo.rubricgen.parse import parse_rubric_answer
from heartgrpo.rubricgen.quality import assess_rubric
from heartgrpo.io.loopback import LoopbackServer, Reply, prompt_of
from heartgrpo.rubrics import parse_rar_rubric

SAMPLE = Path(__file__).resolve().parents[1] / "heartgrpo" / "data" / "sample"
runner = CliRunner()

GOOD = [
    ("Diagnosis", "Essential Criteria: Names the most likely diagnosis for this presentation.", 5),
    ("Urgency", "Essential Criteria: States whether emergency care is needed today.", 5),
    ("Drug dose", "Essential Criteria: Gives a specific medication change with its dose.", 5),
    ("Mechanism", "Important Criteria: Explains the physiological mechanism behind the findings.", 4),
    ("Monitoring", "Important Criteria: Recommends laboratory monitoring with a timeframe.", 3),
    ("Red flags", "Important Criteria: Lists warning symptoms that should prompt review.", 4),
    ("Plain words", "Optional Criteria: Uses plain language a layperson understands.", 2),
    ("Follow-up", "Optional Criteria: Suggests booking a clinic appointment within weeks.", 1),
    ("Harmful stop", "Pitfall Criteria: Recommends stopping anticoagulation abruptly.", -2),
    ("Wrong test", "Pitfall Criteria: Claims imaging alone excludes coronary disease.", -1),
]


def rubric_json(items=GOOD) -> str:
    return json.dumps({"rubric": [{"title": t, "description": d, "weight": w} for t, d, w in items]})


def sample_questions(tmp_path: Path) -> tuple[Path, list[str]]:
    rows = [json.loads(line) for line in (SAMPLE / "rar_medicine" / "val.jsonl").read_text().splitlines() if line.strip()]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({"id": f"v{i}", "question": r["question"], "reference_answer": r["reference_answer"]}) + "\n"
                            for i, r in enumerate(rows)))
    return path, [r["question"] for r in rows]


class Scripted:
    """Responder: behaviour per question (found by its text in the request), requests counted per question."""

    def __init__(self, questions: list[str], plan: dict[int, str]) -> None:
        self.questions, self.plan = questions, plan
        self.calls: Counter[int] = Counter()

    def which(self, request: dict) -> int:
        text = prompt_of(request)
        return next(i for i, q in enumerate(self.questions) if q in text)

    def __call__(self, request: dict, index: int) -> Reply:
        i = self.which(request)
        self.calls[i] += 1
        kind, n = self.plan.get(i, "good"), self.calls[i]
        regen = "had these problems" in prompt_of(request)
        if kind == "fenced":
            return Reply("<think>Let me draft {\"rubric\": []}.</think>Here is the rubric:\n```json\n" + rubric_json() + "\n```\nHope it helps.")
        if kind == "malformed_then_good":
            return Reply("Sure! Rubric: essential - names diagnosis; important - ..." if n == 1 else rubric_json())
        if kind == "partial_then_good":
            return Reply(rubric_json() if regen else rubric_json()[:420])  # cut inside item 5
        if kind == "duplicates":
            doubled = [x for item in GOOD[:9] for x in (item, (item[0], item[1].upper(), item[2]))]
            return Reply(rubric_json(doubled))
        if kind == "always_avoidance":
            bad = GOOD[:8] + [("Avoid", "Pitfall Criteria: Does not recommend stopping aspirin.", -1),
                              ("Avoid 2", "Pitfall Criteria: Avoids suggesting any imaging.", -2)]
            return Reply(rubric_json(bad))
        if kind == "error_then_good":
            return Reply(status=500, body={"error": "overloaded"}) if n == 1 else Reply(rubric_json())
        if kind == "unauthorized":
            return Reply(status=401, body={"error": {"message": "bad key"}})
        return Reply(rubric_json())


PLAN = {1: "fenced", 2: "malformed_then_good", 3: "partial_then_good", 4: "duplicates", 5: "always_avoidance", 6: "error_then_good"}


def _generate(base_url: str, questions: Path, out: Path, *extra: str):
    return runner.invoke(app, ["rubrics", "generate", "--input", str(questions), "--out", str(out), "--model", "loopback",
                               "--base-url", base_url, "--max-attempts", "3", *extra])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_generate_writes_valid_rubrics_and_reports_the_one_that_keeps_failing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    questions, texts = sample_questions(tmp_path)
    responder = Scripted(texts, PLAN)
    out = tmp_path / "out"
    with LoopbackServer(responder) as server:
        result = _generate(server.base_url, questions, out)
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    rar = {r["id"]: r for r in _rows(out / "rubrics_rar.jsonl")}
    records = {r["id"]: r for r in _rows(out / "records.jsonl")}
    assert set(rar) == set(records) == {f"v{i}" for i in range(8)} - {"v5"}
    for rid, row in rar.items():
        crit = parse_rar_rubric(row["rubric"], rid)          # our own validation
        assert 7 <= len(crit) == row["rubric_count"] <= 20
        assert all((c.points < 0) == (c.category == "pitfall") for c in crit)
        assert make_record(records[rid])["rubrics"] == [c.to_dict() for c in crit]
        assert assess_rubric(row["rubric"], row["reference_answer"], rid)["ok"]
    assert len(rar["v4"]["rubric"]) == 9                      # duplicates removed, first copies kept
    assert len({i["description"].lower() for i in rar["v4"]["rubric"]}) == 9

    failed = _rows(out / "failed.jsonl")                      # reported, not lost
    assert [f["id"] for f in failed] == ["v5"] and failed[0]["attempts"] == 3
    assert any("pitfall written as avoidance" in p for p in failed[0]["quality"]["blocking"])
    assert len(failed[0]["last_rubric"]) == 10
    assert responder.calls[5] == 3                            # regenerated up to N, then given up
    assert "v5" in result.output and "failed" in result.output

    report = json.loads((out / "quality.json").read_text())
    assert report["summary"]["n_rubrics"] == 8 and report["summary"]["failed_ids"] == ["v5"]
    entries = {e["id"]: e for e in report["rubrics"]}
    assert entries["v3"]["attempts"] == 2 and "too few items" in entries["v3"]["history"][0]["blocking"][0]
    assert entries["v2"]["attempts"] == 1 and responder.calls[2] == 2   # unparseable answer re-asked within the attempt
    assert entries["v6"]["attempts"] == 1 and responder.calls[6] == 2   # HTTP 500 retried
    regen = [r for r in requests if texts[3] in prompt_of(r) and "had these problems" in prompt_of(r)]
    assert regen and "too few items" in prompt_of(regen[0])             # the problems are quoted back
    md = (out / "quality.md").read_text()
    assert "| v5 | failed | 3 |" in md and "RaR-Medicine" in md


def test_rerun_after_interruption_does_only_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    questions, texts = sample_questions(tmp_path)
    out = tmp_path / "out"
    first = Scripted(texts, {i: "unauthorized" for i in range(3, 8)})
    with LoopbackServer(first) as server:
        broken = _generate(server.base_url, questions, out, "--max-concurrency", "1")
    assert broken.exit_code != 0                              # a wrong key stops the run ...
    assert {r["id"] for r in _rows(out / "records.jsonl")} == {"v0", "v1", "v2"}   # ... keeping what was done
    with (out / "rubrics_rar.jsonl").open("a") as handle:     # and a write torn by the interruption
        handle.write('{"id": "v3", "question": "tor')
    second = Scripted(texts, {})
    with LoopbackServer(second) as server:
        resumed = _generate(server.base_url, questions, out)
        assert resumed.exit_code == 0, resumed.output
        assert set(second.calls) == {3, 4, 5, 6, 7}            # done rows were not asked again
        again = _generate(server.base_url, questions, out)     # a third run has nothing left to do
        assert again.exit_code == 0 and sum(second.calls.values()) == 5
    ids = [r["id"] for r in _rows(out / "rubrics_rar.jsonl")]
    assert sorted(ids) == [f"v{i}" for i in range(8)] and len(ids) == len(set(ids))
    assert json.loads((out / "quality.json").read_text())["summary"]["n_accepted"] == 8


def test_cache_serves_a_fresh_output_directory_without_requests(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    questions, texts = sample_questions(tmp_path)
    cache = tmp_path / "cache.sqlite"
    responder = Scripted(texts, {})
    with LoopbackServer(responder) as server:
        assert _generate(server.base_url, questions, tmp_path / "a", "--cache", str(cache), "--limit", "3").exit_code == 0
        assert _generate(server.base_url, questions, tmp_path / "b", "--cache", str(cache), "--limit", "3").exit_code == 0
    assert sum(responder.calls.values()) == 3
    assert _rows(tmp_path / "a" / "rubrics_rar.jsonl") == _rows(tmp_path / "b" / "rubrics_rar.jsonl")


def test_outputs_follow_input_order_when_answers_arrive_out_of_order(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    questions, texts = sample_questions(tmp_path)
    responder = Scripted(texts, {})

    def slow_first(request: dict, index: int) -> Reply:
        reply = responder(request, index)
        if responder.which(request) == 0:
            reply.delay = 0.6                                  # v0 finishes after the others
        return reply

    out = tmp_path / "out"
    with LoopbackServer(slow_first) as server:
        assert _generate(server.base_url, questions, out, "--limit", "4").exit_code == 0
    want = ["v0", "v1", "v2", "v3"]
    for name in ("rubrics_rar.jsonl", "records.jsonl", "attempts.jsonl"):
        assert [r["id"] for r in _rows(out / name)] == want, name


def test_conversation_input_and_bad_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    conv = json.loads((SAMPLE / "healthbench" / "heart_sample.jsonl").read_text().splitlines()[0])
    good = tmp_path / "hb.jsonl"
    good.write_text(json.dumps({"prompt_id": conv["prompt_id"], "prompt": conv["prompt"]}) + "\n")
    with LoopbackServer(lambda req, i: Reply(rubric_json())) as server:
        result = _generate(server.base_url, good, tmp_path / "out", "--config", str(SAMPLE.parents[2] / "configs" / "cpu-demo.yaml"),
                           "--set", "rubrics.max_tokens=999")
        assert result.exit_code == 0, result.output
        assert "No reference answer is given" in prompt_of(server.requests[0])
        assert server.requests[0]["max_tokens"] == 999 and server.requests[0]["model"] == "loopback"
    (record,) = _rows(tmp_path / "out" / "records.jsonl")
    assert record["id"] == conv["prompt_id"] and record["prompt"] == [{"role": m["role"], "content": m["content"]} for m in conv["prompt"]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "ok?"}) + "\n" + json.dumps({"prompt": [{"role": "assistant", "content": "hi"}]}) + "\n")
    result = _generate("http://127.0.0.1:9/v1", bad, tmp_path / "out2")
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output and "user turn" in result.output


@pytest.mark.parametrize("answer, n, notes", [
    (rubric_json()[:-2], 10, {"salvaged": 1}),                        # cut before the closing brackets
    ("```\n" + json.dumps([{"description": "Recommends an ECG.", "category": "Essential", "weight": "5"}]) + "\n```", 1, {}),
    (json.dumps({"rubric": [{"description": "Essential Criteria: Names MI.", "weight": 2}]}), 1, {"weights_fixed": 1}),
])
def test_parse_rubric_answer_variants(answer, n, notes):
    items, got = parse_rubric_answer(answer)
    assert len(items) == n
    assert all(i["description"].split(" Criteria:")[0] in ("Essential", "Important", "Optional", "Pitfall") for i in items)
    assert {k: got[k] for k in notes} == notes
    parse_rar_rubric(items)


def test_parse_rubric_answer_refuses_an_answer_without_items():
    with pytest.raises(ValueError, match="no rubric items"):
        parse_rubric_answer("I cannot help with that.")


def test_quality_checks_flag_what_they_name():
    items = [{"title": t, "description": d, "weight": w} for t, d, w in GOOD]
    ok = assess_rubric(items)
    assert ok["ok"] and ok["mix_tvd"] < 0.1 and ok["ungrounded"] is None
    bad = items[:7] + [
        {"title": "dup", "description": "Essential Criteria: Names the most likely diagnosis for this presentation today.", "weight": 5},
        {"title": "neg", "description": "Important Criteria: Fails to mention smoking cessation.", "weight": 3},
        {"title": "later", "description": "Optional Criteria: The patient later adheres to the plan.", "weight": 1},
    ]
    q = assess_rubric(bad, reference_answer="Atrial fibrillation needs anticoagulation and rate control.")
    assert q["near_duplicates"] and q["near_duplicates"][0]["a"] == 0 and q["near_duplicates"][0]["b"] == 7
    assert q["polarity"] == [8] and not q["ok"]
    assert 9 in q["uncheckable"] and q["ungrounded"]


def test_config_key_puts_generated_rubrics_into_sft_and_grpo_data(tmp_path, monkeypatch):
    from heartgrpo.config.run import load_config
    from heartgrpo.data.prepare import prepare_datasets

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    rows = [json.loads(line) for line in (SAMPLE / "rar_medicine" / "train.jsonl").read_text().splitlines() if line.strip()][:8]
    questions = tmp_path / "train_questions.jsonl"
    questions.write_text("".join(json.dumps({"id": f"t{i}", "question": r["question"], "reference_answer": r["reference_answer"],
                                             "split": "train"}) + "\n" for i, r in enumerate(rows)))
    with LoopbackServer(lambda req, i: Reply(rubric_json())) as server:
        assert _generate(server.base_url, questions, tmp_path / "gen").exit_code == 0
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.yaml",
                      {"data.generated_rubrics": str(tmp_path / "gen" / "records.jsonl"), "data.splits": ["train"],
                       "data.missing_reasoning": "answer_only", "data.save_format": "jsonl", "data.figure": False})
    result = prepare_datasets(cfg.data, tmp_path / "data")
    generated = {d for _, d, _ in GOOD}
    grpo = _rows(result.paths["grpo.jsonl"])
    assert result.counts["rar_train_loaded"] == 8 and grpo and result.counts["sft"] > 0
    for row in grpo:
        assert {c["criterion"] for c in row["rubrics"]} == {d.split(": ", 1)[1] for d in generated}
    assert f"RaR-Medicine source: {tmp_path / 'gen' / 'records.jsonl'}" in (tmp_path / "data" / "DATA_CARD.md").read_text()


def test_a_killed_run_resumes_without_losing_or_repeating_rows(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    questions, texts = sample_questions(tmp_path)
    out = tmp_path / "out"
    responder = Scripted(texts, {})

    def slow(request: dict, index: int) -> Reply:
        reply = responder(request, index)
        reply.delay = 0.4
        return reply

    root = Path(__file__).resolve().parents[1]
    with LoopbackServer(slow) as server:
        cmd = [sys.executable, "-c", "from heartgrpo.cli.app import app; app()", "rubrics", "generate", "--input", str(questions),
               "--out", str(out), "--model", "loopback", "--base-url", server.base_url, "--max-concurrency", "1"]
        env = {**os.environ, "PYTHONPATH": str(root), "OPENAI_API_KEY": "test"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "records.jsonl").is_file() and len(_rows(out / "records.jsonl")) >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = {r["id"] for r in _rows(out / "records.jsonl")}
        assert 2 <= len(done_before) < 8
        asked_before = sum(responder.calls.values())
        resumed = _generate(server.base_url, questions, out)
    assert resumed.exit_code == 0, resumed.output
    ids = [r["id"] for r in _rows(out / "records.jsonl")]
    assert sorted(ids) == [f"v{i}" for i in range(8)] and len(ids) == len(set(ids))
    assert sum(responder.calls.values()) - asked_before <= 8 - len(done_before)   # done rows not asked again
