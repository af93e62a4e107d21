"""Within-conversation pairwise agreement (heartgrpo.judge.agreement.pairwise_agreement) on hand-made data."""

from __future__ import annotations

import pytest

from heartgrpo.judge.agreement import pairwise_agreement, ranking_agreement


def test_perfect_reversed_and_constant_scorers():
    groups = ["a"] * 4 + ["b"] * 3
    ref = [4, 3, 2, 1, 0.9, 0.5, 0.1]
    assert pairwise_agreement(groups, ref, ref, n_boot=20)["agreement"] == 1.0
    assert pairwise_agreement(groups, [-r for r in ref], ref, n_boot=20)["agreement"] == 0.0
    r = pairwise_agreement(groups, [7.0] * 7, ref, n_boot=20)
    assert r["agreement"] == 0.5 and r["n_pairs"] == 6 + 3 and r["n_groups"] == 2


def test_pairs_only_within_a_group_and_only_where_the_reference_differs():
    # across groups the scorer is reversed: that must not count; the tied reference pair (1, 2) is left out
    groups = ["a", "a", "a", "b", "b"]
    ref = [0.9, 0.5, 0.5, 0.1, 0.0]
    scores = [1.0, 0.0, 5.0, 9.0, 8.0]
    r = pairwise_agreement(groups, scores, ref, n_boot=20)
    # group a: (0,1) agree, (0,2) disagree; group b: (3,4) agree -> 2 / 3
    assert r["n_pairs"] == 3
    assert r["agreement"] == pytest.approx(2 / 3)


def test_ties_count_half_and_failures_are_left_out():
    groups = ["a", "a", "a"]
    r = pairwise_agreement(groups, [1.0, 1.0, 0.0], [3, 2, 1], n_boot=20)
    assert r["agreement"] == pytest.approx((0.5 + 1 + 1) / 3)
    r = pairwise_agreement(groups, [1.0, None, 0.0], [3, 2, 1], n_boot=20)
    assert r["n_pairs"] == 1 and r["agreement"] == 1.0


def test_bootstrap_ci_is_over_groups():
    # one group agrees fully, one fully disagrees: resampling groups spreads the CI over [0, 1]
    groups = ["a", "a", "b", "b"]
    r = pairwise_agreement(groups, [1, 0, 0, 1], [1, 0, 1, 0], n_boot=400, seed=1)
    assert r["agreement"] == 0.5
    assert r["ci_low"] == 0.0 and r["ci_high"] == 1.0
    # identical groups: every resample gives the same figure
    same = pairwise_agreement(["a", "a", "b", "b"], [1, 0, 1, 0], [1, 0, 1, 0], n_boot=100)
    assert same["ci_low"] == same["ci_high"] == 1.0
    # more groups of the same mixed kind: the CI narrows and still holds the estimate
    many = pairwise_agreement([g for k in range(200) for g in (k, k)], [v for k in range(200) for v in ((1, 0) if k % 3 else (0, 1))],
                              [v for _ in range(200) for v in (1, 0)], n_boot=300)
    assert many["ci_low"] < many["agreement"] < many["ci_high"]
    assert many["ci_high"] - many["ci_low"] < 0.3


def test_no_pairs_and_length_mismatch():
    r = pairwise_agreement(["a", "b"], [1, 2], [1, 2])
    assert r["agreement"] is None and r["n_pairs"] == 0
    with pytest.raises(ValueError, match="length mismatch"):
        pairwise_agreement(["a"], [1, 2], [1])


def test_ranking_agreement_names_each_scorer():
    r = ranking_agreement(["a"] * 3, [3, 2, 1], {"judge": [3, 2, 1], "length": [1, 2, 3]}, n_boot=10)
    assert r["judge"]["agreement"] == 1.0 and r["length"]["agreement"] == 0.0


def test_the_demo_report_sentence_names_the_verifiers_ranking_agreement():
    import numpy as np

    from heartgrpo.judge.verifier.model import Verifier, VerifierJudge

    info = {"eval": {"graded": "graded_eval.jsonl.gz", "kappa": 0.485, "pairwise": {"expected_score": 0.657, "length": 0.601}}}
    text = VerifierJudge(Verifier(np.zeros(16, dtype=np.float32), 0.0, {}, 4, info=info)).rewards_description
    assert "kappa 0.485" in text and "65.7% of pairs" in text and "answer length alone: 60.1%" in text
    older = VerifierJudge(Verifier(np.zeros(16, dtype=np.float32), 0.0, {}, 4, info={"eval": {"kappa": 0.485}})).rewards_description
    assert "kappa 0.485" in older and "of pairs" not in older
