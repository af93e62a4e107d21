"""Reward beside completion length: correlation with its bootstrap CI, the residual of reward on
length, the length-controlled rise, the report sentence and the figure's length panel."""

from __future__ import annotations

import random

import pytest

from heartgrpo.eval.length import LENGTH_KEY, correlation_ci, length_controlled_trend, length_residuals, pearson


def _rows(rewards, lengths):
    return [{"step": i + 1, "reward": r, LENGTH_KEY: n} for i, (r, n) in enumerate(zip(rewards, lengths))]


def _rising_lengths(n=32, seed=0):
    rng = random.Random(seed)
    return [40.0 + 3.0 * i + rng.gauss(0, 6.0) for i in range(n)]


def test_pearson_matches_the_formula_and_is_undefined_for_a_constant_series():
    x, y = [1.0, 2.0, 4.0, 7.0], [2.0, 1.0, 5.0, 6.0]
    mx, my = sum(x) / 4, sum(y) / 4
    num = sum((a - mx) * (b - my) for a, b in zip(x, y))
    den = (sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y)) ** 0.5
    assert pearson(x, y) == pytest.approx(num / den)
    assert pearson(x, [-v for v in y]) == pytest.approx(-num / den)
    assert pearson(x, [3.0] * 4) is None and correlation_ci(x, [3.0] * 4)["ci_low"] is None
    with pytest.raises(ValueError, match="length mismatch"):
        pearson([1.0, 2.0], [1.0])


def test_correlation_ci_covers_the_truth_and_separates_it_from_zero():
    rng = random.Random(1)
    x = [rng.gauss(0, 1) for _ in range(60)]
    strong = [0.9 * a + rng.gauss(0, 0.3) for a in x]
    c = correlation_ci(x, strong)
    assert 0.8 < c["ci_low"] < c["r"] < c["ci_high"] <= 1.0 and c["n_valid"] == 2000
    none = correlation_ci(x, [rng.gauss(0, 1) for _ in x])
    assert none["ci_low"] < 0 < none["ci_high"]


def test_residuals_are_those_of_the_least_squares_line():
    rewards, lengths = [0.2, 0.5, 0.4, 0.9, 0.7], [10.0, 20.0, 30.0, 40.0, 50.0]
    fit = length_residuals(rewards, lengths)
    assert fit["slope"] == pytest.approx(0.014) and fit["intercept"] == pytest.approx(0.12)
    assert fit["residuals"] == pytest.approx([r - (0.12 + 0.014 * n) for r, n in zip(rewards, lengths)])
    assert sum(fit["residuals"]) == pytest.approx(0.0, abs=1e-12)  # orthogonal to the constant and to length
    assert sum(e * n for e, n in zip(fit["residuals"], lengths)) == pytest.approx(0.0, abs=1e-9)


def test_reward_that_is_exactly_a_function_of_length_gives_no_length_controlled_rise():
    lengths = _rising_lengths()
    rows = _rows([0.05 + 0.004 * n for n in lengths], lengths)
    t = length_controlled_trend(rows)
    assert t["reward"]["excludes_zero"] and t["reward"]["diff"] > 0.2  # the raw reward clearly rose
    assert t["correlation"]["r"] == pytest.approx(1.0)
    assert t["residual"]["diff"] == pytest.approx(0.0, abs=1e-9)
    assert t["residual"]["ci_low"] <= 0 <= t["residual"]["ci_high"]
    assert t["survives"] is False
    from heartgrpo.eval.report import length_text

    text = length_text(rows)
    assert text.endswith("the rise does not survive controlling for length.")
    assert "Pearson correlation of step reward with step mean length +1.00" in text and "mean length rose" in text


def test_reward_that_follows_length_with_noise_does_not_survive_either():
    rng = random.Random(2)
    lengths = _rising_lengths(seed=3)
    rows = _rows([0.05 + 0.004 * n + rng.gauss(0, 0.02) for n in lengths], lengths)
    t = length_controlled_trend(rows)
    assert t["reward"]["excludes_zero"] and t["correlation"]["ci_low"] > 0.8
    assert t["residual"]["ci_low"] < 0 < t["residual"]["ci_high"] and t["survives"] is False


