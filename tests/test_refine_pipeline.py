"""The refine stage against loopback servers: faults end in the failure file, resume asks nothing twice,
the contamination guard drops a planted HealthBench-style prompt, facet and distillation switches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from heartgrpo.answer_format import follows_format
from heartgrpo.config.refine import RefineSettings
from heartgrpo.io.jsonl import read_jsonl, write_jsonl
from heartgrpo.io.loopback import LoopbackServer, Reply
from heartgrpo.refine.attributes import load_attributes
from heartgrpo.refine.pipeline import run_refine
from heartgrpo.refine.queries import drop_eval_overlaps, load_eval_prompts, query_item
from heartgrpo.refine.sampler import coverage, min_profiles, sample_profiles
from heartgrpo.refine.loopback import PLANTED_PROMPT, healthbench_fixture_row, query_text, refine_responder

ROOT = Path(__file__).resolve().parents[1]


def _settings(base_url: str, tmp: Path, **kw) -> RefineSettings:
    hb = tmp / "hb" / "fixture.jsonl"
    if not hb.exists():
        write_jsonl([healthbench_fixture_row()], hb)
    values = {"model": "writer", "base_url": base_url, "api_key_env": "REFINE_TEST_KEY", "n_queries": 12, "max_retries": 1,
              "max_attempts": 2, "replica_retry_after": 0.05, "max_concurrency": 4, "contamination_sources": ["sample", str(hb.parent)],
              "out_dir": tmp / "out", **kw}
    return RefineSettings(**values)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFINE_TEST_KEY", "x")


def test_every_query_ends_in_the_dataset_or_the_failure_file_with_its_reason(tmp_path: Path) -> None:
    with LoopbackServer(refine_responder()) as server:
        result = run_refine(_settings(server.base_url, tmp_path), progress=False)
        n_first = len(server.requests)
        rows, failed = read_jsonl(result.dataset), read_jsonl(result.failed)
        ids = [f"refine-3407-{k:05d}" for k in range(12)]
        assert sorted([r["id"] for r in rows] + [f["id"] for f in failed]) == ids  # each profile exactly once
        stage = {f["id"]: f["stage"] for f in failed}
        assert stage == {ids[2]: "critique", ids[3]: "answer", ids[4]: "refine", ids[5]: "query",
                         ids[6]: "contaminated", ids[7]: "near_duplicate"}
        reasons = {f["id"]: f["reason"] for f in failed}
        assert "truncated" in reasons[ids[3]] and "500" in reasons[ids[4]] and "fixture.jsonl:planted-0001" in reasons[ids[6]]
        assert "near_duplicate of " + ids[0] in reasons[ids[7]]
        # a malformed answer and a dropped connection were asked again and made it
        assert {ids[1], ids[8]} <= {r["id"] for r in rows}
        for r in rows:
            assert follows_format(r["completion"][0]["content"], "paper") and r["refined"]
            assert "Refined:" in r["completion"][0]["content"] and r["original"]["answer"].startswith("See a doctor")
            assert set(r["critique"]) == {"decision_making", "communication", "safety"}
            p = r["provenance"]
            assert p["models"]["answer"] == "writer" and p["prompts"]["critique"].startswith("critique_v1@") and not p["distilled"]
            assert set(r["attributes"]) == set(load_attributes().values)
        report = result.report
        assert report["counts"]["dropped_contaminated"] == 1 and report["counts"]["dropped_near_duplicate"] == 1
        assert report["coverage_profiles"]["uncovered"] == [] and (result.out_dir / "DATA_CARD.md").is_file()
        assert len(read_jsonl(result.out_dir / "questions.jsonl")) == 12 - 1 - 2  # a query failed, two dropped

        # a rerun asks only for what failed: no request about a query that is already a row
        run_refine(_settings(server.base_url, tmp_path), progress=False)
        again = server.requests[n_first:]
        asked = {k for k in range(12) if any(f"case{k} " in m["content"] or f"-{k:05d}" in m["content"] for q in again for m in q["messages"][1:])}
        assert asked == {2, 3, 4, 5}
        assert len(read_jsonl(result.dataset)) == len(rows)


def test_contamination_guard_drops_a_planted_healthbench_prompt(tmp_path: Path) -> None:
    write_jsonl([healthbench_fixture_row()], tmp_path / "hb" / "rows.jsonl")
    evals, found = load_eval_prompts(["sample", str(tmp_path / "hb"), str(tmp_path / "absent")])
    assert found[str(tmp_path / "hb")] == 1 and found[str(tmp_path / "absent")] == "absent" and found["sample"] > 0
    reworded = "Since this morning my father, who is 71, has had crushing pressure in the middle of his chest that spreads to his left arm, he is sweating"
    items = [query_item("a", query_text(3), {}), query_item("b", PLANTED_PROMPT, {}), query_item("c", reworded, {})]
    kept, dropped = drop_eval_overlaps(items, evals)
    assert [i["id"] for i in kept] == ["a"] and {d["id"] for d in dropped} == {"b", "c"}


def test_sampler_is_stratified_seeded_and_covers_every_value() -> None:
    spec = load_attributes()
    n = min_profiles(spec)
    for seed in (0, 1, 2):
        report = coverage(sample_profiles(spec, n + 3, seed), spec)
        assert report["uncovered"] == []
        for counts in report["counts"].values():
            assert max(counts.values()) - min(counts.values()) <= 1
    assert sample_profiles(spec, 20, 1) != sample_profiles(spec, 20, 2)
    with pytest.raises(ValueError, match="at least"):
        sample_profiles(spec, n - 1)


def test_facet_switches_and_distillation(tmp_path: Path) -> None:
    teacher_seen: list[str] = []

    def teacher(request: dict, index: int) -> Reply:
        teacher_seen.append(request["model"])
        return Reply(json.dumps({"reasoning": "Teacher reasoning.", "answer": "Teacher answer about the heart."}))

    with LoopbackServer(refine_responder(faults=False)) as server, LoopbackServer(teacher) as big:
        s = _settings(server.base_url, tmp_path / "a", n_queries=10, facets={"communication": False},
                      distill=True, teacher={"model": "big", "base_url": big.base_url, "api_key_env": "REFINE_TEST_KEY"})
        rows = read_jsonl(run_refine(s, progress=False).dataset)
        assert len(rows) == 10 and len(teacher_seen) == 10 and set(teacher_seen) == {"big"}
        assert not any(q["messages"][0]["content"].startswith("You are a careful medical assistant answering") for q in server.requests)
        assert all(set(r["critique"]) == {"decision_making", "safety"} and r["original"]["answer"].startswith("Teacher") for r in rows)
        assert rows[0]["provenance"]["models"]["answer"] == "big" and rows[0]["provenance"]["distilled"]

        n = len(server.requests)
        off = _settings(server.base_url, tmp_path / "b", n_queries=10, facets={"decision_making": False, "communication": False, "safety": False})
        rows = read_jsonl(run_refine(off, progress=False).dataset)
        assert len(rows) == 10 and not any(r["refined"] or r["critique"] for r in rows)
        assert len(server.requests) - n == 20  # a query and an answer each: no critique, no refinement asked
        assert not any(q["messages"][0]["content"].startswith(("You review", "You are a careful medical assistant. You are given"))
                       for q in server.requests[n:])


def test_a_killed_run_resumes_without_asking_twice(tmp_path: Path) -> None:
    with LoopbackServer(refine_responder(faults=False, delay=0.03)) as server:
        cfg = {"name": "refine-kill", "model": {"name_or_path": "unused"},
               "refine": {"model": "writer", "base_url": server.base_url, "api_key_env": "REFINE_TEST_KEY", "n_queries": 12,
                          "max_concurrency": 1, "out_dir": str(tmp_path / "out"), "contamination_sources": []}}
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", "heartgrpo", "refine", "--config", str(tmp_path / "c.yaml"), "--no-progress"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(server.requests) < 25 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()  # reaps it and closes its stderr pipe
        killed_at = len(server.requests)
        assert 25 <= killed_at < 12 * 4  # mid-run: a full run asks 4 times per query
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        bodies = [json.dumps(q["messages"], sort_keys=True) for q in server.requests]
        assert len(bodies) - len(set(bodies)) <= 1  # only the request in flight at the kill is asked again
        assert len(set(bodies)) == 12 * 4
        assert len(read_jsonl(tmp_path / "out" / "sft_refined.jsonl")) == 12 and read_jsonl(tmp_path / "out" / "failed.jsonl") == []


def test_a_rerun_with_other_settings_or_a_wrong_key_stops_with_the_reason(tmp_path: Path) -> None:
    with LoopbackServer(refine_responder(faults=False)) as server:
        run_refine(_settings(server.base_url, tmp_path, n_queries=10), progress=False)
        with pytest.raises(ValueError, match="built with other settings"):
            run_refine(_settings(server.base_url, tmp_path, n_queries=10, facets={"safety": False}), progress=False)
        # a query that an earlier run kept but a new contamination source now flags leaves the dataset
        rows = read_jsonl(tmp_path / "out" / "sft_refined.jsonl")
        write_jsonl([{"prompt_id": "p", "prompt": rows[0]["prompt"][-1:]}], tmp_path / "hb" / "more.jsonl")
        result = run_refine(_settings(server.base_url, tmp_path, n_queries=10), progress=False)
        assert rows[0]["id"] not in {r["id"] for r in read_jsonl(result.dataset)}
        assert {f["id"]: f["stage"] for f in read_jsonl(result.failed)} == {rows[0]["id"]: "contaminated"}

    with LoopbackServer(lambda req, i: Reply(status=401, body={"error": {"message": "bad key"}})) as denied:
        with pytest.raises(Exception, match="401"):
            run_refine(_settings(denied.base_url, tmp_path / "denied", n_queries=10), progress=False)
        assert len(denied.requests) <= 4  # a wrong key ends the run at once (at most one request in flight per slot)
