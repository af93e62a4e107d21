"""heartgrpo.rewards: rubric reward strategies and their TRL adapter (DESIGN.md §4, §6).

* :mod:`heartgrpo.rewards.strategies`: the formulas (s, rho, n_c, every strategy), the registry
  :data:`STRATEGIES`, :func:`check_strategy`, :func:`score`, :func:`score_group`, :func:`likert`;
* :mod:`heartgrpo.rewards.trl`: :func:`make_reward_func` (TRL reward over a judge) and
  :func:`format_reward_func`;
* :mod:`heartgrpo.rewards.diagnostics`: GRPO advantages and :func:`diagnose_groups`.

Importing this package pulls in the standard library only (no torch, transformers, trl, openai
or numpy): reward code runs inside trainers and notebooks where import cost matters.

Example:
    >>> score("healthbench", [7, 5, 10, -6], [True, False, True, True])
    0.5
"""

from __future__ import annotations

from heartgrpo.rewards.diagnostics import advantages, diagnose_groups, factor_cancellation
from heartgrpo.rewards.strategies import (
    CATEGORY_WEIGHTS,
    STRATEGIES,
    VERDICT_STRATEGIES,
    NoPositivePolicy,
    Strategy,
    check_strategy,
    complexity_factor,
    criterion_category,
    criterion_weights,
    likert,
    pitfall_fraction,
    positive_fraction,
    score,
    score_group,
)
from heartgrpo.rewards.trl import (
    AsyncRubricReward,
    JudgeFailurePolicy,
    RubricReward,
    format_reward_func,
    make_reward_func,
    trl_supports_async_rewards,
)

__all__ = [
    "CATEGORY_WEIGHTS",
    "STRATEGIES",
    "VERDICT_STRATEGIES",
    "AsyncRubricReward",
    "JudgeFailurePolicy",
    "RubricReward",
    "NoPositivePolicy",
    "Strategy",
    "advantages",
    "check_strategy",
    "complexity_factor",
    "criterion_category",
    "criterion_weights",
    "diagnose_groups",
    "factor_cancellation",
    "format_reward_func",
    "likert",
    "make_reward_func",
    "pitfall_fraction",
    "positive_fraction",
    "score",
    "score_group",
    "trl_supports_async_rewards",
]
