"""Can this configuration fill one optimizer step? Checked before any model loads.

TRL's GRPO sampler (``RepeatSampler``) takes ``generation_batch_size / num_generations`` distinct
prompts per generation round and drops an incomplete round, where ``generation_batch_size =
per_device_train_batch_size * world_size * steps_per_generation`` (``steps_per_generation`` is
``gradient_accumulation_steps`` here). With fewer prompts than one round the data loader is
empty and the Trainer "trains" zero steps without an error; :func:`check_grpo_fills_a_step`
refuses that case with the numbers and the settings to change.

    >>> check_grpo_fills_a_step(n_prompts=2, num_generations=2, per_device_train_batch_size=4,
    ...                         gradient_accumulation_steps=1, world_size=1, max_steps=3)
    2
"""

from __future__ import annotations

__all__ = ["ZeroStepError", "check_grpo_fills_a_step", "grpo_prompts_per_round"]


class ZeroStepError(ValueError):
    """The configuration would train zero steps; the message names the numbers and the setting."""


def grpo_prompts_per_round(num_generations: int, per_device_train_batch_size: int, gradient_accumulation_steps: int,
                           world_size: int, generation_batch_size: int | None = None,
                           steps_per_generation: int | None = None) -> int:
    """Distinct prompts TRL needs for one generation round:
    ``generation_batch_size / num_generations``, with ``generation_batch_size`` defaulting to
    ``per_device_train_batch_size * world_size * steps_per_generation`` and
    ``steps_per_generation`` to ``gradient_accumulation_steps`` (TRL's ``GRPOConfig`` rule); a
    round that does not divide into whole groups is a :class:`ZeroStepError`.

    >>> grpo_prompts_per_round(6, 6, 1, world_size=2)
    2
    >>> grpo_prompts_per_round(2, 4, 1, world_size=1, steps_per_generation=3)
    6
    """
    steps = steps_per_generation or gradient_accumulation_steps
    gen = generation_batch_size or per_device_train_batch_size * world_size * steps
    if gen % num_generations:
        raise ZeroStepError(
            f"generation_batch_size = {gen} (per_device_train_batch_size {per_device_train_batch_size} x world size "
            f"{world_size} x steps_per_generation {steps}) is not divisible by "
            f"grpo.num_generations = {num_generations}: change grpo.per_device_train_batch_size or grpo.num_generations"
        )
    return gen // num_generations


def check_grpo_fills_a_step(*, n_prompts: int, num_generations: int, per_device_train_batch_size: int,
                            gradient_accumulation_steps: int, world_size: int, max_steps: int,
                            generation_batch_size: int | None = None, steps_per_generation: int | None = None) -> int:
    """Raise :class:`ZeroStepError` unless ``n_prompts`` fill one GRPO generation round on
    ``world_size`` processes and ``max_steps >= 1``; returns the prompts per round.

    >>> check_grpo_fills_a_step(n_prompts=1, num_generations=6, per_device_train_batch_size=6,
    ...                         gradient_accumulation_steps=1, world_size=2, max_steps=10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    heartgrpo.train.fill.ZeroStepError: GRPO would train 0 steps: 1 prompt(s), but one step on 2 process(es) needs 2 ...
    """
    if max_steps < 1:
        raise ZeroStepError(f"GRPO would train 0 steps: grpo.max_steps = {max_steps}; set it to 1 or more")
    if n_prompts == 0:
        raise ZeroStepError("GRPO would train 0 steps: no prompt is left after grpo.prompt_ids / grpo.max_prompts "
                            "(or the GRPO data set is empty); widen the selection or rerun `heartgrpo prep`")
    need = grpo_prompts_per_round(num_generations, per_device_train_batch_size, gradient_accumulation_steps,
                                  world_size, generation_batch_size, steps_per_generation)
    if n_prompts < need:
        raise ZeroStepError(
            f"GRPO would train 0 steps: {n_prompts} prompt(s), but one step on {world_size} process(es) needs {need} "
            f"distinct prompts (per_device_train_batch_size {per_device_train_batch_size} x world size {world_size} x "
            f"gradient_accumulation_steps {gradient_accumulation_steps} / num_generations {num_generations}); "
            f"give more prompts (grpo.max_prompts, grpo.prompt_ids), lower grpo.per_device_train_batch_size or "
            f"grpo.gradient_accumulation_steps, raise grpo.num_generations, or launch fewer processes"
        )
    return need
