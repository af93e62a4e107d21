"""TRL reward functions over a rubric judge (DESIGN.md §6).

``make_reward_func(judge, strategy)`` returns ``f(prompts, completions, **kwargs)`` with TRL's
signature. It reads the dataset column ``rubrics`` (one rubric per completion, canonical dicts
or RaR items, as a list or a JSON string), extracts the text to judge from each completion,
grades every completion concurrently, and turns verdicts into rewards with
:func:`heartgrpo.rewards.score` / :func:`heartgrpo.rewards.score_group` (or
:func:`heartgrpo.rewards.likert` of :meth:`Judge.rate` for ``rar_implicit``). A completion with
any failed verdict gets ``None``, which TRL excludes instead of training on a fake zero.

Text extraction (:func:`extract_answer`): conversational completions use the last assistant
message; ``<think>...</think>`` is dropped when ``strip_think``; with ``strip_reasoning`` only the
``<SOLUTION>...</SOLUTION>`` content is judged when present, else the
``<start_working_out>...<end_working_out>`` section is dropped.

Group strategies (``criterion_variance``) score the completions of one prompt together. TRL
passes the ``num_generations`` completions of a prompt consecutively; groups are runs of equal
(prompt, rubric), or fixed chunks of ``num_generations`` when given.

Async: on TRL >= 0.27 (detected from the installed version, or ``use_async=True``) the function
is ``async def`` and TRL gathers it on its own loop. Otherwise it is a plain function that runs
the grading with ``asyncio.run``, or, when an event loop is already running in this thread (a
Jupyter cell), in a worker thread with its own loop.

Logging, when TRL passes ``log_metric``: ``<name>/judge_failure_rate``,
``<name>/cache_hit_rate``, ``<name>/met_rate/<category>`` (category from ``category:`` tags,
else from points) and ``<name>/unscorable_rate``. TRL < 1.0 passes no ``log_metric``: the values
then wait in the function's ``pending_metrics`` (name -> values) until
:class:`heartgrpo.train.callbacks.RewardMetricsCallback` logs their means, as TRL would.

Example:
    >>> from heartgrpo.judge import LexicalJudge
    >>> f = make_reward_func(LexicalJudge(), "healthbench", use_async=False)
    >>> f.__name__
    'rubric_healthbench'
    >>> f(prompts=["Chest pain?"], completions=["<think>hmm</think>Call emergency services."],
    ...   rubrics=[[{"criterion": "Advises calling emergency services", "points": 5}]])
    [1.0]
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from heartgrpo.asyncs import gather_staggered, run_sync
from heartgrpo.rewards import STRATEGIES, likert, score, score_group

__all__ = ["extract_answer", "make_reward_func", "trl_supports_async_rewards"]

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_SOLUTION = re.compile(r"<SOLUTION>(.*?)(?:</SOLUTION>|$)", re.DOTALL)
_WORKING = re.compile(r"<start_working_out>.*?(?:<end_working_out>|$)", re.DOTALL)
IMPLICIT = "rar_implicit"


def trl_supports_async_rewards() -> bool:
    """True when the installed TRL (>= 0.27) gathers ``async def`` reward functions."""
    from heartgrpo.train.trl_compat import package_version

    return package_version("trl") >= (0, 27)


def _message_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def extract_answer(completion: Any, strip_think: bool = True, strip_reasoning: bool = False) -> str:
    """The text the judge sees.

    >>> extract_answer("<think>x</think> Final.")
    'Final.'
    >>> extract_answer("<start_working_out>r<end_working_out><SOLUTION>Ans</SOLUTION>", strip_reasoning=True)
    'Ans'
    >>> extract_answer([{"role": "assistant", "content": "Hi"}])
    'Hi'
    """
    if isinstance(completion, str):
        text = completion
    else:
        assistant = [m for m in completion if m.get("role", "assistant") == "assistant"]
        text = _message_text((assistant or list(completion))[-1].get("content")) if completion else ""
    if strip_think:
        text = _THINK.sub("", text)
        if "</think>" in text:  # the opening tag was part of the prompt (generation prompt)
            text = text.split("</think>", 1)[1]
        if "<think>" in text:  # unterminated thinking: nothing after it is an answer
            text = text.split("<think>", 1)[0]
    if strip_reasoning:
        solution = _SOLUTION.search(text)
        if solution:
            text = solution.group(1)
        else:
            text = _WORKING.sub("", text)
            if "<end_working_out>" in text:  # the opening tag was part of the prompt
                text = text.split("<end_working_out>", 1)[1]
    return text.strip()


def _rubric(value: Any, index: int) -> list[dict]:
    from heartgrpo.rubrics import parse_rubric

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"rubrics[{index}] is a string but not JSON: {e.msg}") from None
    if not isinstance(value, Sequence) or not value:
        raise ValueError(f"rubrics[{index}] must be a non-empty list of criteria, got {type(value).__name__}")
    return [c.to_dict() for c in parse_rubric(value, row_id=f"rubrics[{index}]")]


def _category(criterion: dict) -> str:
    from heartgrpo.rubrics import category_from_points

    for tag in criterion.get("tags", ()):
        if str(tag).startswith("category:"):
            return str(tag).split(":", 1)[1]
    return category_from_points(float(criterion["points"]))


def _groups(prompts: Sequence[Any], rubrics: Sequence[list[dict]], num_generations: int | None) -> list[list[int]]:
    n = len(prompts)
    if num_generations:
        if n % num_generations:
            raise ValueError(f"{n} completions are not a multiple of num_generations={num_generations}")
        return [list(range(i, i + num_generations)) for i in range(0, n, num_generations)]
    groups: list[list[int]] = []
    last = None
    for i in range(n):
        key = json.dumps([prompts[i], rubrics[i]], sort_keys=True, default=str)
        if key != last:
            groups.append([])
            last = key
        groups[-1].append(i)
    return groups


def make_reward_func(
    judge: Any,
    strategy: str = "complexity",
    strip_think: bool = True,
    strip_reasoning: bool = False,
    use_async: bool | None = None,
    num_generations: int | None = None,
    name: str | None = None,
    **strategy_options: Any,
) -> Callable[..., Any]:
    """A TRL reward function ``f(prompts, completions, **kwargs) -> list[float | None]``.

    ``strategy``: a name in :data:`heartgrpo.rewards.STRATEGIES` or ``"rar_implicit"``;
    ``strategy_options`` go to the strategy (e.g. ``normalize=True``, ``floor=0.5``).
    ``use_async``: None = auto-detect from the installed TRL. See the module docstring.
    """
    if strategy != IMPLICIT and strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join([*STRATEGIES, IMPLICIT])}")
    if strategy == IMPLICIT and strategy_options:
        raise ValueError(f"strategy {IMPLICIT!r} takes no options, got {sorted(strategy_options)}")
    if strategy != IMPLICIT:  # fail now, not at the first training step
        allowed = set(STRATEGIES[strategy].options)
        if set(strategy_options) - allowed:
            raise ValueError(
                f"strategy {strategy!r} takes no option(s) {sorted(set(strategy_options) - allowed)}; "
                f"it accepts {sorted(allowed) or 'none'}"
            )
    func_name = name or f"rubric_{strategy}"
    is_group = strategy != IMPLICIT and STRATEGIES[strategy].group
    pending: defaultdict[str, list[float]] = defaultdict(list)  # metrics when TRL passes no log_metric

    async def _rewards(prompts: Sequence[Any], completions: Sequence[Any], kwargs: dict) -> list[float | None]:
        if "rubrics" not in kwargs:
            raise KeyError("reward function needs the dataset column 'rubrics'")
        raw = kwargs["rubrics"]
        if len(raw) != len(completions) or len(prompts) != len(completions):
            raise ValueError(
                f"{len(prompts)} prompts, {len(completions)} completions and {len(raw)} rubrics: one each per completion"
            )
        rubrics = [_rubric(r, i) for i, r in enumerate(raw)]
        answers = [extract_answer(c, strip_think, strip_reasoning) for c in completions]
        if strategy == IMPLICIT:
            ratings = await gather_staggered(judge.rate(p, a, r) for p, a, r in zip(prompts, answers, rubrics))
            rewards = [likert(r) for r in ratings]
            _log(_emitter(kwargs, pending), func_name, rewards, None, None)
            return rewards
        verdicts = await gather_staggered(judge.grade(p, a, r) for p, a, r in zip(prompts, answers, rubrics))
        met = [[v.met for v in row] for row in verdicts]
        points = [[float(c["points"]) for c in r] for r in rubrics]
        rewards: list[float | None] = [None] * len(completions)
        if is_group:
            for group in _groups(prompts, rubrics, num_generations):
                scores = score_group(strategy, points[group[0]], [met[i] for i in group], **strategy_options)
                for i, s in zip(group, scores):
                    rewards[i] = s
        elif strategy == "rar_explicit" and "categories" not in strategy_options:
            # RaR's categorical weights follow each criterion's `category:` tag (points as fallback)
            rewards = [
                score(strategy, p, m, categories=[_category(c) for c in r]) for p, m, r in zip(points, met, rubrics)
            ]
        else:
            rewards = [score(strategy, p, m, **strategy_options) for p, m in zip(points, met)]
        _log(_emitter(kwargs, pending), func_name, rewards, verdicts, rubrics)
        return rewards

    if use_async is None:
        use_async = trl_supports_async_rewards()

    if use_async:

        async def reward_func(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
            return await _rewards(prompts, completions, kwargs)

    else:

        def reward_func(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:  # type: ignore[misc]
            async def run() -> list[float | None]:
                try:
                    return await _rewards(prompts, completions, kwargs)
                finally:
                    close = getattr(judge, "aclose", None)
                    if close is not None:  # the HTTP client belongs to this short-lived loop
                        await close()

            return run_sync(run)

    reward_func.__name__ = reward_func.__qualname__ = func_name
    reward_func.pending_metrics = pending  # type: ignore[attr-defined]
    reward_func.__doc__ = f"TRL reward: rubric strategy {strategy!r} over {type(judge).__name__}."
    return reward_func


def _emitter(kwargs: dict, pending: defaultdict[str, list[float]]) -> Callable[[str, float], None]:
    """TRL's ``log_metric`` when it passes one, else an append to ``pending``."""
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        return log_metric
    return lambda metric, value: pending[metric].append(float(value))


def _log(log_metric: Callable[[str, float], None], name: str, rewards: list, verdicts: list | None, rubrics: list | None) -> None:
    if not rewards:
        return
    log_metric(f"{name}/unscorable_rate", sum(r is None for r in rewards) / len(rewards))
    if verdicts is None or rubrics is None:
        return
    flat = [v for row in verdicts for v in row]
    if flat:
        log_metric(f"{name}/judge_failure_rate", sum(v.met is None for v in flat) / len(flat))
        log_metric(f"{name}/cache_hit_rate", sum(bool(getattr(v, "cached", False)) for v in flat) / len(flat))
    by_category: dict[str, list[bool]] = defaultdict(list)
    for row, rubric in zip(verdicts, rubrics):
        for v, c in zip(row, rubric):
            if v.met is not None:
                by_category[_category(c)].append(v.met)
    for category, values in sorted(by_category.items()):
        log_metric(f"{name}/met_rate/{category}", sum(values) / len(values))
