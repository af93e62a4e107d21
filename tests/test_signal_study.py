"""Tests of the reward-signal study: generative model, Kendall tau-b, measures, log loading."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartgrpo.rewards import complexity_factor
from heartgrpo.rubrics import Criterion, RubricError
from heartgrpo.signal.data import SampledGroup, load_rar_rubrics, load_verdict_log
from heartgrpo.signal.study import (
    OutcomeModel,
    draw_group,
    draw_groups,
    factor_effect,
    group_advantages,
    kendall_tau_b,
    mean_ci,
    rank_agreement,
    signal_measures,
    synthetic_rubrics,
)


def crit(points: float, category: str) -> Criterion:
    return Criterion(criterion=f"c{points}{category}", points=points, tags=(f"category:{category}",))


# ------------------------------------------------------------------ Kendall tau-b


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([1, 2, 3, 4], [1, 2, 3, 4], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4], [1, 3, 2, 4], 4 / 6),  # C=5, D=1
        ([1, 1, 2, 3], [1, 2, 2, 3], 4 / 5),  # C=4, D=0, one tie in x, one in y: 4/sqrt(5*5)
        ([1, 1, 2, 2], [1, 2, 1, 2], 0.0),
    ],
)
def test_kendall_tau_b_known_values(x, y, expected):
    assert kendall_tau_b(x, y) == pytest.approx(expected)


def test_kendall_tau_b_undefined_for_constant_input():
    assert math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau_b([0.5], [0.2]))
    with pytest.raises(ValueError, match="length mismatch"):
        kendall_tau_b([1, 2], [1])


def _tau_b_by_definition(x, y):
    """tau-b from sign products: sum sgn(dx)sgn(dy) / sqrt(sum sgn(dx)^2 * sum sgn(dy)^2)."""
    pairs = list(combinations(range(len(x)), 2))
    sx = [np.sign(x[i] - x[k]) for i, k in pairs]
    sy = [np.sign(y[i] - y[k]) for i, k in pairs]
    return float(np.dot(sx, sy) / math.sqrt(np.dot(sx, sx) * np.dot(sy, sy)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=12))
def test_kendall_tau_b_matches_sign_definition_and_is_symmetric(pairs):
    x = [a for a, _ in pairs]
    y = [b for _, b in pairs]
    tau = kendall_tau_b(x, y)
    if len(set(x)) == 1 or len(set(y)) == 1:
        assert math.isnan(tau)
        return
    assert tau == pytest.approx(_tau_b_by_definition(x, y))
    assert tau == pytest.approx(kendall_tau_b(y, x))
    assert kendall_tau_b([v**3 + 1 for v in x], y) == pytest.approx(tau)  # rank-based


# ------------------------------------------------------------------ generative model


RUBRIC = [crit(5, "essential"), crit(5, "essential"), crit(3, "important"), crit(1, "optional"), crit(-2, "pitfall")]


def _rates(model: OutcomeModel, n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = [row for _ in range(n) for row in draw_group(RUBRIC, model, rng).met]
    return np.mean(np.array(rows, dtype=float), axis=0)


def test_better_policy_meets_more_criteria_and_triggers_fewer_pitfalls():
    weak = _rates(OutcomeModel(judge_flip=0.0).with_mean_quality(0.2))
    strong = _rates(OutcomeModel(judge_flip=0.0).with_mean_quality(0.8))
    assert (strong[:4] > weak[:4] + 0.2).all()
    assert strong[4] < weak[4] - 0.2
    # essentials are easier than optionals under the default difficulties
    assert strong[0] > strong[3]


def test_deterministic_limit_is_a_threshold_on_quality():
    model = OutcomeModel(spread=0.0, slope=1e4, difficulty_sd=0.0, judge_flip=0.0)
    for seed in range(20):
        g = draw_group(RUBRIC, model, np.random.default_rng(seed))
        q = g.quality[0]
        assert g.met[0] == (q > 0.35, q > 0.35, q > 0.5, q > 0.65, q < 0.25)
        assert len(set(g.met)) == 1  # spread 0: every completion is the same


def test_judge_flip_and_failure_rates():
    flipped = OutcomeModel(spread=0.0, slope=1e4, difficulty_sd=0.0, judge_flip=1.0)
    g = draw_group(RUBRIC, flipped, np.random.default_rng(3))
    q = g.quality[0]
    assert g.met[0] == (q <= 0.35, q <= 0.35, q <= 0.5, q <= 0.65, q >= 0.25)
    rng = np.random.default_rng(0)
    cells = [v for _ in range(300) for row in draw_group(RUBRIC, OutcomeModel(judge_fail=0.1), rng).met for v in row]
    assert sum(v is None for v in cells) / len(cells) == pytest.approx(0.1, abs=0.015)


def test_draw_groups_is_reproducible_and_checks_input():
    rubrics = synthetic_rubrics(5, np.random.default_rng(0))
    a = draw_groups(rubrics, OutcomeModel(), 12, seed=7)
    assert a == draw_groups(rubrics, OutcomeModel(), 12, seed=7)
    assert a != draw_groups(rubrics, OutcomeModel(), 12, seed=8)
    assert all(len(g.met) == 6 and all(len(r) == len(g.points) for r in g.met) for g in a)
    with pytest.raises(ValueError, match="rubrics is empty"):
        draw_groups([], OutcomeModel(), 3, seed=0)
    with pytest.raises(ValueError, match="no difficulty_mean"):
        draw_group([crit(5, "bonus")], OutcomeModel(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="mean quality"):
        OutcomeModel().with_mean_quality(1.0)


def test_synthetic_rubrics_follow_rar_conventions():
    for rubric in synthetic_rubrics(30, np.random.default_rng(1)):
        assert 7 <= len(rubric) <= 20
        assert any(c.points > 0 for c in rubric)
        for c in rubric:
            assert (c.points < 0) == (c.category == "pitfall")


# ------------------------------------------------------------------ measures


def test_signal_measures_on_hand_made_groups():
    points = (5.0, 3.0, -2.0)
    constant = SampledGroup(points, ((True, True, False),) * 6, quality=(0.5,) * 6)
    varied = SampledGroup(
        points,
        ((True, True, False), (True, False, False), (False, False, True), (True, True, True), (False, True, False), (True, False, True)),
        quality=(0.9, 0.6, 0.1, 0.7, 0.4, 0.3),
    )
    report = signal_measures([constant, varied], strategies=["binary", "healthbench"])
    assert report["binary"]["frac_zero_std"] == 0.5
    assert report["healthbench"]["frac_zero_std"] == 0.5
    assert report["healthbench"]["tau_healthbench"] == pytest.approx(1.0)
    assert report["healthbench"]["tau_defined"] == 0.5
    # healthbench of `varied`: 1, 5/8, -2/8, 6/8, 3/8, 3/8 -> tau-b against quality
    hb = [1, 5 / 8, -2 / 8, 6 / 8, 3 / 8, 3 / 8]
    assert report["healthbench"]["tau_quality"] == pytest.approx(kendall_tau_b(hb, varied.quality))
    # mean over the two groups, the constant one contributing 0; healthbench's range counts as 1
    assert report["healthbench"]["mean_norm_reward_std"] == pytest.approx(float(np.std(hb, ddof=1)) / 2)
    # binary of `varied`: only row 0 is all-clear -> 1,0,0,0,0,0
    assert report["binary"]["tau_healthbench"] == pytest.approx(kendall_tau_b([1, 0, 0, 0, 0, 0], hb))


def test_binary_loses_signal_for_a_weak_policy_and_dense_strategies_do_not():
    rubrics = synthetic_rubrics(20, np.random.default_rng(0))
    groups = draw_groups(rubrics, OutcomeModel().with_mean_quality(0.3), 80, seed=0)
    report = signal_measures(groups)
    assert report["binary"]["frac_zero_std"] > 0.8
    assert report["healthbench"]["frac_zero_std"] < 0.05
    assert report["criterion_variance"]["mean_advantage_std"] > 0.9
    for name in ("healthbench", "rar_explicit", "criterion_variance"):
        assert report[name]["tau_quality"] > 0.1  # dense rewards track the hidden quality
    assert report["binary"]["mean_advantage_std"] == pytest.approx(1 - report["binary"]["frac_zero_std"], abs=0.01)


def test_rank_agreement_needs_quality_for_the_quality_reference():
    g = SampledGroup((5.0,), ((True,), (False,)))
    assert rank_agreement("binary", [g], "healthbench")["tau"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="quality"):
        rank_agreement("binary", [g], "quality")


def test_failed_verdicts_leave_the_completion_out():
    g = SampledGroup((5.0, 5.0), ((True, True), (True, None), (False, False)), quality=(0.9, 0.8, 0.1))
    assert group_advantages([g], "healthbench", scale="none") == [[0.5, -0.5]]
    assert rank_agreement("binary", [g], "quality") == {"tau": pytest.approx(1.0), "defined": 1.0}


def test_complexity_factor_cancels_only_under_group_scaling():
    rubrics = synthetic_rubrics(10, np.random.default_rng(2))
    groups = draw_groups(rubrics, OutcomeModel(), 32, seed=3)
    assert factor_effect(groups, "group", 8)["relative"] < 1e-3
    assert factor_effect(groups, "batch", 1)["relative"] < 1e-3  # one prompt per step: batch == group
    assert factor_effect(groups, "batch", 8)["relative"] > 1e-2  # mixed rubric sizes in one step
    none = factor_effect(groups, "none", 1)
    assert none["max_abs"] > 0.5
    # without scaling A = c(n_c) A', so the relative change lies between c(7) - 1 and c(20) - 1
    assert complexity_factor(7) - 1 <= none["relative"] <= complexity_factor(20) - 1


def test_factor_effect_is_exactly_the_factor_for_one_rubric_size():
    rubric = synthetic_rubrics(1, np.random.default_rng(0), sizes=(12, 12))
    groups = draw_groups(rubric, OutcomeModel(), 10, seed=0)
    assert factor_effect(groups, "none", 1)["relative"] == pytest.approx(complexity_factor(12) - 1)
    assert factor_effect(groups, "batch", 10)["relative"] < 1e-3  # one size: a batch-wide constant


# ------------------------------------------------------------------ files


def test_load_verdict_log_reads_group_and_completion_rows(tmp_path):
    path = tmp_path / "verdicts.jsonl"
    rows = [
        {"prompt_id": "a", "points": [5, -1], "verdicts": [[True, False], [False, None]]},
        {"prompt_id": "b", "step": 1, "points": [3], "verdicts": [True]},
        {"prompt_id": "b", "step": 1, "points": [3], "verdicts": [False]},
        {"prompt_id": "b", "step": 2, "points": [3], "verdicts": [False]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    groups = load_verdict_log(path)
    assert [(g.prompt_id, g.points, g.met) for g in groups] == [
        ("a", (5.0, -1.0), ((True, False), (False, None))),
        ("b", (3.0,), ((True,), (False,))),
        ("b", (3.0,), ((False,),)),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2|:2: not valid JSON"),
        (json.dumps({"prompt_id": "x", "points": [1]}), ":2: field 'verdicts' missing"),
        (json.dumps({"prompt_id": "x", "points": [1, 2], "verdicts": [True]}), ":2: 1 verdicts for 2 points"),
        (json.dumps({"prompt_id": "x", "points": [1], "verdicts": ["yes"]}), ":2, field 'verdicts'"),
        (json.dumps({"prompt_id": "x", "points": ["1"], "verdicts": [True]}), ":2: field 'points'"),
    ],
)
def test_load_verdict_log_errors_name_line_and_field(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt_id": "ok", "points": [1], "verdicts": [True]}) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message):
        load_verdict_log(path)


def test_load_rar_rubrics(tmp_path):
    path = tmp_path / "rar.jsonl"
    good = {"id": "q1", "rubric": [{"title": "t", "description": "Essential Criteria: Names MI.", "weight": 5},
                                   {"title": "p", "description": "Pitfall Criteria: Says it is reflux.", "weight": 2}]}
    path.write_text(json.dumps(good) + "\n")
    (rubric,) = load_rar_rubrics([path])
    assert [(c.points, c.category) for c in rubric] == [(5.0, "essential"), (-2.0, "pitfall")]
    path.write_text(json.dumps(good) + "\n" + json.dumps({"id": "q2", "question": "?"}) + "\n")
    with pytest.raises(ValueError, match=r"rar.jsonl:2: field 'rubric' missing"):
        load_rar_rubrics([path])
    path.write_text(json.dumps({"id": "q3", "rubric": []}) + "\n")
    with pytest.raises(RubricError, match="q3"):
        load_rar_rubrics([path])


def test_mean_ci():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0
    assert hi - m == pytest.approx(4.303 * 1.0 / math.sqrt(3))  # t(0.975, 2) * sd / sqrt(n)
    assert lo == pytest.approx(2 * m - hi)
    assert mean_ci([0.5, math.nan]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in mean_ci([]))
