"""TRL reward functions over a rubric judge (DESIGN.md §6), and the format reward.

``make_reward_func(judge, strategy)`` returns ``f(prompts, completions, **kwargs)`` with TRL's
signature. It reads the dataset column ``rubrics`` (one rubric per completion, canonical dicts
or RaR items, as a list or a JSON string), extracts the text to judge from each completion
(:func:`heartgrpo.answer_format.extract_answer`), grades every completion concurrently, and
turns verdicts into rewards with :func:`~heartgrpo.rewards.strategies.score` /
:func:`~heartgrpo.rewards.strategies.score_group` (or the rating of :meth:`Judge.rate` for the
rating strategy ``rar_implicit``). A completion with any failed verdict gets ``None``, which TRL
excludes instead of training on a fake zero. Options a strategy derives from the rubric
(``rar_explicit``'s categories from ``category:`` tags) are filled in unless given.

Named policies, where they act:

* :data:`~heartgrpo.answer_format.EmptyAnswerPolicy` (``on_empty``): ``"unmet"`` (default, as in
  evaluation) scores an answer that is empty after extraction as meeting no criterion (for
  ``rar_implicit``: the lowest rating) without calling the judge; ``"judge"`` sends ``""``.
* :data:`JudgeFailurePolicy` (the format reward's ``on_judge_failure``): TRL leaves a completion
  out only when *every* reward function returns ``None``. ``"exclude"`` (default) makes the
  format reward ``None`` too where every rubric reward it is linked to is ``None``, so a
  completion whose verdicts failed is left out; ``"format_only"`` trains it on its format score.

Group strategies (``criterion_variance``) score the completions of one prompt together. TRL
passes the ``num_generations`` completions of a prompt consecutively; groups are runs of equal
(prompt, rubric), or fixed chunks of ``num_generations`` when given.

Async: on TRL >= 0.27 (detected from the installed version, or ``use_async=True``) the function
is ``async def`` and TRL gathers it on its own loop. Otherwise it is a plain function that runs
the grading with ``asyncio.run``, or, when an event loop is already running in this thread (a
Jupyter cell), in a worker thread with its own loop.

Logging, when TRL passes ``log_metric``: ``<name>/judge_failure_rate``,
``<name>/cache_hit_rate``, ``<name>/met_rate/<category>`` (category from ``category:`` tags,
else from points), ``<name>/unscorable_rate`` and ``<name>/empty_answer_rate``. TRL < 1.0 passes
no ``log_metric``: the values then wait in the function's ``pending_metrics`` (name -> values)
until :class:`heartgrpo.train.callbacks.RewardMetricsCallback` logs their means, as TRL would.

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

import inspect
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

from heartgrpo.answer_format import (
    EMPTY_EXPLANATION,
    EmptyAnswerPolicy,
    FormatStyle,
    extract_answer,
    follows_format,
    is_empty_answer,
)
from heartgrpo.io.asyncs import gather_staggered, run_sync
from heartgrpo.rewards.recent import RecentBatches, batch_key
from heartgrpo.rewards.strategies import Strategy, check_strategy, criterion_category, likert, score, score_group

__all__ = [
    "AsyncRubricReward",
    "JudgeFailurePolicy",
    "RubricReward",
    "format_reward_func",
    "is_async_reward",
    "make_reward_func",
    "parse_rubric_column",
    "trl_supports_async_rewards",
]

#: how the format reward treats a completion whose rubric rewards are all ``None`` (module docstring)
JudgeFailurePolicy = Literal["exclude", "format_only"]


class _Unjudged:
    """The verdict of a criterion on an empty answer under ``on_empty="unmet"`` (no judge call)."""

    met = False
    explanation = EMPTY_EXPLANATION
    error = None
    cached = False


def is_async_reward(func: Any) -> bool:
    """Whether calling ``func`` returns a coroutine: an ``async def`` function or an instance of a
    reward class whose ``__call__`` is async (:class:`AsyncRubricReward`).

    >>> async def f(prompts, completions, **kw): ...
    >>> is_async_reward(f), is_async_reward(len)
    (True, False)
    """
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))


def trl_supports_async_rewards() -> bool:
    """True when the installed TRL awaits a reward function written as a class with an ``async``
    ``__call__``: TRL >= 0.27 gathers ``async def`` functions, and its ``is_async_callable``
    (trl/trainer/utils.py) recognises callable classes too. Read from TRL's source text, so
    nothing of TRL is imported."""
    import importlib.util
    from pathlib import Path

    from heartgrpo.io.process import package_version

    if package_version("trl") < (0, 27):
        return False
    spec = importlib.util.find_spec("trl")
    utils = Path(spec.origin).parent / "trainer" / "utils.py" if spec and spec.origin else None
    return utils is not None and utils.is_file() and "def is_async_callable" in utils.read_text(encoding="utf-8")


def parse_rubric_column(value: Any, index: int) -> list[dict]:
    """Row ``index`` of the dataset column ``rubrics`` (a list or a JSON string) as canonical criteria dicts."""
    from heartgrpo.rubrics import parse_rubric

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"rubrics[{index}] is a string but not JSON: {e.msg}") from None
    if not isinstance(value, Sequence) or not value:
        raise ValueError(f"rubrics[{index}] must be a non-empty list of criteria, got {type(value).__name__}")
    return [c.to_dict() for c in parse_rubric(value, row_id=f"rubrics[{index}]")]


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


def _check_policy(name: str, value: str, allowed: Any) -> None:
    if value not in get_args(allowed):
        raise ValueError(f"{name} must be one of {list(get_args(allowed))}, got {value!r}")


class RubricReward:
    """A TRL reward function over a rubric judge: ``reward(prompts, completions, **kwargs) ->
    list[float | None]`` (see the module docstring). Built by :func:`make_reward_func`.

    One body, :meth:`rewards` (async), serves both call forms: :class:`AsyncRubricReward` awaits
    it from TRL's loop; this class runs it on a loop of its own (:func:`heartgrpo.io.asyncs.run_sync`)
    and closes the judge's HTTP client with that loop. The strategy is resolved once, here.
    Picklable when its judge is (the batch cache and pending metrics start empty in a copy).
    """

    def __init__(self, judge: Any, strategy: str | Strategy = "complexity", *, strip_think: bool = True,
                 strip_reasoning: bool = False, num_generations: int | None = None, name: str | None = None,
                 on_empty: EmptyAnswerPolicy = "unmet", **strategy_options: Any) -> None:
        self.strategy = check_strategy(strategy, strategy_options)  # fail now, not at the first training step
        _check_policy("on_empty", on_empty, EmptyAnswerPolicy)
        self.judge = judge
        self.strategy_options = dict(strategy_options)
        self.strip_think, self.strip_reasoning = strip_think, strip_reasoning
        self.num_generations = num_generations
        self.on_empty = on_empty
        self.__name__ = self.__qualname__ = name or f"rubric_{self.strategy.name}"
        self.__doc__ = f"TRL reward: rubric strategy {self.strategy.name!r} over {type(judge).__name__}."
        self._fresh()

    def _fresh(self) -> None:
        #: metrics waiting for :class:`~heartgrpo.train.callbacks.RewardMetricsCallback` (TRL passes no ``log_metric``)
        self.pending_metrics: defaultdict[str, list[float]] = defaultdict(list)
        self.recent = RecentBatches()  # the last batches' rewards, read by a linked format reward

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("pending_metrics")
        state.pop("recent")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fresh()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__!r}, judge={type(self.judge).__name__})"

    async def _judge(self, prompt: Any, answer: str, rubric: list[dict]) -> Any:
        rating = self.strategy.rating
        if self.on_empty == "unmet" and is_empty_answer(answer):
            return 1.0 if rating else [_Unjudged() for _ in rubric]
        return await (self.judge.rate(prompt, answer, rubric) if rating else self.judge.grade(prompt, answer, rubric))

    def _options(self, rubric: list[dict]) -> dict[str, Any]:
        derived = self.strategy.from_rubric(rubric) if self.strategy.from_rubric is not None else {}
        return {**derived, **self.strategy_options}

    async def rewards(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """Judge the batch and score it: one reward (or ``None``) per completion. Not cached."""
        if "rubrics" not in kwargs:
            raise KeyError("reward function needs the dataset column 'rubrics'")
        raw = kwargs["rubrics"]
        if len(raw) != len(completions) or len(prompts) != len(completions):
            raise ValueError(
                f"{len(prompts)} prompts, {len(completions)} completions and {len(raw)} rubrics: one each per completion"
            )
        strat, name = self.strategy, self.__name__
        rubrics = [parse_rubric_column(r, i) for i, r in enumerate(raw)]
        answers = [extract_answer(c, self.strip_think, self.strip_reasoning) for c in completions]
        results = await gather_staggered(self._judge(p, a, r) for p, a, r in zip(prompts, answers, rubrics))
        empty = sum(is_empty_answer(a) for a in answers) / len(answers) if answers else 0.0
        emit = _emitter(kwargs, self.pending_metrics)
        if strat.rating:
            rewards = [likert(r) for r in results]
            _log(emit, name, rewards, None, None, empty)
            return rewards
        met = [[v.met for v in row] for row in results]
        points = [[float(c["points"]) for c in r] for r in rubrics]
        rewards: list[float | None] = [None] * len(completions)
        if strat.group:
            for group in _groups(prompts, rubrics, self.num_generations):
                scores = score_group(strat, points[group[0]], [met[i] for i in group], **self._options(rubrics[group[0]]))
                for i, s in zip(group, scores):
                    rewards[i] = s
        else:
            rewards = [score(strat, p, m, **self._options(r)) for p, m, r in zip(points, met, rubrics)]
        _log(emit, name, rewards, results, rubrics, empty)
        return rewards

    async def _shared(self, prompts: Sequence[Any], completions: Sequence[Any], kwargs: dict, peer: bool) -> list[float | None]:
        key = batch_key(prompts, completions, kwargs.get("rubrics"))
        return await self.recent.get(key, lambda: self.rewards(prompts, completions, **kwargs), peer=peer)

    def _sync(self, prompts: Sequence[Any], completions: Sequence[Any], kwargs: dict, peer: bool) -> list[float | None]:
        async def run() -> list[float | None]:
            try:
                return await self._shared(prompts, completions, kwargs, peer)
            finally:
                close = getattr(self.judge, "aclose", None)
                if close is not None:  # the HTTP client belongs to this short-lived loop
                    await close()

        return run_sync(run)

    #: whether calling it returns a coroutine (TRL gathers such reward functions on its loop)
    is_async = False

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return self._sync(prompts, completions, kwargs, peer=False)

    def rewards_for(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> Any:
        """The rewards of a batch this function has scored (or scores now), without judging it twice."""
        return self._sync(prompts, completions, kwargs, peer=True)


class AsyncRubricReward(RubricReward):
    """:class:`RubricReward` whose call is ``async``, for a TRL that gathers async reward functions."""

    is_async = True

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:  # type: ignore[override]
        return await self._shared(prompts, completions, kwargs, peer=False)

    async def rewards_for(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:  # type: ignore[override]
        return await self._shared(prompts, completions, kwargs, peer=True)


def make_reward_func(
    judge: Any,
    strategy: str | Strategy = "complexity",
    strip_think: bool = True,
    strip_reasoning: bool = False,
    use_async: bool | None = None,
    num_generations: int | None = None,
    name: str | None = None,
    on_empty: EmptyAnswerPolicy = "unmet",
    **strategy_options: Any,
) -> RubricReward:
    """A TRL reward function ``f(prompts, completions, **kwargs) -> list[float | None]``.

    ``strategy``: a :class:`~heartgrpo.rewards.strategies.Strategy` or a name in
    :data:`heartgrpo.rewards.STRATEGIES`; ``strategy_options`` go to the strategy (e.g.
    ``normalize=True``, ``floor=0.5``). ``use_async``: None = auto-detect from the installed TRL
    (:func:`trl_supports_async_rewards`). ``on_empty``: the empty-answer policy. See the module docstring.
    """
    if use_async is None:
        use_async = trl_supports_async_rewards()
    cls = AsyncRubricReward if use_async else RubricReward
    return cls(judge, strategy, strip_think=strip_think, strip_reasoning=strip_reasoning, num_generations=num_generations,
               name=name, on_empty=on_empty, **strategy_options)


def format_reward_func(
    style: FormatStyle = "paper",
    rubric_funcs: Sequence[Callable[..., Any]] = (),
    on_judge_failure: JudgeFailurePolicy = "exclude",
) -> Callable[..., Any]:
    """Reward 1.0 when a completion follows the output format (:func:`follows_format`), else 0.0.

    With ``rubric_funcs`` (reward functions of :func:`make_reward_func`) and
    ``on_judge_failure="exclude"``, a completion whose rubric rewards are all ``None`` gets
    ``None`` here too, so TRL leaves it out; the rubric rewards are read from those functions'
    own results for the batch (no second judge call), and the function is ``async`` when one of
    them is. ``"format_only"`` (or no ``rubric_funcs``) scores the format alone.

    >>> format_reward_func("think")(completions=["<think>a</think> answer", "no think"])
    [1.0, 0.0]
    """
    _check_policy("style", style, FormatStyle)
    _check_policy("on_judge_failure", on_judge_failure, JudgeFailurePolicy)
    linked = list(rubric_funcs) if on_judge_failure == "exclude" else []
    for f in linked:
        if not callable(getattr(f, "rewards_for", None)):
            raise ValueError(f"rubric_funcs: {getattr(f, '__name__', f)!r} is not a reward function of make_reward_func")

    def formatted(completions: Sequence[Any]) -> list[float]:
        return [1.0 if follows_format(c, style) else 0.0 for c in completions]

    def masked(scores: list[float], rubric_rewards: list[list[float | None]]) -> list[float | None]:
        return [None if all(r[i] is None for r in rubric_rewards) else s for i, s in enumerate(scores)]

    if not linked:

        def reward(prompts: Sequence[Any] = (), completions: Sequence[Any] = (), **kwargs: Any) -> list[float | None]:
            return formatted(completions)  # type: ignore[return-value]

    elif any(is_async_reward(f) for f in linked):

        async def reward(prompts: Sequence[Any] = (), completions: Sequence[Any] = (), **kwargs: Any) -> list[float | None]:  # type: ignore[misc]
            got = []
            for f in linked:
                r = f.rewards_for(prompts, completions, **kwargs)
                got.append(await r if inspect.isawaitable(r) else r)
            return masked(formatted(completions), got)

    else:

        def reward(prompts: Sequence[Any] = (), completions: Sequence[Any] = (), **kwargs: Any) -> list[float | None]:  # type: ignore[misc]
            return masked(formatted(completions), [f.rewards_for(prompts, completions, **kwargs) for f in linked])

    reward.__name__ = reward.__qualname__ = f"format_{style}"
    return reward


def _emitter(kwargs: dict, pending: defaultdict[str, list[float]]) -> Callable[[str, float], None]:
    """TRL's ``log_metric`` when it passes one, else an append to ``pending``."""
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        return log_metric
    return lambda metric, value: pending[metric].append(float(value))


def _log(
    log_metric: Callable[[str, float], None],
    name: str,
    rewards: list,
    verdicts: list | None,
    rubrics: list | None,
    empty_rate: float,
) -> None:
    if not rewards:
        return
    log_metric(f"{name}/unscorable_rate", sum(r is None for r in rewards) / len(rewards))
    log_metric(f"{name}/empty_answer_rate", empty_rate)
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
                by_category[criterion_category(c)].append(v.met)
    for category, values in sorted(by_category.items()):
        log_metric(f"{name}/met_rate/{category}", sum(values) / len(values))
