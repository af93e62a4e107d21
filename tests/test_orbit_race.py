"""The ORBIT race's statistics and section, on hand-made run results (no training)."""

from __future__ import annotations

import pytest

from benchmarks.orbit_race import render, summarize


def _run(arm: str, seed: int, final: float, zero: float = 0.5, filt: float = 0.0, n_train: int = 250) -> dict:
    return {"arm": arm, "seed": seed, "curve": [(0, 0.2), (10, final - 0.05), (20, final)], "zero_std": [zero, zero],
            "seconds": 10.0 + filt, "filter_seconds": filt, "n_train": n_train,
            **({"curriculum": {"mastered_share": 0.1}} if arm.startswith("curriculum") else {})}


def test_arms_are_paired_against_healthbench_and_rendered():
    runs = [_run("healthbench", s, 0.30 + 0.01 * s) for s in range(3)]
    runs += [_run("prefilter", s, 0.40 + 0.01 * s, filt=4.0, n_train=200) for s in range(3)]
    runs += [_run("curriculum:review", s, 0.28, zero=0.1) for s in range(3)]
    summary = summarize(runs, threshold=0.33)
    t = summary["table"]
    assert t["prefilter"]["final_ci"][0] == pytest.approx(0.41) and t["prefilter"]["reach"] == [10, 10, 10]
    assert t["healthbench"]["reach"] == [None, None, None]  # 0.30..0.32 < 0.33
    assert t["prefilter"]["seconds"] == pytest.approx(14.0) and t["prefilter"]["filter_seconds"] == pytest.approx(4.0)
    tests = {x["a"]: x for x in summary["tests"]}
    assert set(tests) == {"prefilter", "curriculum:review"}
    assert tests["prefilter"]["diff"] == pytest.approx(0.10) and tests["prefilter"]["wins"] == 3
    meta = {"command": "python -m benchmarks.orbit_race", "seconds": 30.0, "note": "", "n_train": 250, "n_held": 40,
            "steps": 20, "seeds": [0, 1, 2], "every": 10, "k": 6,
            "filters": {"0": {"counts": {"kept": 200, "unjudged": 0, "mastered": 30, "hopeless": 0, "zero_variance": 20}}}}
    text = render(summary, meta)
    assert "| prefilter |" in text and "(filter 4.0)" in text and "| 200.0 |" in text
    assert "| curriculum:review |" in text and "0.100" in text
    assert "What it does not" in text and "seed 0: 50 (30 mastered) (20 zero_variance)" in text
