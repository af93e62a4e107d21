"""Agreement of a judge's verdicts with a reference grader's, criterion by criterion and per answer.

One place for the figures that ``heartgrpo verifier eval`` and ``heartgrpo judge validate``
report:

* verdict level: accuracy, Cohen's kappa ``(p_o - p_e) / (1 - p_e)`` with ``p_e`` from the two
  marginals, F1 of "met", the reference's and the judge's rate of "met"; overall and per
  polarity (positive criteria / pitfalls with negative points);
* calibration, when the judge gives probabilities: a reliability table over ``bins`` equal-width
  bins and the expected calibration error ``ECE = sum_b n_b / n * |mean(p)_b - rate(met)_b|``;
* answer level: the HealthBench score of each answer (strategy ``healthbench`` of :func:`heartgrpo.rewards.score`, as :func:`heartgrpo.eval.metrics.example_score`)
  under both sets of verdicts, their Pearson and Spearman correlation and the difference of the
  means (judge minus reference).

    >>> verdict_agreement([True, False, True, False], [True, False, False, False])["kappa"]
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from heartgrpo.rewards import score

__all__ = ["answer_agreement", "cohen_kappa", "f1_score", "full_agreement", "reliability", "verdict_agreement"]


def cohen_kappa(pred: Sequence[bool], truth: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary raters; None when undefined (both raters constant and equal).

    >>> cohen_kappa([True, True, False], [True, True, False])
    1.0
    """
    n = len(pred)
    if n != len(truth):
        raise ValueError(f"length mismatch: {n} predictions, {len(truth)} labels")
    if n == 0:
        return None
    p_o = sum(p == t for p, t in zip(pred, truth)) / n
    a, b = sum(pred) / n, sum(truth) / n
    p_e = a * b + (1 - a) * (1 - b)
    return None if p_e >= 1.0 else (p_o - p_e) / (1 - p_e)


def f1_score(pred: Sequence[bool], truth: Sequence[bool], positive: bool = True) -> float | None:
    """F1 of the class ``positive``: 2 tp / (2 tp + fp + fn); ``None`` when neither predictions
    nor truth hold that class.

    >>> f1_score([True, True, False], [True, False, False]), f1_score([False], [False])
    (0.6666666666666666, None)
    """
    tp = sum(p == positive and t == positive for p, t in zip(pred, truth))
    denom = sum(p == positive for p in pred) + sum(t == positive for t in truth)
    return None if denom == 0 else 2 * tp / denom


def verdict_agreement(pred: Sequence[bool], truth: Sequence[bool]) -> dict[str, Any]:
    """``{"n", "accuracy", "kappa", "f1_met", "met_rate_reference", "met_rate_judge"}``."""
    n = len(pred)
    if n == 0:
        return {"n": 0, "accuracy": None, "kappa": None, "f1_met": None, "met_rate_reference": None, "met_rate_judge": None}
    return {
        "n": n,
        "accuracy": sum(p == t for p, t in zip(pred, truth)) / n,
        "kappa": cohen_kappa(pred, truth),
        "f1_met": f1_score(pred, truth),
        "met_rate_reference": sum(truth) / n,
        "met_rate_judge": sum(pred) / n,
    }


def reliability(prob: Sequence[float], truth: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Reliability table (one row per non-empty bin: ``lo, hi, n, mean_prob, rate_met``) and ECE.

    >>> reliability([0.1, 0.9], [False, True], bins=2)["ece"]
    0.1
    """
    if len(prob) != len(truth):
        raise ValueError(f"length mismatch: {len(prob)} probabilities, {len(truth)} labels")
    rows = []
    ece = 0.0
    n = len(prob)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(prob) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if not idx:
            continue
        mean_p = sum(prob[i] for i in idx) / len(idx)
        rate = sum(truth[i] for i in idx) / len(idx)
        ece += len(idx) / n * abs(mean_p - rate)
        rows.append({"lo": lo, "hi": hi, "n": len(idx), "mean_prob": mean_p, "rate_met": rate})
    return {"bins": rows, "ece": round(ece, 12) if n else None}


def _ranks(xs: Sequence[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def answer_agreement(answers: Sequence[tuple[Sequence[float], Sequence[bool], Sequence[bool]]]) -> dict[str, Any]:
    """Per-answer HealthBench scores under judge and reference verdicts.

    ``answers``: ``(points, judge_met, reference_met)`` per answer. Answers without a positive
    criterion have no score and are left out (counted in ``n_unscored``).
    """
    judge_scores, ref_scores = [], []
    for points, pred, truth in answers:
        j, r = (score("healthbench", points, m, no_positive="none") for m in (pred, truth))
        if j is None or r is None:
            continue
        judge_scores.append(j)
        ref_scores.append(r)
    n = len(judge_scores)
    mean_j = sum(judge_scores) / n if n else None
    mean_r = sum(ref_scores) / n if n else None
    return {
        "n_answers": n,
        "n_unscored": len(answers) - n,
        "pearson": _pearson(judge_scores, ref_scores),
        "spearman": _pearson(_ranks(judge_scores), _ranks(ref_scores)),
        "mean_score_judge": mean_j,
        "mean_score_reference": mean_r,
        "mean_score_difference": None if mean_j is None else mean_j - mean_r,
    }


def full_agreement(
    answers: Sequence[tuple[Sequence[float], Sequence[bool | None], Sequence[bool]]],
    probs: Sequence[Sequence[float]] | None = None,
    bins: int = 10,
) -> dict[str, Any]:
    """Every figure of the module docstring for ``(points, judge_met, reference_met)`` per answer.

    Judge failures (``met=None``) are left out of the verdict figures and counted
    (``judge_failures``); an answer with a failed verdict is left out of the answer figures.
    ``probs`` (the judge's probability of "met", same shape) adds the calibration figures.
    """
    flat: dict[str, tuple[list[bool], list[bool]]] = {"all": ([], []), "positive": ([], []), "pitfall": ([], [])}
    flat_p: list[float] = []
    flat_t: list[bool] = []
    failures = 0
    whole = []
    for k, (points, pred, truth) in enumerate(answers):
        if len(points) != len(pred) or len(points) != len(truth):
            raise ValueError(f"answer {k}: {len(points)} points, {len(pred)} verdicts, {len(truth)} reference verdicts")
        ok = True
        for j, (pt, p, t) in enumerate(zip(points, pred, truth)):
            if p is None:
                failures += 1
                ok = False
                continue
            for name in ("all", "positive" if pt > 0 else "pitfall"):
                flat[name][0].append(p)
                flat[name][1].append(t)
            if probs is not None:
                flat_p.append(float(probs[k][j]))
                flat_t.append(t)
        if ok:
            whole.append((points, pred, truth))
    out: dict[str, Any] = {name: verdict_agreement(*pair) for name, pair in flat.items()}
    out["judge_failures"] = failures
    out["answers"] = answer_agreement(whole)  # type: ignore[arg-type]
    if probs is not None:
        out["calibration"] = reliability(flat_p, flat_t, bins)
    return out
