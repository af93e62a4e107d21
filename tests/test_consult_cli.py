"""``heartgrpo consult`` against a loopback doctor, and ``heartgrpo cases generate`` against a
loopback writer (an invalid card first: regenerated with the problem quoted back)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from heartgrpo.cli.app import app
from heartgrpo.consult.cards import EXAMPLE_CARD, load_cards
from heartgrpo.io.loopback import LoopbackServer, Reply

runner = CliRunner()


def test_consult_runs_an_episode_against_an_endpoint(monkeypatch) -> None:
    monkeypatch.setenv("LOOPBACK_KEY", "x")
    turns = iter(["Are you allergic to any medicines?", "Do you live alone?",
                  "Call an ambulance now, do not take aspirin, and unlock the door."])
    with LoopbackServer(lambda req, i: Reply(next(turns))) as server:
        out = runner.invoke(app, ["consult", "--case", "cp-stemi-aspirin-allergy", "--model", "doc", "--base-url", server.base_url,
                                  "--api-key-env", "LOOPBACK_KEY"])
        first = server.requests[0]["messages"]
    assert out.exit_code == 0, out.output
    assert "patient> Aspirin gives me a rash" in out.output and "patient> My wife is at work" in out.output
    assert first[0]["role"] == "system" and first[1]["content"].startswith("My chest has been feeling heavy")
    assert "doctor questions" in out.output and "aspirin_allergy, alone" in out.output
    assert "onset, radiation, sweating, history" in out.output  # never asked: never told


def test_consult_with_a_human_patient(monkeypatch) -> None:
    monkeypatch.setenv("LOOPBACK_KEY", "x")
    turns = iter(["Any allergies?", "Call an ambulance now."])
    with LoopbackServer(lambda req, i: Reply(next(turns))) as server:
        out = runner.invoke(app, ["consult", "--case", "cp-stemi-aspirin-allergy", "--model", "doc", "--base-url", server.base_url,
                                  "--api-key-env", "LOOPBACK_KEY", "--patient", "human"], input="aspirin gives me a rash\nEND\n")
    assert out.exit_code == 0, out.output
    assert "[you may say: Aspirin gives me a rash and my lips swell.]" in out.output


def test_cases_generate_checks_and_regenerates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LOOPBACK_KEY", "x")
    good = dict(EXAMPLE_CARD)
    bad = {**EXAMPLE_CARD, "checklist": [{"rubric": "Calls for help now.", "level": 7, "points": 5}]}
    answers = iter([json.dumps(bad), "```json\n" + json.dumps(good) + "\n```"])
    with LoopbackServer(lambda req, i: Reply(next(answers))) as server:
        out = runner.invoke(app, ["cases", "generate", "--out", str(tmp_path), "--model", "w", "--base-url", server.base_url,
                                  "--api-key-env", "LOOPBACK_KEY", "--topic", "chest_pain"])
        second = server.requests[1]["messages"][1]["content"]
    assert out.exit_code == 0, out.output
    assert "Attempt 2" in second and "field checklist.0.level" in second
    cards = load_cards(tmp_path / "cases.jsonl")
    assert [c.id for c in cards] == ["gen-chest_pain-0"]
    rerun = runner.invoke(app, ["cases", "generate", "--out", str(tmp_path), "--model", "w", "--base-url", "http://127.0.0.1:9",
                                "--api-key-env", "LOOPBACK_KEY", "--topic", "chest_pain"])
    assert rerun.exit_code == 0 and "skipped (done before)" in rerun.output  # resumable: no request needed
