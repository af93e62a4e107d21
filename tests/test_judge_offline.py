"""Offline judges: JSONL replay/recording and the approximate lexical judge."""

import asyncio
import json

import pytest

from heartgrpo.judge import Judge, LexicalJudge, RecordedJudge, RecordingJudge

CONV = [{"role": "user", "content": "Palpitations after coffee?"}]
RUBRIC = [
    {"criterion": "Recommends an ECG to check the heart rhythm", "points": 5},
    {"criterion": "Suggests reducing caffeine intake", "points": 3},
    {"criterion": "Dismisses symptoms as anxiety without evaluation", "points": -2},
]


def run(coro):
    return asyncio.run(coro)


def test_lexical_judge_is_deterministic_and_labelled_approximate():
    judge = LexicalJudge()
    assert "APPROXIMATE" in LexicalJudge.__doc__ and judge.approximate is True
    answer = "Get an ECG to check your heart rhythm and reduce caffeine."
    first = run(judge.grade(CONV, answer, RUBRIC))
    assert [v.met for v in first] == [True, True, False]
    assert run(judge.grade(CONV, answer, RUBRIC)) == first
    assert all("approximate" in v.explanation for v in first)
    assert [v.met for v in run(judge.grade(CONV, "Drink water.", RUBRIC))] == [False, False, False]
    assert isinstance(judge, Judge)


def test_lexical_rate_follows_verdicts():
    judge = LexicalJudge()
    good = run(judge.rate(CONV, "Get an ECG for the heart rhythm and reduce caffeine intake.", RUBRIC))
    bad = run(judge.rate(CONV, "It is just anxiety, no evaluation needed; symptoms dismissed.", RUBRIC))
    assert good == 10.0 and bad == 1.0


def test_lexical_threshold_validation():
    with pytest.raises(ValueError):
        LexicalJudge(threshold=0)


def test_recording_then_replay_roundtrip(tmp_path):
    path = tmp_path / "verdicts.jsonl"
    recorder = RecordingJudge(LexicalJudge(), path)
    answer = "An ECG checks the heart rhythm."
    recorded = run(recorder.grade(CONV, answer, RUBRIC))
    rating = run(recorder.rate(CONV, answer, RUBRIC))
    replay = RecordedJudge(path)
    replayed = run(replay.grade(CONV, answer, RUBRIC))
    assert [v.met for v in replayed] == [v.met for v in recorded]
    assert all(v.cached for v in replayed)
    assert run(replay.rate(CONV, answer, RUBRIC)) == rating
    # anything not recorded is an explicit failure, never False
    missing = run(replay.grade(CONV, "a different answer", RUBRIC))
    assert all(v.met is None and "no recorded verdict" in v.error for v in missing)
    assert run(replay.rate(CONV, "a different answer", RUBRIC)) is None
    assert replay.stats.failures == 3


def test_recorded_judge_names_file_and_line_on_bad_input(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = {"conversation": CONV, "response": "x", "criterion": "c", "met": True}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "met": "yes"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: field 'met'"):
        RecordedJudge(path)
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: not valid JSON"):
        RecordedJudge(path)
    path.write_text(json.dumps({"response": "x", "criterion": "c", "met": True}) + "\n")
    with pytest.raises(ValueError, match="missing field 'conversation'"):
        RecordedJudge(path)
