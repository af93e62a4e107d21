"""GRPO signal diagnostics: zero-std groups, advantages, and the complexity-factor cancellation."""

import pytest

from heartgrpo.rewards.diagnostics import advantages, diagnose_groups, factor_cancellation


def test_advantages_match_trl_formulas():
    g = [[1.0, 2.0, 3.0]]  # mean 2, sample std 1
    assert advantages(g, "none") == [[-1.0, 0.0, 1.0]]
    assert advantages(g, "group")[0] == pytest.approx([-1 / 1.0001, 0.0, 1 / 1.0001])
    # batch std over two groups [1,2,3] + [5,5,5]
    b = advantages([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], "batch")
    assert b[1] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        advantages(g, "rank")


def test_zero_std_fraction_counts_uniform_groups():
    groups = [
        ([5, 5], [[True, True], [True, True]]),   # identical verdicts: no signal anywhere
        ([5, 5], [[True, True], [True, False]]),  # split on one criterion
    ]
    rep = diagnose_groups(groups)
    assert rep["healthbench"]["frac_zero_std"] == 0.5
    # binary: both rows of group 2 differ (1 vs 0)
    assert rep["binary"]["frac_zero_std"] == 0.5
    assert rep["healthbench"]["n_groups"] == 2


def test_binary_collapses_more_often_than_graded_rewards():
    # nobody satisfies everything: binary is 0 for all, graded strategies still rank
    groups = [([5, 5, 5], [[True, False, False], [True, True, False], [False, False, False]])]
    rep = diagnose_groups(groups, strategies=["binary", "healthbench", "complexity"])
    assert rep["binary"]["frac_zero_std"] == 1.0
    assert rep["healthbench"]["frac_zero_std"] == 0.0 and rep["complexity"]["frac_zero_std"] == 0.0


def test_complexity_factor_cancels_only_under_group_scaling():
    groups = [
        ([1] * 4, [[True, True, False, False], [True, True, True, True]]),
        ([1] * 20, [[True] * 10 + [False] * 10, [True] * 20]),
    ]
    assert factor_cancellation(groups, "group") < 1e-3
    assert factor_cancellation(groups, "none") > 0.5
    assert factor_cancellation(groups, "batch") > 1e-3
    rep = diagnose_groups(groups, strategies=["complexity"])
    assert rep["complexity"]["factor_effect_group"] < 1e-3 < rep["complexity"]["factor_effect_none"]


def test_none_rewards_are_left_out_of_groups():
    groups = [([5, 5], [[True, None], [True, True], [False, False]])]
    rep = diagnose_groups(groups, strategies=["healthbench"])
    assert rep["healthbench"]["n_groups"] == 1 and rep["healthbench"]["mean_reward_std"] > 0
