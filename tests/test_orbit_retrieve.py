"""Retrieved rubric exemplars: the target and every eval-split row are never retrieved; the ORBIT
prompt's rubrics, written by a real HTTP server on 127.0.0.1, parse on HealthBench's scale and pass
`rubrics check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from heartgrpo.cli.app import app
from heartgrpo.data.rubric_pool import build_pool, default_pool, load_pool
from heartgrpo.rubricgen.retrieve import RubricRetriever, text_key, write_pool
from heartgrpo.io.jsonl import read_jsonl, write_jsonl
from heartgrpo.io.loopback import LoopbackServer, Reply, prompt_of

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / ".." / "shared" / "data" / "healthbench"
SAMPLE_TRAIN = ROOT / "heartgrpo" / "data" / "sample" / "rar_medicine" / "train.jsonl"


def _hb_row(pid: str, text: str, criteria: list[tuple[str, int]]) -> dict:
    return {"prompt_id": pid, "prompt": [{"role": "user", "content": text}],
            "rubrics": [{"criterion": c, "points": p, "tags": []} for c, p in criteria]}


def _hb_dir(tmp_path: Path) -> Path:
    """HealthBench-format files written for this test (dev and eval), not real rows."""
    d = tmp_path / "hb"
    write_jsonl([_hb_row("dev-1", "My heart races after coffee, is that dangerous?", [("Asks about fainting", 5), ("Mentions caffeine limits", 3)]),
                 _hb_row("dev-2", "Swollen ankles and breathless lying flat", [("Raises heart failure", 8), ("Says it is nothing", -6)])],
                d / "hard_rebuilt_dev.jsonl")
    write_jsonl([_hb_row("eval-1", "My heart races after coffee and I felt faint", [("EVAL ITEM never shown", 5)])],
                d / "hard_rebuilt_eval.jsonl")
    write_jsonl([_hb_row("eval-2", "Heart racing with coffee", [("EVAL ITEM consensus", 5)])], d / "consensus_eval.jsonl")
    return d


def test_eval_rows_never_enter_the_pool_or_the_retrieved_exemplars(tmp_path: Path):
    pool = build_pool(SAMPLE_TRAIN, _hb_dir(tmp_path))
    assert {c["source"] for c in pool} == {"rar-medicine", "healthbench:hard_rebuilt_dev.jsonl"}
    assert not [c for c in pool if c["id"].startswith("eval-")]
    r = RubricRetriever(pool + [{"id": "e", "split": "eval", "question": "heart racing coffee faint", "rubrics": [
        {"criterion": "EVAL ITEM given directly", "points": 5, "tags": []}]}])
    found = r.retrieve("My heart races after coffee and I felt faint")
    assert found.cases[0]["id"] == "dev-1"  # the nearest training/dev case
    shown = [x["criterion"] for x in found.items] + [x["criterion"] for c in found.examples for x in c["rubrics"]]
    assert shown and not [s for s in shown if "EVAL ITEM" in s]
    with pytest.raises(ValueError, match="evaluation file"):
        build_pool(ROOT / "heartgrpo" / "data" / "sample" / "rar_medicine" / "test.jsonl")


def test_the_target_is_never_retrieved_by_id_text_or_near_copy(tmp_path: Path):
    pool = build_pool(SAMPLE_TRAIN, _hb_dir(tmp_path))
    r = RubricRetriever(pool)
    for target in pool:
        for question, tid in ((target["question"], target["id"]),            # itself
                              (target["question"], "another-id"),             # the same text under another id
                              ("  " + target["question"].upper() + " ", None),  # case and spacing changed
                              (target["question"] + " Thanks.", None)):         # a near copy (cosine >= 0.95)
            found = r.retrieve(question, target_id=tid)
            assert target["id"] not in {c["id"] for c in found.cases} | {x["case"] for x in found.items}, (target["id"], question[:40])
    found = r.retrieve(pool[0]["question"], target_id=pool[0]["id"])
    assert len(found.cases) == 10 and len(found.examples) == 3 and len(found.items) == 15
    sims = [x["similarity"] for x in found.items]
    assert sims == sorted(sims, reverse=True)  # reranked by similarity to the target
    first50 = [(c["id"], x["criterion"]) for c in found.cases for x in c["rubrics"]][:50]
    assert all((x["case"], x["criterion"]) in first50 for x in found.items)  # items come from the 50 of the 10 cases


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/healthbench is absent")
def test_the_default_pool_holds_no_conversation_of_the_eval_split():
    pool = default_pool(ROOT)
    assert any(c["source"].startswith("healthbench") for c in pool)
    eval_keys = {text_key("\n\n".join(m["content"] for m in row["prompt"] if m["role"] == "user"))
                 for name in ("hard_rebuilt_eval.jsonl", "consensus_eval.jsonl") for row in read_jsonl(REAL / name)}
    assert not eval_keys & {c["key"] for c in pool}  # an aggregate check: no eval row is read for anything else
    r = RubricRetriever(pool)
    dev = [c for c in pool if c["split"] == "dev"][:25]
    for target in dev:
        found = r.retrieve(target["question"], target_id=target["id"])
        assert target["id"] not in {c["id"] for c in found.cases}


ORBIT_RUBRIC = [
    ("Urgent care", "Essential Criteria: Advises same-day assessment because fainting with palpitations can signal an arrhythmia.", 9, "accuracy"),
    ("Caffeine", "Important Criteria: Suggests cutting caffeine to see whether the palpitations settle.", 5, "completeness"),
    ("Red flags", "Essential Criteria: Lists chest pain, fainting or breathlessness as reasons to call emergency services.", 8, "accuracy"),
    ("Context", "Important Criteria: Asks about medicines and other stimulants taken.", 4, "context_awareness"),
    ("ECG", "Important Criteria: Recommends an ECG recorded during or soon after an episode.", 6, "completeness"),
    ("Plain words", "Optional Criteria: Explains what a palpitation is in plain words.", 2, "communication_quality"),
    ("Format", "Optional Criteria: Keeps the answer short as the user asked.", 3, "instruction_following"),
    ("Reassure wrongly", "Pitfall Criteria: Calls the symptoms harmless without asking about fainting.", -7, "accuracy"),
    ("Drive", "Pitfall Criteria: Recommends driving to hospital alone after fainting.", 12, "accuracy"),
]


def test_generate_with_exemplars_against_a_loopback_server_passes_rubrics_check(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    pool_path = write_pool(build_pool(SAMPLE_TRAIN, _hb_dir(tmp_path)), tmp_path / "pool.jsonl")
    questions = tmp_path / "q.jsonl"
    target = "My heart races after coffee, is that dangerous?"  # the text of pool case dev-1, under another id
    write_jsonl([{"id": "new-1", "question": target}], questions)
    body = json.dumps({"rubric": [{"title": t, "description": d, "points": p, "axis": a} for t, d, p, a in ORBIT_RUBRIC]})
    with LoopbackServer(lambda req, i: Reply(body)) as server:
        res = CliRunner().invoke(app, ["rubrics", "generate", "--input", str(questions), "--out", str(tmp_path / "out"),
                                       "--model", "loopback", "--base-url", server.base_url, "--exemplars", str(pool_path)])
        assert res.exit_code == 0, res.output
        request = server.requests[0]
    system, user = request["messages"][0]["content"], prompt_of(request)
    assert "-10 to 10" in system and "Fails to" in system  # the ORBIT prompt, not the RaR one
    assert "EXAMPLE 1" in user and "CANDIDATE ITEMS" in user
    found = RubricRetriever(load_pool(pool_path)).retrieve(target, target_id="new-1")
    assert all(c["rubrics"][0]["criterion"] in user for c in found.examples)  # the nearest cases are shown ...
    assert all(x["criterion"] in user for x in found.items)
    assert "Asks about fainting" not in user and "Mentions caffeine limits" not in user  # ... the target's own never
    assert "EVAL ITEM" not in user

    record = read_jsonl(tmp_path / "out" / "records.jsonl")[0]
    points = [c["points"] for c in record["rubrics"]]
    assert points == [9, 5, 8, 4, 6, 2, 3, -7, -10]  # HealthBench scale kept; the positive "pitfall" snapped to -10
    assert "axis:context_awareness" in record["rubrics"][3]["tags"]
    assert "hard_rebuilt_dev.jsonl | dev | 2 |" in (tmp_path / "out" / "exemplar_pool.md").read_text()  # the pool is listed
    assert record["rubric_generator"]["prompt"].startswith("rubric_gen_orbit_v1@") and "+pool@" in record["rubric_generator"]["prompt"]
    res = CliRunner().invoke(app, ["rubrics", "check", "--input", str(tmp_path / "out" / "rubrics_rar.jsonl"), "--out", str(tmp_path / "check")])
    assert res.exit_code == 0, res.output
    quality = json.loads((tmp_path / "check" / "quality.json").read_text())
    assert quality["summary"]["n_accepted"] == 1 and quality["summary"]["n_failed"] == 0
    assert load_pool(pool_path)[0]["rubrics"] == build_pool(SAMPLE_TRAIN)[0]["rubrics"]
