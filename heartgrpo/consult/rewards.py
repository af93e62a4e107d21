"""The consultation reward: the rubric judge on the final advice, checklist coverage, a turn cost.

For one rollout (the ``consult`` summary of :mod:`heartgrpo.consult.environment`)::

    reward = judge_weight * J + coverage_weight * C - turn_cost * Q

* ``J``: any strategy of :mod:`heartgrpo.rewards` (:func:`heartgrpo.rewards.make_reward_func`)
  on the final advice, with the row's ``rubrics`` (the card's checklist); the judge sees the
  conversation up to the advice as the prompt;
* ``C``: checklist coverage weighted by level, :func:`coverage`
  ``= sum_i w(level_i) p_i met_i / sum_i w(level_i) p_i`` (``w`` = ``level_weights``, must 2, should 1);
* ``Q``: the doctor's questions (turns before the advice).

``None`` (left out by TRL, never a 0) when the judge failed on ``J`` or ``C`` or the patient
endpoint failed. Each term is logged through TRL's ``log_metric``: ``consult/judge``,
``consult/coverage``, ``consult/turn_cost``, ``consult/questions``, ``consult/asking_rate``,
``consult/unscorable_rate``, ``consult/patient_failure_rate``, ``consult/oversharing_rate``.

    >>> coverage([1, 2], [5.0, 3.0], [True, False])
    0.7692307692307693
    >>> combine(0.5, 0.75, 2, judge_weight=1.0, coverage_weight=1.0, turn_cost=0.05)
    1.15
    >>> combine(None, 0.75, 2, judge_weight=1.0, coverage_weight=1.0, turn_cost=0.05) is None
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from heartgrpo.io.asyncs import gather_staggered

__all__ = ["LEVEL_WEIGHTS", "combine", "consult_reward_func", "coverage", "judge_prompt", "level_of"]

#: weight of a checklist item per level: 1 must, 2 should
LEVEL_WEIGHTS: dict[int, float] = {1: 2.0, 2: 1.0}


def level_of(criterion: Mapping[str, Any]) -> int:
    """The ``level:<n>`` tag of a rubric dict (2 when absent)."""
    for tag in criterion.get("tags", ()) or ():
        if str(tag).startswith("level:"):
            return int(str(tag).split(":", 1)[1])
    return 2


def coverage(levels: Sequence[int], points: Sequence[float], met: Sequence[bool | None],
             level_weights: Mapping[int, float] = LEVEL_WEIGHTS) -> float | None:
    """Level-weighted share of checklist points met; ``None`` when any verdict is ``None``."""
    if any(m is None for m in met):
        return None
    w = [level_weights[lv] * p for lv, p in zip(levels, points)]
    total = sum(w)
    return sum(x for x, m in zip(w, met) if m) / total if total else 0.0


def combine(judge: float | None, cov: float | None, questions: int, *, judge_weight: float, coverage_weight: float,
            turn_cost: float) -> float | None:
    """The formula of the module docstring; ``None`` when a judged term is ``None``."""
    if (judge_weight and judge is None) or (coverage_weight and cov is None):
        return None
    return round(judge_weight * (judge or 0.0) + coverage_weight * (cov or 0.0) - turn_cost * questions, 12)


def judge_prompt(prompt: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[dict]:
    """The conversation the judge sees: the opening prompt and every turn before the final advice."""
    turns = list(summary["turns"])
    if turns and turns[-1]["role"] == "assistant":
        turns = turns[:-1]
    return [dict(m) for m in prompt] + [dict(t) for t in turns]


def consult_reward_func(judge: Any, strategy: str = "healthbench", *, judge_weight: float = 1.0,
                        coverage_weight: float = 1.0, turn_cost: float = 0.05,
                        level_weights: Mapping[int, float] = LEVEL_WEIGHTS, num_generations: int | None = None,
                        **strategy_options: Any) -> Callable[..., Any]:
    """An async TRL reward function over the rollout's ``consult`` column and the ``rubrics`` column."""
    from heartgrpo.rewards import make_reward_func

    inner = make_reward_func(judge, strategy, use_async=True, num_generations=num_generations, name="consult_judge",
                             **strategy_options) if judge_weight else None

    async def cover(prompt: Any, advice: str, rubric: list[dict]) -> float | None:
        verdicts = await judge.grade(prompt, advice, rubric)
        return coverage([level_of(c) for c in rubric], [float(c["points"]) for c in rubric], [v.met for v in verdicts],
                        level_weights)

    async def consult_reward(prompts: Sequence[Any], completions: Sequence[Any], consult: Sequence[Mapping[str, Any]],
                             rubrics: Sequence[Any], **kwargs: Any) -> list[float | None]:
        import json

        rubrics = [json.loads(r) if isinstance(r, str) else list(r) for r in rubrics]
        jp = [judge_prompt(p, s) for p, s in zip(prompts, consult)]
        advice = [s["final_advice"] for s in consult]
        passed = {k: v for k, v in kwargs.items() if k == "log_metric"}
        j = await inner(prompts=jp, completions=advice, rubrics=rubrics, **passed) if inner else [0.0] * len(advice)
        c = await gather_staggered(cover(p, a, r) for p, a, r in zip(jp, advice, rubrics)) if coverage_weight else [0.0] * len(advice)
        out = [None if s.get("failed") else combine(jv, cv, s["questions"], judge_weight=judge_weight,
                                                     coverage_weight=coverage_weight, turn_cost=turn_cost)
               for s, jv, cv in zip(consult, j, c)]
        log = kwargs.get("log_metric")
        if callable(log) and out:
            n = len(out)
            scored = [i for i, r in enumerate(out) if r is not None]
            for name, values in (("judge", [j[i] for i in scored]), ("coverage", [c[i] for i in scored]),
                                 ("turn_cost", [turn_cost * consult[i]["questions"] for i in scored])):
                if values:
                    log(f"consult/{name}", sum(values) / len(values))
            log("consult/questions", sum(s["questions"] for s in consult) / n)
            log("consult/asking_rate", sum(s["questions"] > 0 for s in consult) / n)
            log("consult/unscorable_rate", (n - len(scored)) / n)
            log("consult/patient_failure_rate", sum(bool(s.get("failed")) for s in consult) / n)
            log("consult/oversharing_rate", sum(bool(s.get("overshared")) for s in consult) / n)
        return out

    consult_reward.__name__ = consult_reward.__qualname__ = "consult"
    return consult_reward
