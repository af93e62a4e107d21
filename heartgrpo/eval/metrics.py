"""Evaluation metrics: HealthBench scoring, the paper's pass/accuracy/F1, bootstrap, McNemar.

Pure functions over points and verdicts (HealthBench semantics: for a negative criterion
``met=True`` means the undesirable behaviour IS present; ``None`` is a judge failure).
Standard library only at import time; numpy is imported inside the bootstrap functions.

HealthBench (the reference scorer)::

    example score  = sum(points of met criteria, negatives included) / sum(positive points)
    overall score  = mean of example scores, clipped to [0, 1]
    tag score      = the same two steps with the criteria carrying the tag (``axis:...``), or
                     the examples carrying it (``theme:...``, an example-level tag)

The paper's metrics, stated openly::

    normalized = (total - min) / (max - min),  total = sum(points of met criteria),
                 min = sum(negative points), max = sum(positive points)
    pass       = normalized > 0.5   (exactly 0.5 is not a pass)
    accuracy   = pass rate
    F1         = 2a / (1 + a)       (the paper's ground truth is all-positive, so precision = 1
                                     and recall = accuracy; F1 adds no information)

Example:
    >>> example_score([7, 5, 10, -6], [True, False, True, True])
    0.5
    >>> paper_pass([2, -2], [True, True])
    False
    >>> mcnemar([True] * 10 + [False] * 2, [False] * 10 + [True] * 2)["p_value"]  # doctest: +ELLIPSIS
    0.0385...
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

from heartgrpo import rewards

__all__ = [
    "F1_NOTE",
    "aggregate",
    "clipped_mean",
    "example_score",
    "mcnemar",
    "paired_bootstrap",
    "paper_f1",
    "paper_metrics",
    "paper_normalized_score",
    "paper_pass",
    "tag_example_scores",
]

#: The note that goes next to every F1 number computed the paper's way.
F1_NOTE = (
    "F1 = 2a/(1+a): the paper's ground truth is all-positive (every prompt should pass), so "
    "precision is 1 and recall equals accuracy a; this F1 is a monotone function of accuracy."
)

#: Example-level tag prefixes and criterion-level tag prefixes reported per tag: every family
#: simple-evals reports for HealthBench (``theme:``, ``physician_agreed_category:`` on examples;
#: ``axis:``, ``level:``, ``cluster:`` on criteria), plus the project's ``heart_theme:``.
EXAMPLE_TAG_PREFIXES: tuple[str, ...] = ("theme:", "physician_agreed_category:", "heart_theme:")
CRITERION_TAG_PREFIXES: tuple[str, ...] = ("axis:", "level:", "cluster:")


def example_score(points: Sequence[float], met: Sequence[bool | None]) -> float | None:
    """HealthBench per-example score: sum(points of met criteria) / sum(positive points).

    Not clipped (clipping happens on the mean). ``None`` when a verdict is ``None`` (judge
    failure) or when no criterion has positive points (HealthBench skips such a tag score:
    :data:`heartgrpo.rewards.NoPositivePolicy` ``"none"``). The formula itself lives in
    :func:`heartgrpo.rewards.score` (strategy ``healthbench``).

    >>> example_score([7, 5, 10, -6], [True, False, True, True])  # 11 / 22
    0.5
    >>> example_score([-3], [True]) is None
    True
    """
    if len(points) == 0:
        if len(met) != 0:
            raise ValueError(f"length mismatch: 0 points but {len(met)} verdicts")
        return None
    return rewards.score("healthbench", points, met, no_positive="none")


def clipped_mean(scores: Sequence[float]) -> float:
    """mean(scores) clipped to [0, 1] (HealthBench's overall score)."""
    if len(scores) == 0:
        raise ValueError("no scores to average")
    return min(1.0, max(0.0, math.fsum(scores) / len(scores)))


def _as_floats(scores: Iterable[Any], name: str) -> list[float]:
    out = []
    for i, s in enumerate(scores):
        if s is None or isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise ValueError(
                f"{name}[{i}] is {s!r}; pass finite numbers only (drop unscorable examples first "
                "and report them as excluded)"
            )
        out.append(float(s))
    return out


def aggregate(scores: Sequence[float], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Clipped mean with a seeded percentile-bootstrap 95% CI.

    Returns ``{"score", "ci_low", "ci_high", "n"}``. Each bootstrap replicate resamples the
    examples with replacement and takes the clipped mean; the CI is the 2.5th and 97.5th
    percentile of the replicates. No scores: every value ``None`` and ``n = 0``.
    ``n_bootstrap=0``: no CI (``None``). One score: the CI collapses onto it.

    >>> aggregate([1.0, 1.0, 1.0])
    {'score': 1.0, 'ci_low': 1.0, 'ci_high': 1.0, 'n': 3}
    """
    values = _as_floats(scores, "scores")
    if not values:
        return {"score": None, "ci_low": None, "ci_high": None, "n": 0}
    point = clipped_mean(values)
    if n_bootstrap <= 0:
        return {"score": point, "ci_low": None, "ci_high": None, "n": len(values)}
    import numpy as np

    arr = np.asarray(values)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), size=(n_bootstrap, len(arr)))
    reps = np.clip(arr[idx].mean(axis=1), 0.0, 1.0)
    low, high = np.percentile(reps, [2.5, 97.5])
    return {"score": point, "ci_low": float(low), "ci_high": float(high), "n": len(values)}


def paired_bootstrap(
    a_scores: Sequence[float], b_scores: Sequence[float], n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Difference of clipped means ``a - b`` on the same examples, with a paired bootstrap CI.

    Each replicate resamples example indices once and applies them to both models, so the
    between-example variance cancels. ``p_value`` is the two-sided bootstrap p-value
    2 * min(P(diff* <= 0), P(diff* >= 0)), capped at 1.

    Returns ``{"diff", "ci_low", "ci_high", "p_value", "n"}``.
    """
    a, b = _as_floats(a_scores, "a_scores"), _as_floats(b_scores, "b_scores")
    if len(a) != len(b):
        raise ValueError(f"paired scores need equal lengths, got {len(a)} and {len(b)}")
    if not a:
        return {"diff": None, "ci_low": None, "ci_high": None, "p_value": None, "n": 0}
    diff = clipped_mean(a) - clipped_mean(b)
    import numpy as np

    arr_a, arr_b = np.asarray(a), np.asarray(b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(max(n_bootstrap, 1), len(a)))
    reps = np.clip(arr_a[idx].mean(axis=1), 0, 1) - np.clip(arr_b[idx].mean(axis=1), 0, 1)
    low, high = np.percentile(reps, [2.5, 97.5])
    p = min(1.0, 2.0 * min(float((reps <= 0).mean()), float((reps >= 0).mean())))
    return {"diff": diff, "ci_low": float(low), "ci_high": float(high), "p_value": p, "n": len(a)}


def tag_example_scores(
    points: Sequence[float],
    met: Sequence[bool | None],
    criterion_tags: Sequence[Sequence[str]],
    example_tags: Sequence[str] = (),
    criterion_prefixes: Sequence[str] = CRITERION_TAG_PREFIXES,
    example_prefixes: Sequence[str] = EXAMPLE_TAG_PREFIXES,
) -> dict[str, float | None]:
    """Per-tag scores of one example, HealthBench style.

    Example-level tags (``theme:``, ``physician_agreed_category:``) get the example's whole
    score; criterion-level tags (``axis:``, ``level:``, ``cluster:``) get :func:`example_score`
    over the criteria carrying the tag. Tags whose
    criteria have no positive points are left out (as HealthBench does); ``None`` marks a tag
    score that a judge failure made unscorable.

    >>> tag_example_scores([5, 5], [True, False], [["axis:accuracy"], ["axis:completeness"]], ["theme:hedging"])
    {'theme:hedging': 0.5, 'axis:accuracy': 1.0, 'axis:completeness': 0.0}
    """
    if not (len(points) == len(met) == len(criterion_tags)):
        raise ValueError(
            f"length mismatch: {len(points)} points, {len(met)} verdicts, {len(criterion_tags)} tag lists"
        )
    out: dict[str, float | None] = {}
    whole = example_score(points, met)
    for tag in example_tags:
        if tag.startswith(tuple(example_prefixes)) and any(p > 0 for p in points):
            out[tag] = whole
    by_tag: dict[str, list[int]] = {}
    for j, tags in enumerate(criterion_tags):
        for tag in tags:
            if tag.startswith(tuple(criterion_prefixes)):
                by_tag.setdefault(tag, []).append(j)
    for tag, idx in by_tag.items():
        sub_points = [points[j] for j in idx]
        if any(p > 0 for p in sub_points):
            out[tag] = example_score(sub_points, [met[j] for j in idx])
    return out


def paper_normalized_score(points: Sequence[float], met: Sequence[bool | None]) -> float | None:
    """The paper's (total - min) / (max - min); ``None`` on a judge failure or when max == min."""
    if len(points) != len(met):
        raise ValueError(f"length mismatch: {len(points)} points but {len(met)} verdicts")
    if any(m is None for m in met):
        return None
    low = math.fsum(p for p in points if p < 0)
    high = math.fsum(p for p in points if p > 0)
    if high == low:
        return None
    total = math.fsum(p for p, m in zip(points, met) if m)
    return (total - low) / (high - low)


def paper_pass(points: Sequence[float], met: Sequence[bool | None]) -> bool | None:
    """The paper's per-prompt pass: normalized score strictly above 0.5; ``None`` if unscorable.

    >>> paper_pass([1, 1], [True, False])  # exactly 0.5
    False
    """
    norm = paper_normalized_score(points, met)
    return None if norm is None else norm > 0.5


def paper_f1(accuracy: float) -> float:
    """The paper's F1 given accuracy a: 2a / (1 + a) (see :data:`F1_NOTE`)."""
    return 2.0 * accuracy / (1.0 + accuracy)


def paper_metrics(passes: Sequence[bool], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Accuracy (pass rate) with a bootstrap CI, the paper's F1 and :data:`F1_NOTE`."""
    for i, p in enumerate(passes):
        if not isinstance(p, bool):
            raise ValueError(f"passes[{i}] is {p!r}; drop unscorable prompts first and report them")
    agg = aggregate([float(p) for p in passes], n_bootstrap=n_bootstrap, seed=seed)
    acc = agg["score"]
    return {
        "accuracy": acc,
        "ci_low": agg["ci_low"],
        "ci_high": agg["ci_high"],
        "f1": None if acc is None else paper_f1(acc),
        "n": agg["n"],
        "note": F1_NOTE,
    }


def _outcome(v: Any, name: str, i: int) -> bool:
    """A pass/fail outcome as ``bool``: bools, numpy bools and the integers 0/1 are accepted."""
    if isinstance(v, bool):
        return v
    if getattr(getattr(v, "dtype", None), "kind", None) == "b" and getattr(v, "shape", None) == ():
        return bool(v)  # numpy.bool_ (what a pandas boolean column yields)
    if isinstance(v, numbers.Integral) and v in (0, 1):
        return bool(v)
    raise ValueError(
        f"{name}[{i}] is {v!r}; pass True/False or 0/1 outcomes (drop unscorable prompts from both runs first)"
    )


def mcnemar(a_pass: Sequence[Any], b_pass: Sequence[Any]) -> dict[str, Any]:
    """McNemar's test on paired pass/fail outcomes of two models on the same prompts.

    b = #(A pass, B fail), c = #(A fail, B pass). With b + c < 25 the exact two-sided binomial
    test: p = min(1, 2 * P(X <= min(b, c))), X ~ Binomial(b + c, 1/2), statistic = min(b, c).
    Otherwise the chi-square test with continuity correction: statistic = (|b - c| - 1)^2 / (b + c),
    p = P(chi2_1 > statistic) = erfc(sqrt(statistic / 2)).

    An outcome is ``True``/``False``, a numpy boolean or the integer 0/1 (a pandas column);
    anything else (``None``, NaN, 2, "yes") is an error that names the position.

    >>> r = mcnemar([True] * 10 + [False] * 2, [False] * 10 + [True] * 2)
    >>> r["b"], r["c"], r["method"], round(r["p_value"], 4)
    (10, 2, 'exact binomial', 0.0386)
    """
    if len(a_pass) != len(b_pass):
        raise ValueError(f"paired outcomes need equal lengths, got {len(a_pass)} and {len(b_pass)}")
    a_pass = [_outcome(v, "a_pass", i) for i, v in enumerate(a_pass)]
    b_pass = [_outcome(v, "b_pass", i) for i, v in enumerate(b_pass)]
    b = sum(1 for x, y in zip(a_pass, b_pass) if x and not y)
    c = sum(1 for x, y in zip(a_pass, b_pass) if y and not x)
    n = b + c
    if n < 25:
        k = min(b, c)
        tail = math.fsum(math.comb(n, i) for i in range(k + 1)) / 2.0**n if n else 1.0
        return {"b": b, "c": c, "statistic": float(k), "p_value": min(1.0, 2.0 * tail), "method": "exact binomial"}
    stat = (abs(b - c) - 1.0) ** 2 / n
    return {
        "b": b,
        "c": c,
        "statistic": stat,
        "p_value": math.erfc(math.sqrt(stat / 2.0)),
        "method": "chi-square with continuity correction",
    }