def test_reward_that_rises_at_constant_length_survives():
    rows = _rows([0.1 + 0.01 * i for i in range(32)], [64.0] * 32)
    t = length_controlled_trend(rows)
    assert t["correlation"]["r"] is None and t["slope"] == 0.0
    assert t["residual"]["diff"] == pytest.approx(t["reward"]["diff"]) and t["survives"] is True
    from heartgrpo.eval.report import length_text, trend_text

    text = length_text(rows)
    assert "mean length did not change measurably +0.0 tokens" in text
    assert "length undefined (mean length 64.0 tokens at every step, so length cannot explain a change)" in text
    assert text.endswith("the rise survives controlling for length.")
    assert trend_text(rows).endswith(text) and "the training reward rose" in trend_text(rows)


def test_reward_that_rises_while_length_wanders_survives_and_a_flat_reward_has_no_rise():
    rng = random.Random(4)
    lengths = [80.0 + rng.gauss(0, 15.0) for _ in range(32)]  # no trend in length
    rising = _rows([0.1 + 0.01 * i + rng.gauss(0, 0.01) for i in range(32)], lengths)
    t = length_controlled_trend(rising)
    assert t["survives"] is True and t["residual"]["ci_low"] > 0
    assert t["correlation"]["ci_low"] < 0.5  # length is not what moved the reward
    flat = _rows([0.3 + rng.gauss(0, 0.05) for _ in range(32)], lengths)
    from heartgrpo.eval.report import length_text

    assert length_controlled_trend(flat)["survives"] is None
    assert "there is no rise to control for length" in length_text(flat)


def test_a_fall_is_checked_on_its_own_side():
    lengths = _rising_lengths()
    t = length_controlled_trend(_rows([0.9 - 0.01 * i for i in range(32)], [64.0] * 32))
    assert t["reward"]["diff"] < 0 and t["survives"] is True
    t = length_controlled_trend(_rows([0.9 - 0.003 * n for n in lengths], lengths))
    assert t["reward"]["diff"] < 0 and t["survives"] is False


def test_rows_without_both_keys_are_skipped_and_short_logs_give_none():
    rows = _rows([0.1 * i for i in range(8)], [10.0 * i for i in range(8)])
    rows.insert(3, {"step": 99, "reward": 5.0})  # no length: skipped
    rows.append({"step": 100, LENGTH_KEY: 3.0, "reward": None})
    t = length_controlled_trend(rows)
    assert t["n"] == 8 and t["first_steps"] == [1, 2] and t["last_steps"] == [7, 8]
    assert length_controlled_trend(rows[:4]) is None
    from heartgrpo.eval.report import length_text, trend_text

    no_length = [{"step": i, "reward": 0.1 * i} for i in range(1, 9)]
    assert length_text(no_length) is None and "Beside completion length" not in trend_text(no_length)


def test_reward_figure_shows_the_length_beside_the_reward(monkeypatch):
    from heartgrpo.eval import figures

    seen = []
    real = figures._png

    def capture(fig):
        seen.append([(a.get_title(), a.get_ylabel()) for a in fig.axes])
        return real(fig)

    monkeypatch.setattr(figures, "_png", capture)
    lengths = _rising_lengths(n=12)
    rows = [{**r, "frac_reward_zero_std": 0.1} for r in _rows([0.05 + 0.004 * n for n in lengths], lengths)]
    assert figures.reward_figure(rows, title="steps").startswith(b"\x89PNG")
    titles = [t for t, _ in seen[0]]
    assert len(seen[0]) == 4  # reward, length (+ its reward axis), zero std
    length_title = next(t for t in titles if t.startswith("mean completion length beside reward"))
    assert "reward vs length r +1.00" in length_title and "length-controlled change +0.000" in length_title
    assert ("", "reward") in seen[0] and titles[2] == "fraction of groups with zero reward std"
    seen.clear()
    figures.reward_figure([{k: v for k, v in r.items() if k != LENGTH_KEY} for r in rows])
    assert len(seen[0]) == 2  # no length logged: no length panel
