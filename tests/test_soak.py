"""A reduced soak of the judge layer: 200 verdicts through GRPO's reward function against two
faulty loopback replicas (one answer in ten a fault, every kind in turn; one replica killed and
started again), the judge side SIGKILLed half-way in a subprocess and started again on its
cache (the uninterrupted runs in this process, to start quickly). Nothing may be lost, wrong or stored twice, and the restart must find the killed
run's verdicts in the cache."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import KINDS, FaultyGrader, Sizes, goals_missed, most_in_window, soak, truth

SMALL = Sizes(steps=20, generations=5, criteria=2, replicas=2, kill_every=0.0, down=0.3, max_kills=1,
              latency=0.005, timeout=0.5, rpm=6000.0, retry_after=0.3)


def test_reduced_soak_loses_nothing_and_the_restart_reuses_the_cache(tmp_path: Path) -> None:
    assert SMALL.verdicts == 200
    result = soak(SMALL, tmp_path, in_process=True)
    full, killed, restart = (result["phases"][k] for k in ("full", "killed", "restart"))
    for run in (full, restart):
        assert run["asked"] == 200 and run["lost"] == 0 and run["wrong_rewards"] == 0
        assert run["returned"] + run["excluded"] == 200
    assert len(result["kills"]) == 1
    seen = {k: full["seen"].get(k, 0) + restart["seen"].get(k, 0) for k in (*KINDS, "connection", "retry_after_header")}
    assert all(n > 0 for n in seen.values()), seen
    assert full["seen"].get("inside_retry_after", 0) == restart["seen"].get("inside_retry_after", 0) == 0
    for audit in result["audit"].values():
        assert audit["duplicate_keys"] == 0 and audit["stored_twice"] == 0
        assert audit["wrong"] == 0 and audit["unknown"] == 0 and audit["rows"] > 0
    assert 0 < killed["steps_done"] < SMALL.steps and killed["returncode"] == -9
    assert restart["stats"]["cache_hits"] >= killed["steps_done"] * SMALL.generations * SMALL.criteria
    assert restart["stats"]["requests"] < full["stats"]["requests"]
    assert full["stats"]["cache_hits"] == 0
    assert full["most_per_window"] <= SMALL.rpm / 10 + 1
    assert goals_missed(result) == []
    full["lost"], result["audit"]["resumed"]["stored_twice"] = 1, 2  # and a miss would be named
    assert goals_missed(result) == ["full: lost = 1", "resumed cache: stored_twice = 2"]


def test_the_grader_faults_one_answer_in_ten_in_turn_and_answers_the_rest_correctly() -> None:
    grader = FaultyGrader(latency=0.0, hold=1.0, every=10)
    batched = {"messages": [{"role": "user", "content": "BEGIN RESPONSE x\nAnswer-3-1: ok\n[c1] (5 points) criterion-0: a\n[c2] (1 points) criterion-1: b"}]}
    replies = [grader(batched, i) for i in range(50)]
    assert dict(grader.injected) == {k: 1 for k in KINDS}
    good = [r for i, r in enumerate(replies) if (i + 1) % 10]
    assert all(r.status == 200 and not r.delay > 0.5 for r in good)
    assert f'"criteria_met": {str(truth("Answer-3-1", "criterion-1")).lower()}' in good[0].content
    single = {"messages": [{"role": "user", "content": "BEGIN RESPONSE x\nAnswer-3-1: ok\ncriterion-0: a"}]}
    for i in range(50):
        grader(single, i)
    assert grader.injected["wrong_ids"] == 1  # no ids to get wrong in a single prompt


def test_most_in_window() -> None:
    assert most_in_window([0.0, 1.0, 2.0, 2.5, 9.0], 1.5) == 3
    assert most_in_window([], 1.0) == 0
