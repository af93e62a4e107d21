"""Reward strategies: hand-computed table cases, properties, errors and import weight."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartgrpo import rewards
from heartgrpo.rewards import STRATEGIES, VERDICT_STRATEGIES, likert, score, score_group

LN26 = math.log(26)


# ---------------------------------------------------------------- table tests (by hand)

@pytest.mark.parametrize(
    "strategy,points,met,expected",
    [
        # HealthBench reference unit case: (7 + 10 - 6) / 22
        ("healthbench", [7, 5, 10, -6], [True, False, True, True], 11 / 22),
        ("healthbench", [5, -5], [False, True], -1.0),  # not clipped per example
        ("healthbench", [2, 2], [True, True], 1.0),
        ("binary", [5, 3, -2], [True, True, False], 1.0),
        ("binary", [5, 3, -2], [True, True, True], 0.0),
        ("binary", [5, 3, -2], [True, False, False], 0.0),
        # hybrid: s=1, rho=0 -> 15 + 5
        ("hybrid", [5, 3, -2], [True, True, False], 20.0),
        # s=0.5, rho=0.5 -> 7.5 - 2.25 = 5.25, no bonus
        ("hybrid", [5, 5, -1, -1], [True, False, True, False], 5.25),
        # s=0, rho=1 -> max(0, -4.5) = 0
        ("hybrid", [5, -2], [False, True], 0.0),
        # complexity, n_c=9, s=1: 20 * (1 + 0.2 ln10 / ln26)
        ("complexity", [1] * 9, [True] * 9, 20 * (1 + 0.2 * math.log(10) / LN26)),
        # complexity, s=0.5, rho=0.5 (n_c=4): 20 * 0.25^1.2 * (1 + 0.2 ln5/ln26)
        ("complexity", [5, 5, -1, -1], [True, False, True, False], 20 * 0.25**1.2 * (1 + 0.2 * math.log(5) / LN26)),
        # rar_explicit with inferred categories: essential(5) met, important(3) missed,
        # optional(1) met, pitfall(-2) avoided -> (1 + 0.3 + 0.9) / (1 + 0.7 + 0.3 + 0.9)
        ("rar_explicit", [5, 3, 1, -2], [True, False, True, False], 2.2 / 2.9),
        # pitfall triggered counts as unsatisfied
        ("rar_explicit", [5, -2], [True, True], 1.0 / 1.9),
    ],
)
def test_formula_table(strategy, points, met, expected):
    assert score(strategy, points, met) == pytest.approx(expected, rel=1e-12)


def test_paper_small_denominators_use_max_one():
    # s = 0.5 / max(0.5, 1) = 0.5 (paper's max(., 1) guard); rho = 0.5 / max(0.5, 1)
    assert rewards.positive_fraction([0.5], [True]) == pytest.approx(0.5)
    assert rewards.pitfall_fraction([1, -0.5], [True, True]) == pytest.approx(0.5)
    assert rewards.pitfall_fraction([1, 2], [True, True]) == 0.0


def test_rar_explicit_explicit_categories_override_points():
    # Same points, categories say the first is optional: (0.3) / (0.3 + 0.7)
    got = score("rar_explicit", [5, 5], [True, False], categories=["optional", "important"])
    assert got == pytest.approx(0.3 / 1.0)


def test_normalize_option():
    assert score("hybrid", [1], [True], normalize=True) == 1.0
    full = score("complexity", [1] * 25, [True] * 25)
    assert score("complexity", [1] * 25, [True] * 25, normalize=True) == pytest.approx(full / 25)


def test_complexity_clipped_at_25():
    # n_c = 200 makes the factor 1 + 0.2 ln201/ln26 = 1.326 > 1.25, so the cap binds
    assert score("complexity", [1] * 200, [True] * 200) == 25.0


def test_likert():
    assert likert(1) == 0.0 and likert(10) == 1.0 and likert(4) == pytest.approx(1 / 3)
    assert likert(None) is None
    assert likert(3, low=0, high=4) == 0.75
    with pytest.raises(ValueError, match="outside"):
        likert(11)
    with pytest.raises(ValueError, match="finite"):
        likert(float("nan"))


# ---------------------------------------------------------------- None semantics and errors

@pytest.mark.parametrize("strategy", [n for n, s in VERDICT_STRATEGIES.items() if not s.group])
def test_none_verdict_gives_none(strategy):
    assert score(strategy, [5, 3, -1], [True, None, False]) is None


def test_group_none_only_affects_that_completion():
    got = score_group("criterion_variance", [5, 5], [[True, None], [True, True], [False, False]])
    assert got[0] is None and got[1] is not None and got[2] is not None
    got = score_group("hybrid", [5, 5], [[True, None], [True, True]])
    assert got == [None, 20.0]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        score("nope", [1], [True])
    with pytest.raises(ValueError, match="2 points but 1 verdicts"):
        score("binary", [1, 2], [True])
    with pytest.raises(ValueError, match="points is empty"):
        score("binary", [], [])
    with pytest.raises(ValueError, match=r"met\[0\]"):
        score("binary", [1], ["yes"])
    with pytest.raises(ValueError, match=r"points\[1\]"):
        score("binary", [1, float("inf")], [True, True])
    with pytest.raises(ValueError, match="takes no option"):
        score("binary", [1], [True], normalize=True)
    with pytest.raises(ValueError, match="score_group"):
        score("criterion_variance", [1], [True])
    with pytest.raises(ValueError, match="3 points but 2 categories"):
        score("rar_explicit", [1, 2, 3], [True] * 3, categories=["essential", "optional"])
    with pytest.raises(ValueError, match="unknown category"):
        score("rar_explicit", [1], [True], categories=["vital"])
    with pytest.raises(ValueError, match="floor"):
        score_group("criterion_variance", [1], [[True]], floor=2)


def test_every_strategy_documents_its_formula():
    for name, strat in STRATEGIES.items():
        assert name in strat.formula.split("=")[0] or name.split("_")[0] in strat.formula, name
        assert "=" in strat.formula


# ---------------------------------------------------------------- criterion_variance

def test_criterion_variance_weights_by_hand():
    # criterion 0 split 1/1 in a group of 2 -> std 0.5 -> weight 5 * (0.2 + 0.8) = 5
    # criterion 1 met by all -> std 0 -> weight 5 * 0.2 = 1
    got = score_group("criterion_variance", [5, 5], [[True, True], [False, True]], floor=0.2)
    assert got == pytest.approx([6 / 6, 1 / 6])


def test_criterion_variance_concentrates_on_discriminating_criteria():
    met = [[True, True, False], [True, False, False], [True, True, True], [True, False, True]]
    hb = score_group("healthbench", [5, 5, 5], met)
    cv = score_group("criterion_variance", [5, 5, 5], met, floor=0.0)
    # with floor 0 the always-met criterion contributes nothing: best-vs-worst spread grows
    assert (max(cv) - min(cv)) > (max(hb) - min(hb))


verdict = st.booleans()


@st.composite
def rubric_group(draw, allow_none=False):
    n = draw(st.integers(1, 12))
    points = draw(st.lists(st.sampled_from([-2, -1, 1, 2, 3, 4, 5, 7, 10]), min_size=n, max_size=n))
    if not any(p > 0 for p in points):
        points[0] = 5
    g = draw(st.integers(1, 8))
    elem = st.one_of(st.none(), verdict) if allow_none else verdict
    met = draw(st.lists(st.lists(elem, min_size=n, max_size=n), min_size=g, max_size=g))
    return points, met


@settings(max_examples=200, deadline=None)
@given(rubric_group(allow_none=True))
def test_floor_one_equals_healthbench(case):
    points, met = case
    cv = score_group("criterion_variance", points, met, floor=1.0)
    hb = score_group("healthbench", points, met)
    assert len(cv) == len(hb)
    for a, b in zip(cv, hb):
        assert (a is None) == (b is None)
        if a is not None:
            assert a == pytest.approx(b, abs=1e-12)


# ---------------------------------------------------------------- properties

BOUNDS = {"binary": (0, 1), "rar_explicit": (0, 1), "hybrid": (0, 20), "complexity": (0, 25)}


@settings(max_examples=300, deadline=None)
@given(rubric_group())
def test_bounds(case):
    points, met = case
    for row in met:
        for name, (lo, hi) in BOUNDS.items():
            v = score(name, points, row)
            assert lo <= v <= hi, (name, v)
        hb = score("healthbench", points, row)
        assert hb <= 1.0 + 1e-12
        assert hb >= -sum(-p for p in points if p < 0) / sum(p for p in points if p > 0) - 1e-12


MONOTONE = ["binary", "healthbench", "rar_explicit", "hybrid", "complexity"]


@settings(max_examples=300, deadline=None)
@given(rubric_group(), st.data())
def test_monotone_in_met_positives_and_anti_monotone_in_pitfalls(case, data):
    points, met = case
    row = list(met[0])
    j = data.draw(st.integers(0, len(points) - 1))
    off, on = list(row), list(row)
    off[j], on[j] = False, True
    for name in MONOTONE:
        lo, hi = score(name, points, off), score(name, points, on)
        if points[j] > 0:
            assert hi >= lo - 1e-12, name  # meeting a positive criterion never hurts
        else:
            assert hi <= lo + 1e-12, name  # triggering a pitfall never helps


# ---------------------------------------------------------------- import weight

def test_import_is_light():
    code = (
        "import sys, heartgrpo.rewards, heartgrpo.rubrics, heartgrpo.rewards.diagnostics, heartgrpo.answer_format;"
        "heavy=[m for m in ('torch','transformers','trl','openai','numpy','datasets') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
