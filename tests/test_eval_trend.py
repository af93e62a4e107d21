"""Training-curve statistics: quarter change with its bootstrap CI, steps to threshold, paired
seed tests, and the report sentence built on them."""

from __future__ import annotations

import random

import pytest

from heartgrpo.eval.trend import paired_seed_test, quarter_change, reward_trend, steps_to_threshold, t_interval


def test_quarter_change_compares_the_first_and_last_quarter_only():
    values = [0.1, 0.3, 9.0, -9.0, 5.0, 0.6, 0.8, 0.0]  # quarters of 2; the middle is ignored
    r = quarter_change(values, n_bootstrap=500)
    assert r["n_first"] == r["n_last"] == 2
    assert r["first"] == pytest.approx(0.2) and r["last"] == pytest.approx(0.4)
    assert r["diff"] == pytest.approx(0.2)
    # the CI lies inside the range of possible resampled differences: last in [0, 0.8], first in [0.1, 0.3]
    assert -0.3 - 1e-9 <= r["ci_low"] <= r["diff"] <= r["ci_high"] <= 0.7 + 1e-9
    assert quarter_change(values, n_bootstrap=500, seed=3)["ci_low"] == quarter_change(values, n_bootstrap=500, seed=3)["ci_low"]


def test_quarter_change_ci_separates_a_real_rise_from_noise():
    rng = random.Random(0)
    rising = [0.2 + 0.02 * i + rng.gauss(0, 0.03) for i in range(24)]
    flat = [0.2 + rng.gauss(0, 0.1) for _ in range(24)]
    up = quarter_change(rising)
    assert up["excludes_zero"] and up["ci_low"] > 0
    assert not quarter_change(flat)["excludes_zero"]
    down = quarter_change(list(reversed(rising)))
    assert down["excludes_zero"] and down["ci_high"] < 0


def test_quarter_change_rejects_short_or_bad_input():
    with pytest.raises(ValueError, match="at least 4 steps"):
        quarter_change([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"values\[1\] is nan"):
        quarter_change([1.0, float("nan"), 2.0, 3.0])


def test_reward_trend_reads_log_rows_and_skips_rows_without_a_reward():
    rows = [{"step": 0, "loss": 1.0}] + [{"step": i, "reward": float(i)} for i in range(1, 9)] + [{"step": 9, "reward": None}]
    t = reward_trend(rows, n_bootstrap=200)
    assert t["first_steps"] == [1, 2] and t["last_steps"] == [7, 8]
    assert t["diff"] == pytest.approx(6.0) and t["key"] == "reward"
    assert reward_trend(rows[:4]) is None


def test_steps_to_threshold():
    assert steps_to_threshold([0, 10, 20, 30], [0.2, 0.5, 0.4, 0.7], 0.5) == 10
    assert steps_to_threshold([0, 10], [0.2, 0.3], 0.5) is None
    with pytest.raises(ValueError, match="length mismatch"):
        steps_to_threshold([0, 10], [0.2], 0.5)


def test_paired_seed_test_exact_sign_flip_p_values():
    r = paired_seed_test([0.6, 0.7, 0.8, 0.9, 0.65], [0.5] * 5)  # all five differences positive
    assert r["p_value"] == pytest.approx(2 / 32) and r["wins"] == 5 and r["n"] == 5
    assert r["diff"] == pytest.approx(0.23) and r["ci_low"] < r["diff"] < r["ci_high"]
    # d = (+0.1, -0.1, +0.1, -0.1): every pattern's |sum| >= 0 -> p = 1
    assert paired_seed_test([0.6, 0.4, 0.6, 0.4], [0.5] * 4)["p_value"] == 1.0
    # d = (3, 1, 1): |sum| = 5 reached by (+,+,+) and (-,-,-) only -> p = 2/8
    assert paired_seed_test([3, 1, 1], [0, 0, 0])["p_value"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_seed_test([1.0], [1.0, 2.0])


def test_t_interval_matches_the_t_table():
    m, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])  # sd = 1.5811, t(4) = 2.776
    assert m == 3.0 and hi - m == pytest.approx(2.776 * 1.5811388 / 5 ** 0.5, rel=1e-6)
    assert t_interval([0.4]) == (0.4, 0.4, 0.4)


def test_report_states_whether_the_training_reward_rose():
    from heartgrpo.eval.report import trend_text

    rows = [{"step": i, "reward": 0.1 + 0.05 * i} for i in range(1, 13)]
    text = trend_text(rows)
    assert "first quarter of steps (1-3) 0.200" in text and "last quarter (10-12) 0.650" in text
    assert "the training reward rose" in text
    flat = [{"step": i, "reward": 0.3 if i % 2 else 0.5} for i in range(1, 13)]
    assert "did not change measurably" in trend_text(flat)
    assert trend_text(rows[:3]) is None


def test_results_table_carries_training_notes_and_the_demo_says_what_the_judge_rewards():
    from heartgrpo.eval.results_table import render_results_table
    from heartgrpo.judge import LexicalJudge
    from heartgrpo.judge.guarded import GuardedJudge
    from heartgrpo.pipeline import judge_note

    text = render_results_table([], generated="now", notes=["GRPO log `steps`: the training reward rose."])
    assert "## Training\n\nGRPO log `steps`: the training reward rose." in text
    assert "## Training" not in render_results_table([], generated="now")
    assert "word overlap" in judge_note(GuardedJudge(LexicalJudge()))

    class Verifier:
        approximate = True
        rewards_description = "It rewards what a logistic regression learnt."

    assert judge_note(Verifier()) == "It rewards what a logistic regression learnt."
    Verifier.rewards_description = None
    assert "Verifier is approximate" in judge_note(Verifier())


def test_paired_text_states_the_held_out_change_and_whether_its_ci_excludes_zero():
    from heartgrpo.eval.report import paired_text

    c = {"a": "after GRPO", "b": "before GRPO (SFT)", "n": 8,
         "healthbench": {"diff": -0.053, "ci_low": -0.15, "ci_high": 0.02, "p_value": 0.31}}
    text = paired_text(c)
    assert "after GRPO − before GRPO (SFT): -0.053 [95% CI -0.150, +0.020] over 8 paired prompts" in text
    assert text.endswith("do not differ measurably.")
    c["healthbench"].update(ci_high=-0.01)
    assert paired_text(c).endswith("the two differ measurably.")


def test_results_table_links_the_figures_it_saves_beside_it(tmp_path):
    from heartgrpo.eval.results_table import write_results_table

    out = write_results_table([], tmp_path / "docs" / "results.md", notes=["a note"],
                              figures=[("rewards_steps.png", b"\x89PNG fake", "rewards steps")])
    assert (tmp_path / "docs" / "figures" / "results_rewards_steps.png").read_bytes() == b"\x89PNG fake"
    assert "![rewards steps](figures/results_rewards_steps.png)" in out.read_text()


def test_reward_figure_titles_the_quarter_change_with_its_ci(monkeypatch):
    from heartgrpo.eval import figures

    titles = []
    real = figures._png

    def capture(fig):
        titles.append(fig.axes[0].get_title())
        return real(fig)

    monkeypatch.setattr(figures, "_png", capture)
    rows = [{"step": i, "reward": 0.1 * i, "frac_reward_zero_std": 0.0} for i in range(1, 13)]
    assert figures.reward_figure(rows, title="steps").startswith(b"\x89PNG")
    t = reward_trend(rows)
    assert f"last - first quarter +0.900 [95% CI {t['ci_low']:+.3f}, {t['ci_high']:+.3f}]" in titles[0]
    assert t["ci_low"] > 0
