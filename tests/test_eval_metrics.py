"""HealthBench scoring, the paper's metrics and the statistics, checked against hand values."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from heartgrpo.eval import metrics as m


# ------------------------------------------------------------------ HealthBench scoring


def test_reference_case_with_negative_points():
    # 7 + 10 - 6 = 11 met points over 7 + 5 + 10 = 22 positive points
    assert m.example_score([7, 5, 10, -6], [True, False, True, True]) == pytest.approx(11 / 22)


def test_example_score_not_clipped_per_example():
    assert m.example_score([2, -5], [False, True]) == pytest.approx(-2.5)
    assert m.example_score([2, -5], [True, False]) == pytest.approx(1.0)


def test_example_score_none_on_failure_or_no_positive_points():
    assert m.example_score([5, 3], [True, None]) is None
    assert m.example_score([-3, -1], [True, False]) is None


def test_mean_is_clipped_to_unit_interval():
    assert m.aggregate([-2.5, -1.0], n_bootstrap=0)["score"] == 0.0
    assert m.aggregate([-2.5, 1.0, 0.5], n_bootstrap=0)["score"] == 0.0  # mean -1/3 -> 0
    assert m.aggregate([0.25, 0.75, -0.2], n_bootstrap=0)["score"] == pytest.approx(0.8 / 3)


def test_tag_scores_follow_healthbench():
    points = [5, 3, -4, 2]
    met = [True, False, True, True]
    tags = [["axis:accuracy"], ["axis:completeness"], ["axis:accuracy"], ["axis:completeness", "level:example"]]
    out = m.tag_example_scores(points, met, tags, ["theme:hedging", "physician_agreed_category:x"])
    assert out["theme:hedging"] == pytest.approx((5 - 4 + 2) / 10)  # example tag: whole score
    assert out["axis:accuracy"] == pytest.approx((5 - 4) / 5)
    assert out["axis:completeness"] == pytest.approx(2 / 5)
    # every family simple-evals reports is scored: level:/cluster: per criterion, physician category per example
    assert out["level:example"] == 1.0
    assert out["physician_agreed_category:x"] == out["theme:hedging"]
    out = m.tag_example_scores([4, 6], [True, False], [["cluster:c1"], ["cluster:c2", "level:cluster"]])
    assert out == {"cluster:c1": 1.0, "cluster:c2": 0.0, "level:cluster": 0.0}


def test_tag_without_positive_points_is_left_out_and_failure_is_none():
    out = m.tag_example_scores([5, -2], [True, None], [["axis:accuracy"], ["axis:safety"]])
    assert "axis:safety" not in out  # only a negative criterion: HealthBench skips it
    assert out["axis:accuracy"] == 1.0
    out = m.tag_example_scores([5, 3], [True, None], [["axis:a"], ["axis:a"]], ["theme:t"])
    assert out == {"theme:t": None, "axis:a": None}


# ------------------------------------------------------------------ bootstrap


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    scores = [0.1, 0.9, 0.4, 0.6, 0.3, 0.8, 0.5, 0.2, 0.7, 1.0]
    a = m.aggregate(scores, n_bootstrap=500, seed=3)
    assert a == m.aggregate(scores, n_bootstrap=500, seed=3)
    assert a["n"] == 10 and a["score"] == pytest.approx(0.55)
    assert a["ci_low"] < a["score"] < a["ci_high"]
    # sd of the mean ~ 0.3028/sqrt(10) = 0.096; a 95% interval is about +-0.19
    assert 0.25 < a["ci_high"] - a["ci_low"] < 0.5
    assert m.aggregate(scores, n_bootstrap=500, seed=4) != a


def test_bootstrap_degenerate_cases():
    assert m.aggregate([]) == {"score": None, "ci_low": None, "ci_high": None, "n": 0}
    assert m.aggregate([0.3]) == {"score": 0.3, "ci_low": 0.3, "ci_high": 0.3, "n": 1}
    assert m.aggregate([0.4] * 7) == {"score": 0.4, "ci_low": pytest.approx(0.4), "ci_high": pytest.approx(0.4), "n": 7}
    clipped = m.aggregate([1.5, 1.5, 1.2])
    assert clipped["score"] == 1.0 and clipped["ci_low"] == 1.0 and clipped["ci_high"] == 1.0


def test_aggregate_refuses_none():
    with pytest.raises(ValueError, match=r"scores\[1\] is None"):
        m.aggregate([0.5, None])


def test_paired_bootstrap_difference():
    a = [0.9, 0.8, 0.7, 1.0, 0.6, 0.9, 0.8, 0.7]
    b = [x - 0.3 for x in a]
    r = m.paired_bootstrap(a, b, n_bootstrap=400, seed=0)
    # a constant per-example shift: every paired replicate has the same difference
    assert r["diff"] == pytest.approx(0.3)
    assert r["ci_low"] == pytest.approx(0.3) and r["ci_high"] == pytest.approx(0.3)
    assert r["p_value"] == 0.0
    same = m.paired_bootstrap(a, a, n_bootstrap=100)
    assert same["diff"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="equal lengths"):
        m.paired_bootstrap([0.1], [0.1, 0.2])


# ------------------------------------------------------------------ the paper's metrics


def test_paper_pass_boundaries():
    assert m.paper_pass([1, 1], [True, False]) is False  # exactly 0.5 is not a pass
    assert m.paper_pass([2, 1], [True, False]) is True  # 2/3
    # min = -2, max = 4, total = 4 - 2 = 2 -> (2 + 2) / 6 = 0.667
    assert m.paper_pass([4, -2], [True, True]) is True
    # total 0 -> (0 + 2)/6 = 0.333
    assert m.paper_pass([4, -2], [False, False]) is False
    # an empty answer with a big pitfall avoided: (0 + 6) / 10 = 0.6 passes the paper's rule
    assert m.paper_normalized_score([4, -6], [False, False]) == pytest.approx(0.6)
    assert m.paper_pass([4, 1], [True, None]) is None


def test_paper_metrics_and_f1_identity():
    r = m.paper_metrics([True, False, False, True, False], n_bootstrap=200)
    assert r["accuracy"] == pytest.approx(0.4) and r["n"] == 5
    assert r["f1"] == pytest.approx(2 * 0.4 / 1.4)
    assert "2a/(1+a)" in r["note"]
    # the paper's published pairs obey the identity
    for acc, f1 in [(0.362, 0.532), (0.502, 0.668), (0.508, 0.674), (0.570, 0.726)]:
        assert m.paper_f1(acc) == pytest.approx(f1, abs=6e-4)


# ------------------------------------------------------------------ McNemar


def test_mcnemar_exact_hand_value():
    a = [True] * 10 + [False] * 2 + [True] * 5 + [False] * 3
    b = [False] * 10 + [True] * 2 + [True] * 5 + [False] * 3
    r = m.mcnemar(a, b)
    assert (r["b"], r["c"]) == (10, 2)
    # 2 * P(X <= 2 | n=12, p=.5) = 2 * (1 + 12 + 66) / 4096
    assert r["p_value"] == pytest.approx(2 * 79 / 4096)
    assert round(r["p_value"], 4) == 0.0386
    assert r["method"] == "exact binomial"


def test_mcnemar_symmetric_and_no_discordance():
    r = m.mcnemar([True, False], [True, False])
    assert (r["b"], r["c"], r["p_value"]) == (0, 0, 1.0)
    r = m.mcnemar([True] * 3 + [False] * 3, [False] * 3 + [True] * 3)
    assert r["p_value"] == 1.0  # b = c: capped at 1


def test_mcnemar_chi_square_branch():
    a = [True] * 30 + [False] * 10
    b = [False] * 30 + [True] * 10
    r = m.mcnemar(a, b)
    assert r["method"].startswith("chi-square")
    assert r["statistic"] == pytest.approx((20 - 1) ** 2 / 40)  # 9.025
    # chi2(1) survival at 9.025: erfc(sqrt(4.5125)) = 0.002663
    assert r["p_value"] == pytest.approx(0.002663, abs=2e-6)
    with pytest.raises(ValueError, match=r"b_pass\[0\]"):
        m.mcnemar([True], [None])


def test_metrics_import_is_light():
    code = "import sys, heartgrpo.eval; print(sorted(k for k in ('torch','numpy','transformers','matplotlib','openai') if k in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_erfc_matches_chi2_tail_at_known_quantile():
    # 3.841 is the 95% quantile of chi2(1): the p-value formula must give 0.05 there
    assert math.erfc(math.sqrt(3.841459 / 2)) == pytest.approx(0.05, abs=1e-6)
