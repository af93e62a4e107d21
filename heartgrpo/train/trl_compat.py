"""What differs between the TRL versions heartgrpo runs on (pinned 1.14.2; 0.22.2 on Colab/Kaggle).

Each difference is keyed on the installed TRL's version, found by reading the releases' own
``trl/trainer/grpo_trainer.py`` and ``grpo_config.py``:

================================  =========  ==============================================
behaviour                          from TRL   below it, heartgrpo ...
================================  =========  ==============================================
``max_prompt_length`` (default     < 0.28     sets it to the longest prompt of the data, so
512, cuts prompts from the left)              nothing is cut (:func:`heartgrpo.model.tokenizer.longest_prompt_tokens`)
``async def`` reward functions     0.27       runs the grading in a loop of its own
``log_metric`` passed to rewards   1.0        logs the same metrics through a callback
completions whose every reward     1.6        makes them neutral itself
is ``None`` left out of the group             (:func:`neutralize_unscorable`)
================================  =========  ==============================================

(Unsloth 2026.10.7, whose GRPO trainer is TRL's with patches, keys its own handling of unscorable
completions on the same TRL 1.6.0, and still calls ``_calculate_rewards``, where the fill happens.)

Before 1.6, TRL sums the weighted rewards with ``nansum`` and takes the plain group mean and std,
so a completion the judge could not grade would train as a real reward of 0. Here such a
completion gets, per reward function, the mean of its group's scored completions: its reward
is the group's mean, so its advantage is exactly 0, and the other completions' advantages are
taken against the mean of the scored ones, as on TRL >= 1.6. (With ``scale_rewards="group"``
the std TRL divides by still counts the neutral rows, a little smaller than TRL 1.6's
``nanstd`` of the scored ones.) The count is logged per batch as ``rewards/unscorable_count``.

    >>> import torch
    >>> r = torch.tensor([[float("nan")], [1.0], [3.0], [float("nan")], [float("nan")], [2.0]])
    >>> filled, n = neutralize_unscorable(r, num_generations=3)
    >>> filled.squeeze(1).tolist(), n
    ([2.0, 1.0, 3.0, 2.0, 2.0, 2.0], 3)
"""

from __future__ import annotations

import logging
from typing import Any

from heartgrpo.io.process import package_version

log = logging.getLogger(__name__)

__all__ = [
    "TRL_DROPS_MAX_PROMPT_LENGTH",
    "TRL_EXCLUDES_UNSCORABLE",
    "TRL_PASSES_LOG_METRIC",
    "neutral_unscorable_trainer_class",
    "neutralize_unscorable",
    "trl_excludes_unscorable",
    "trl_passes_log_metric",
]

#: first TRL whose GRPOTrainer leaves a completion out when all its rewards are None
TRL_EXCLUDES_UNSCORABLE = (1, 6)
#: first TRL that passes ``log_metric`` to reward functions
TRL_PASSES_LOG_METRIC = (1, 0)
#: first TRL without ``GRPOConfig.max_prompt_length`` (nothing is truncated there)
TRL_DROPS_MAX_PROMPT_LENGTH = (0, 28)


def trl_excludes_unscorable(trl: tuple[int, int] | None = None) -> bool:
    """True when TRL itself leaves all-``None`` completions out of the group (TRL >= 1.6)."""
    return (trl or package_version("trl")) >= TRL_EXCLUDES_UNSCORABLE


def trl_passes_log_metric(trl: tuple[int, int] | None = None) -> bool:
    """True when TRL passes ``log_metric`` to reward functions (TRL >= 1.0)."""
    return (trl or package_version("trl")) >= TRL_PASSES_LOG_METRIC


def neutralize_unscorable(rewards_per_func: Any, num_generations: int) -> tuple[Any, int]:
    """Fill every row whose rewards are all NaN with its group's mean of the scored rows.

    ``rewards_per_func``: a ``(n, n_funcs)`` tensor, groups of ``num_generations`` consecutive
    rows (TRL's layout after gathering). A NaN in a partly scored row counts as 0, as TRL's
    ``nansum`` counts it, so the filled row's weighted sum equals the group's mean weighted sum
    over its scored rows. A group with no scored row is filled with 0 (all equal: advantage 0).
    Returns the filled tensor (a copy) and the number of rows filled.
    """
    import torch

    n, n_funcs = rewards_per_func.shape
    if n % num_generations:
        raise ValueError(f"{n} completions are not a multiple of num_generations={num_generations}")
    unscorable = torch.isnan(rewards_per_func).all(dim=1)
    count = int(unscorable.sum().item())
    if count == 0:
        return rewards_per_func, 0
    grouped = rewards_per_func.view(-1, num_generations, n_funcs)
    scored = (~unscorable).view(-1, num_generations, 1)
    values = torch.nan_to_num(grouped, nan=0.0) * scored
    n_scored = scored.sum(dim=1, keepdim=True)
    group_mean = values.sum(dim=1, keepdim=True) / n_scored.clamp(min=1)
    filled = torch.where(scored, grouped, group_mean.expand_as(grouped))
    return filled.reshape(n, n_funcs).contiguous(), count


def neutral_unscorable_trainer_class(base: type) -> type:
    """``base`` (TRL's ``GRPOTrainer``) with unscorable completions made neutral, on TRL < 1.6.

    On TRL >= 1.6 ``base`` is returned as it is: TRL leaves those completions out itself.
    """
    if trl_excludes_unscorable():
        return base

    class NeutralUnscorableGRPOTrainer(base):
        def _calculate_rewards(self, *args: Any, **kwargs: Any):
            rewards_per_func = super()._calculate_rewards(*args, **kwargs)
            filled, count = neutralize_unscorable(rewards_per_func, self.num_generations)
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["rewards/unscorable_count"].append(float(count))
            if count:
                log.warning("%d of %d completions had no reward (judge failure): made neutral (advantage 0), "
                            "not trained as 0", count, len(filled))
            return filled

    NeutralUnscorableGRPOTrainer.__name__ = f"NeutralUnscorable{base.__name__}"
    return NeutralUnscorableGRPOTrainer
