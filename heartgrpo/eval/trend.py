"""Statistics of training curves: did a reward rise, when did a score reach a level, did one
strategy beat another across seeds.

Pure functions (numpy imported inside the bootstrap).

* :func:`quarter_change` — mean of the last quarter of steps minus the first quarter's, with a
  seeded percentile-bootstrap 95% CI that resamples steps within each quarter independently
  (steps are the units; step 0's row, logged before any update, counts as a step like the others);
* :func:`steps_to_threshold` — the first step at which a curve reaches a threshold;
* :func:`paired_seed_test` — mean of paired differences across seeds, its 95% t-interval and the
  exact two-sided sign-flip permutation p-value (all 2^n sign patterns for n <= 16 pairs).

Example:
    >>> r = quarter_change([0.1, 0.2, 0.1, 0.2, 0.5, 0.6, 0.5, 0.6], n_bootstrap=200)
    >>> round(r["diff"], 3), r["n_first"], r["ci_low"] > 0
    (0.4, 2, True)
    >>> steps_to_threshold([0, 10, 20], [0.1, 0.6, 0.7], 0.5)
    10
    >>> paired_seed_test([0.6, 0.7, 0.65], [0.5, 0.5, 0.5])["p_value"]
    0.25
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from heartgrpo.rubrics import is_finite_number

__all__ = ["finite_values", "paired_seed_test", "quarter_change", "reward_trend", "steps_to_threshold", "t_interval"]

_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}  # fmt: skip


def finite_values(values: Sequence[Any], name: str) -> list[float]:
    """``values`` as floats; a bool, a non-number, NaN, infinity or an integer too large for a
    float (:func:`heartgrpo.rubrics.is_finite_number`) raises ``ValueError`` naming ``name[i]``.

    >>> finite_values([1, 2.5], "x")
    [1.0, 2.5]
    """
    out = []
    for i, v in enumerate(values):
        if not is_finite_number(v):
            raise ValueError(f"{name}[{i}] is {v!r}; expected a finite number")
        out.append(float(v))
    return out


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): 95% Student-t interval of the mean (conservative table between
    tabulated degrees of freedom); one value gives (v, v, v).

    >>> [round(v, 3) for v in t_interval([1.0, 2.0, 3.0])]
    [2.0, -0.484, 4.484]
    """
    xs = finite_values(values, "values")
    if not xs:
        raise ValueError("t_interval needs at least one value")
    m = math.fsum(xs) / len(xs)
    if len(xs) == 1:
        return m, m, m
    sd = math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    df = len(xs) - 1
    t = 1.960 if df > 120 else _T975[max(k for k in _T975 if k <= df)]
    half = t * sd / math.sqrt(len(xs))
    return m, m - half, m + half


def quarter_change(values: Sequence[float], n_bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean of the last quarter of ``values`` minus the mean of the first quarter.

    A quarter holds floor(n / 4) steps (at least 1; needs n >= 4). The 95% CI is the 2.5th and
    97.5th percentile of ``n_bootstrap`` replicates, each resampling the first-quarter steps and
    the last-quarter steps with replacement, independently. ``excludes_zero`` is True when the
    whole CI lies on one side of 0.

    Returns ``{"first", "last", "diff", "ci_low", "ci_high", "excludes_zero", "n_first", "n_last"}``.
    """
    xs = finite_values(values, "values")
    if len(xs) < 4:
        raise ValueError(f"quarter_change needs at least 4 steps, got {len(xs)}")
    q = max(1, len(xs) // 4)
    first, last = xs[:q], xs[-q:]
    diff = math.fsum(last) / q - math.fsum(first) / q
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = np.asarray(first), np.asarray(last)
    reps = b[rng.integers(0, q, size=(n_bootstrap, q))].mean(axis=1) - a[rng.integers(0, q, size=(n_bootstrap, q))].mean(axis=1)
    low, high = (float(v) for v in np.percentile(reps, [2.5, 97.5]))
    return {"first": math.fsum(first) / q, "last": math.fsum(last) / q, "diff": diff, "ci_low": low, "ci_high": high,
            "excludes_zero": low > 0 or high < 0, "n_first": q, "n_last": q}


def reward_trend(rows: Sequence[Mapping[str, Any]], key: str = "reward", n_bootstrap: int = 2000, seed: int = 0) -> dict[str, Any] | None:
    """:func:`quarter_change` of ``key`` over the per-step rows of a GRPO log (TRL's ``reward``
    is the weighted sum of the reward functions, mean over the step's completions); rows without
    a finite value are skipped. None when fewer than 4 steps have one. Adds ``key``,
    ``first_steps`` and ``last_steps`` (the step numbers of each quarter, first and last).

    >>> reward_trend([{"step": i, "reward": 0.1 * i} for i in range(1, 9)], n_bootstrap=100)["first_steps"]
    [1, 2]
    """
    pts = [(r.get("step", i), r[key]) for i, r in enumerate(rows)
           if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool) and math.isfinite(r[key])]
    if len(pts) < 4:
        return None
    out = quarter_change([v for _, v in pts], n_bootstrap=n_bootstrap, seed=seed)
    q = out["n_first"]
    return {**out, "key": key, "first_steps": [int(pts[0][0]), int(pts[q - 1][0])],
            "last_steps": [int(pts[-q][0]), int(pts[-1][0])]}


def steps_to_threshold(steps: Sequence[int], scores: Sequence[float], threshold: float) -> int | None:
    """The first ``steps[i]`` with ``scores[i] >= threshold``; None when the curve never gets there."""
    if len(steps) != len(scores):
        raise ValueError(f"length mismatch: {len(steps)} steps but {len(scores)} scores")
    for s, v in zip(steps, finite_values(scores, "scores")):
        if v >= threshold:
            return int(s)
    return None


def paired_seed_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired comparison of two strategies run on the same seeds: d_i = a_i - b_i.

    Returns ``{"diff", "ci_low", "ci_high", "p_value", "n", "wins"}``: the mean difference, its
    95% t-interval, the exact two-sided sign-flip permutation p-value
    P(|mean(s * d)| >= |mean(d)|) over all sign vectors s (with n pairs the smallest possible
    p is 2 / 2^n), and the number of seeds where a > b.
    """
    xa, xb = finite_values(a, "a"), finite_values(b, "b")
    if len(xa) != len(xb):
        raise ValueError(f"paired values need equal lengths, got {len(xa)} and {len(xb)}")
    if not xa:
        raise ValueError("paired_seed_test needs at least one pair")
    if len(xa) > 16:
        raise ValueError(f"exact sign-flip test over {len(xa)} pairs is too large (at most 16)")
    d = [x - y for x, y in zip(xa, xb)]
    mean, low, high = t_interval(d)
    observed = abs(math.fsum(d)) - 1e-12
    hits = sum(abs(math.fsum(s * x for s, x in zip(signs, d))) >= observed
               for signs in itertools.product((1, -1), repeat=len(d)))
    return {"diff": mean, "ci_low": low, "ci_high": high, "p_value": hits / 2 ** len(d), "n": len(d),
            "wins": sum(x > 0 for x in d)}
