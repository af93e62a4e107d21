"""The consult benchmark's summary and section: intervals per arm, the multi- minus single-turn
gap per seed, plain verdicts, and the per-seed table (synthetic runs; no training)."""

from __future__ import annotations

from benchmarks.consult import ARMS, render, summarize


def _run(arm: str, seed: int, before: tuple[float, float], after: tuple[float, float]) -> dict:
    return {"arm": arm, "seed": seed, "seconds": 10.0,
            "before": {"reward": before[0], "asking_rate": before[1]}, "after": {"reward": after[0], "asking_rate": after[1]}}


def test_summary_and_section() -> None:
    runs = []
    for seed, jitter in enumerate((0.0, 0.02, -0.02, 0.01)):
        runs += [_run("multi-turn", seed, (1.5, 0.5), (1.8 + jitter, 1.0 - abs(jitter))),
                 _run("single-turn", seed, (0.6, 0.5), (1.2 + jitter / 2, 0.0)),
                 _run("multi-turn, cost 0.02", seed, (1.5, 0.5), (1.5 + 10 * jitter, 1.0))]
    summary = summarize(runs)
    assert set(summary) == {arm for arm, *_ in ARMS} | {"gap"}
    mean, low, high = summary["multi-turn"]["asking_rate_rise"]
    assert abs(mean - 0.4875) < 1e-9 and 0 < low < mean < high
    gap = summary["gap"]["reward_after"]
    assert abs(gap[0] - (0.6 + 0.0025 / 2)) < 1e-9  # after-training multi minus single, mean over seeds
    assert summary["single-turn"]["asking_rate_rise"][2] < 0

    meta = {"command": "python -m benchmarks --only consult", "seconds": 60.0, "n_seeds": 4, "steps": 200, "turn_cost": 0.0,
            "lr": 1e-3, "group": "8 consultations x 2 cards", "sft_steps": 80, "note": "", "runs": runs}
    text = render(summary, meta)
    assert "multi-turn: the asking rate rises: its 95% interval is above 0." in text
    assert "multi-turn, cost 0.02: the reward does not rise reliably" in text  # rises of 0, 0.2, -0.2, 0.1
    assert "Multi-turn minus single-turn reward after training, per seed: 0.601 [" in text
    assert text.count("| multi-turn, cost 0.02 | ") == 1 + 4  # the summary row and one per seed
