"""Diagnostics of the GRPO learning signal that each reward strategy produces.

GRPO turns rewards into advantages per group of completions of one prompt (TRL)::

    A_i = r_i - mean(r_group)                         scale_rewards="none"
    A_i = (r_i - mean(r_group)) / (std(r_group) + eps) scale_rewards="group"  (default)
    A_i = (r_i - mean(r_group)) / (std(r_batch) + eps) scale_rewards="batch"

with std the sample std (ddof=1, as ``torch.std``) and eps = 1e-4. A group whose rewards are
all equal gives zero advantages: no learning signal. A per-prompt multiplicative factor c
(the ``complexity`` strategy's 1 + 0.2*ln(1+n_c)/ln 26) cancels under group scaling,
(c r_i - c mean)/(c std) = (r_i - mean)/std, up to eps; it survives under ``none`` and
``batch`` scaling, where it re-weights prompts with many criteria.

Example:
    >>> groups = [([5, 5, -2], [[True, True, False], [True, False, False]])]
    >>> report = diagnose_groups(groups, strategies=["binary", "healthbench"])
    >>> report["binary"]["frac_zero_std"], report["healthbench"]["frac_zero_std"]
    (0.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from heartgrpo.rewards.strategies import VERDICT_STRATEGIES, complexity_factor, score_group

__all__ = ["advantages", "diagnose_groups", "factor_cancellation"]

EPS = 1e-4
Group = tuple[Sequence[float], Sequence[Sequence[bool | None]]]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _std(xs: Sequence[float]) -> float:
    """Sample std (ddof=1), 0 for fewer than two values."""
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def advantages(groups: Sequence[Sequence[float]], scale: str = "group") -> list[list[float]]:
    """GRPO advantages of reward groups under TRL's ``scale_rewards`` (none | group | batch)."""
    if scale not in ("none", "group", "batch"):
        raise ValueError(f"scale must be 'none', 'group' or 'batch', got {scale!r}")
    batch_std = _std([r for g in groups for r in g])
    out = []
    for g in groups:
        m = _mean(g)
        if scale == "none":
            out.append([r - m for r in g])
        elif scale == "group":
            sd = _std(g)
            out.append([(r - m) / (sd + EPS) for r in g])
        else:
            out.append([(r - m) / (batch_std + EPS) for r in g])
    return out


def _rewards(strategy: str, groups: Sequence[Group], **options: Any) -> list[list[float]]:
    """Rewards per group; completions with a ``None`` reward are left out, as TRL does."""
    out = []
    for points, met in groups:
        rs = [r for r in score_group(strategy, points, met, **options) if r is not None]
        if rs:
            out.append(rs)
    return out


def factor_cancellation(groups: Sequence[Group], scale: str = "group") -> float:
    """Largest |A_complexity - A_without_factor| over all completions under ``scale``.

    The "without factor" reward is complexity / complexity_factor(n_c). About 0 (up to eps)
    under ``scale="group"``; clearly non-zero under ``none`` when groups have different n_c.
    """
    with_factor = _rewards("complexity", groups)
    without = [
        [r / complexity_factor(len(points)) for r in rs]
        for (points, _), rs in zip(groups, with_factor)
    ]
    a = advantages(with_factor, scale)
    b = advantages(without, scale)
    return max((abs(x - y) for ga, gb in zip(a, b) for x, y in zip(ga, gb)), default=0.0)


def diagnose_groups(
    groups: Sequence[Group], strategies: Sequence[str] | None = None, scale: str = "group"
) -> dict[str, dict[str, float]]:
    """Per strategy: ``frac_zero_std`` (groups whose rewards are all equal), ``mean_reward_std``
    (mean within-group sample std of rewards), ``mean_advantage_std`` (mean within-group std of
    advantages under ``scale``), ``n_groups``. For ``complexity`` also
    ``factor_effect_group`` and ``factor_effect_none``: :func:`factor_cancellation` under group
    scaling (about 0: the factor cancels) and without scaling (non-zero: it does not).
    Default ``strategies``: every strategy scored from verdicts (:data:`VERDICT_STRATEGIES`).
    """
    names = list(strategies) if strategies is not None else list(VERDICT_STRATEGIES)
    report: dict[str, dict[str, float]] = {}
    for name in names:
        rewards = _rewards(name, groups)
        stds = [_std(g) for g in rewards]
        adv = advantages(rewards, scale)
        entry = {
            "n_groups": float(len(rewards)),
            "frac_zero_std": sum(sd < 1e-12 for sd in stds) / len(stds) if stds else math.nan,
            "mean_reward_std": _mean(stds) if stds else math.nan,
            "mean_advantage_std": _mean([_std(g) for g in adv]) if adv else math.nan,
        }
        if name == "complexity":
            entry["factor_effect_group"] = factor_cancellation(groups, "group")
            entry["factor_effect_none"] = factor_cancellation(groups, "none")
        report[name] = entry
    return report
