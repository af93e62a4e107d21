"""The capacity model's formulas and the fixed-capacity replica the capacity benchmark measures."""

from __future__ import annotations

import pytest

from benchmarks.capacity import capacity_responder, paper_rows
from heartgrpo.judge.capacity import judge_seconds, replicas_needed, requests_per_step, throughput_needed


def test_requests_throughput_and_replicas() -> None:
    assert requests_per_step("per_criterion", prompts=2, generations=6, criteria=20) == 240
    assert requests_per_step("batched", prompts=2, generations=6, criteria=20) == 12
    assert judge_seconds(240, replicas=4, slots=4, service_s=0.1) == pytest.approx(1.5)
    assert judge_seconds(3, replicas=4, slots=4, service_s=0.1) == pytest.approx(0.1)  # one request's time at least
    assert throughput_needed(72, 10.0) == pytest.approx(7.2)
    assert [replicas_needed(72, judge_budget_s=10.0, replica_rps=r) for r in (7.2, 4.0, 1.0)] == [1, 2, 8]
    with pytest.raises(ValueError, match="mode"):
        requests_per_step("per_response", prompts=1, generations=6, criteria=3)
    with pytest.raises(ValueError, match="> 0 s"):
        throughput_needed(72, 0.0)


def test_replica_queues_requests_beyond_its_slots(monkeypatch) -> None:
    import benchmarks.capacity as cap

    now = [100.0]
    monkeypatch.setattr(cap.time, "monotonic", lambda: now[0])
    respond = capacity_responder(slots=2, service_s=0.1)
    request = {"messages": [{"role": "user", "content": "grade this"}]}
    delays = [respond(request, i).delay for i in range(5)]
    assert delays == pytest.approx([0.1, 0.1, 0.2, 0.2, 0.3])  # two at a time, the rest wait their turn
    now[0] += 1.0  # idle again: no queue
    assert respond(request, 5).delay == pytest.approx(0.1)


def test_paper_rows_reproduce_the_published_26_hours() -> None:
    rows = paper_rows(1.0, 8.0)
    assert rows[0][-1] == "26.0" and float(rows[0][2]) + float(rows[0][3]) == pytest.approx(93.6)
    assert all(float(r[-1]) < 26.0 for r in rows[1:])
