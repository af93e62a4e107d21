"""Reward beside completion length: does a training-reward rise survive controlling for length?

A judge can reward length instead of content, so a rising step reward is read beside the step's
mean completion length in tokens (TRL's ``completions/mean_length``, :data:`LENGTH_KEY`). Per
step t, r_t is the step reward and L_t the step mean length. Pure functions (numpy imported
inside the bootstraps).

* :func:`pearson` — the Pearson correlation
  rho = sum((L_t - mean L)(r_t - mean r)) / sqrt(sum((L_t - mean L)^2) * sum((r_t - mean r)^2));
* :func:`correlation_ci` — rho with a seeded percentile-bootstrap 95% CI that resamples steps
  (pairs (L_t, r_t)) with replacement; replicates with a constant series are left out;
* :func:`length_residuals` — the residual of the least-squares line of reward on length,
  e_t = r_t - (a + b L_t) with b = sum((L_t - mean L)(r_t - mean r)) / sum((L_t - mean L)^2) and
  a = mean r - b mean L; with a constant length b = 0, so e_t = r_t - mean r;
* :func:`length_controlled_trend` — the rise of reward, of length and of the residual, each by
  :func:`heartgrpo.eval.trend.quarter_change` (last quarter of steps minus first, bootstrap CI
  over steps), and the correlation. The residual's CI holds the fitted line fixed.

The reward rise *survives controlling for length* when the reward changed measurably (its CI
excludes 0) and the residual's change has a CI that excludes 0 on the same side. When reward is
a straight-line function of length the residuals are 0 up to rounding; residuals within
1e-9 x (the spread of the reward) of 0 are set to 0, so that rounding noise reads as no rise.

Example:
    >>> rows = [{"step": i, "reward": 0.01 * (10 + 2 * i), "completions/mean_length": 10.0 + 2 * i} for i in range(12)]
    >>> t = length_controlled_trend(rows, n_bootstrap=200)
    >>> round(t["reward"]["diff"], 3), t["length"]["diff"], round(t["correlation"]["r"], 6)
    (0.18, 18.0, 1.0)
    >>> t["residual"]["diff"], t["residual"]["excludes_zero"], t["survives"]
    (0.0, False, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from heartgrpo.eval.trend import finite_values, quarter_change
from heartgrpo.rubrics import is_finite_number

__all__ = ["LENGTH_KEY", "correlation_ci", "length_controlled_trend", "length_residuals", "pearson"]

#: the per-step mean completion length in tokens, as TRL's GRPOTrainer logs it
LENGTH_KEY = "completions/mean_length"
_SNAP = 1e-9


def _centered(xs: Sequence[float]) -> list[float]:
    m = math.fsum(xs) / len(xs)
    return [x - m for x in xs]


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation of two equal-length series; None when either is constant (or n < 2).

    >>> pearson([1, 2, 3, 4], [2, 4, 6, 8.5]) > 0.99, pearson([1, 2, 3], [5, 5, 5])
    (True, None)
    """
    xs, ys = finite_values(x, "x"), finite_values(y, "y")
    if len(xs) != len(ys):
        raise ValueError(f"length mismatch: {len(xs)} and {len(ys)} values")
    if len(xs) < 2:
        return None
    dx, dy = _centered(xs), _centered(ys)
    sxx, syy = math.fsum(v * v for v in dx), math.fsum(v * v for v in dy)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, math.fsum(a * b for a, b in zip(dx, dy)) / math.sqrt(sxx * syy)))


def correlation_ci(x: Sequence[float], y: Sequence[float], n_bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """:func:`pearson` with its 95% percentile-bootstrap CI over steps (pairs resampled with
    replacement; a replicate in which either series is constant is left out, and ``n_valid``
    counts those kept). ``r``, ``ci_low`` and ``ci_high`` are None when the correlation is undefined.

    >>> c = correlation_ci([1, 2, 3, 4, 5, 6], [1, 3, 2, 5, 4, 6], n_bootstrap=300)
    >>> round(c["r"], 3), c["ci_low"] < c["r"] < c["ci_high"], c["n"]
    (0.886, True, 6)
    """
    xs, ys = finite_values(x, "x"), finite_values(y, "y")
    r = pearson(xs, ys)
    out: dict[str, Any] = {"r": r, "ci_low": None, "ci_high": None, "n": len(xs), "n_valid": 0}
    if r is None:
        return out
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = np.asarray(xs), np.asarray(ys)
    idx = rng.integers(0, len(xs), size=(n_bootstrap, len(xs)))
    ra, rb = a[idx], b[idx]
    ra, rb = ra - ra.mean(axis=1, keepdims=True), rb - rb.mean(axis=1, keepdims=True)
    sxx, syy = (ra * ra).sum(axis=1), (rb * rb).sum(axis=1)
    ok = (sxx > 0) & (syy > 0)
    reps = np.clip((ra * rb).sum(axis=1)[ok] / np.sqrt(sxx[ok] * syy[ok]), -1.0, 1.0)
    out["n_valid"] = int(ok.sum())
    if reps.size:
        out["ci_low"], out["ci_high"] = (float(v) for v in np.percentile(reps, [2.5, 97.5]))
    return out


def length_residuals(reward: Sequence[float], length: Sequence[float]) -> dict[str, Any]:
    """Residuals e_t = r_t - (a + b L_t) of the least-squares line of reward on length (formula
    in the module docstring); residuals within 1e-9 x max|r_t - mean r| of 0 are set to 0.
    Returns ``{"residuals", "slope", "intercept"}`` (``slope`` is reward per token).

    >>> r = length_residuals([1.0, 2.0, 4.0], [10.0, 20.0, 30.0])
    >>> [round(e, 3) for e in r["residuals"]], r["slope"]
    ([0.167, -0.333, 0.167], 0.15)
    >>> length_residuals([1.0, 3.0], [7.0, 7.0])["residuals"]
    [-1.0, 1.0]
    """
    rs, ls = finite_values(reward, "reward"), finite_values(length, "length")
    if len(rs) != len(ls) or not rs:
        raise ValueError(f"need equal, non-zero lengths, got {len(rs)} rewards and {len(ls)} lengths")
    dl, dr = _centered(ls), _centered(rs)
    sll = math.fsum(v * v for v in dl)
    slope = math.fsum(a * b for a, b in zip(dl, dr)) / sll if sll > 0 else 0.0
    intercept = math.fsum(rs) / len(rs) - slope * math.fsum(ls) / len(ls)
    spread = max(abs(v) for v in dr)
    res = [e - slope * d for e, d in zip(dr, dl)]
    return {"residuals": [0.0 if abs(e) <= _SNAP * spread else e for e in res], "slope": slope, "intercept": intercept}


def _points(rows: Sequence[Mapping[str, Any]], reward_key: str, length_key: str) -> list[tuple[int, float, float]]:
    return [(int(r.get("step", i)), float(r[reward_key]), float(r[length_key])) for i, r in enumerate(rows)
            if is_finite_number(r.get(reward_key)) and is_finite_number(r.get(length_key))]


def length_controlled_trend(rows: Sequence[Mapping[str, Any]], reward_key: str = "reward", length_key: str = LENGTH_KEY,
                            n_bootstrap: int = 2000, seed: int = 0) -> dict[str, Any] | None:
    """Reward, length and length-controlled changes over the steps of a GRPO log that carry both
    ``reward_key`` and ``length_key`` (other rows skipped); None when fewer than 4 steps do.

    Returns ``{"reward", "length", "residual"}`` (each a :func:`quarter_change` result),
    ``"correlation"`` (:func:`correlation_ci`), ``"slope"`` (reward per token of the fitted line),
    ``"survives"`` (True / False; None when the reward itself did not change measurably),
    ``"n"``, ``"length_min"``, ``"length_max"``, ``"first_steps"`` and ``"last_steps"``. With a
    constant length (every completion cut at ``max_completion_length``, say) the control is void:
    the residual is the reward itself, and a rise "survives" because length could not move.
    """
    pts = _points(rows, reward_key, length_key)
    if len(pts) < 4:
        return None
    rs, ls = [p[1] for p in pts], [p[2] for p in pts]
    fit = length_residuals(rs, ls)
    reward = quarter_change(rs, n_bootstrap=n_bootstrap, seed=seed)
    residual = quarter_change(fit["residuals"], n_bootstrap=n_bootstrap, seed=seed)
    survives = None
    if reward["excludes_zero"]:
        up = reward["diff"] > 0
        survives = residual["ci_low"] > 0 if up else residual["ci_high"] < 0
    q = reward["n_first"]
    return {"reward": reward, "length": quarter_change(ls, n_bootstrap=n_bootstrap, seed=seed), "residual": residual,
            "correlation": correlation_ci(ls, rs, n_bootstrap=n_bootstrap, seed=seed), "slope": fit["slope"],
            "survives": survives, "n": len(pts), "reward_key": reward_key, "length_key": length_key,
            "length_min": min(ls), "length_max": max(ls),
            "first_steps": [pts[0][0], pts[q - 1][0]], "last_steps": [pts[-q][0], pts[-1][0]]}
