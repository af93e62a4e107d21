"""Rubric reward strategies: pure functions from judge verdicts to a scalar reward, and their registry.

Verdict semantics follow HealthBench: ``met[j] is True`` means criterion *j*'s behaviour is
present. For a criterion with negative points (a pitfall) ``True`` therefore means the
undesirable behaviour IS present. ``None`` means the judge failed on that criterion; every
strategy then returns ``None`` so that TRL leaves the completion out instead of training on a
fake zero.

Shared quantities (one place for each formula, :func:`positive_fraction` and
:func:`pitfall_fraction`)::

    s   = sum(p_j for met positive j)       / max(sum(p_j for positive j), 1)
    rho = sum(|p_j| for met negative j)     / max(sum(|p_j| for negative j), 1)   (0 without negatives)
    n_c = number of criteria

Every strategy is an entry of :data:`STRATEGIES`, validated by one :func:`check_strategy` (the
run configuration and the TRL adapter both call it). ``rar_implicit`` is the one strategy that
scores a holistic 1..10 judge rating instead of verdicts (``Strategy.rating``).

A rubric with no positive points has no HealthBench denominator: the ``healthbench`` formula
then follows :data:`NoPositivePolicy` (option ``no_positive``): ``"none"`` (the default) returns
``None``, as simple-evals' HealthBench ``calculate_score`` does; ``"raise"`` raises a ValueError; ``"signed"``
divides by the negative points, in [-1, 0] (ORBIT's fallback for pitfall-only items: 0 when none is triggered).

Example:
    >>> score("healthbench", [7, 5, 10, -6], [True, False, True, True])
    0.5
    >>> score("hybrid", [5, 5], [True, True])
    20.0
    >>> score("complexity", [1, 1], [True, None]) is None
    True

Importing this module pulls in the standard library only (no torch, transformers, trl,
openai or numpy): reward code runs inside trainers and notebooks where import cost matters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CATEGORY_WEIGHTS",
    "STRATEGIES",
    "VERDICT_STRATEGIES",
    "NoPositivePolicy",
    "Strategy",
    "check_strategy",
    "complexity_factor",
    "criterion_category",
    "criterion_weights",
    "likert",
    "pitfall_fraction",
    "positive_fraction",
    "score",
    "score_group",
]

Verdict = bool | None
#: what the ``healthbench`` formula gives for a rubric without positive points (module docstring)
NoPositivePolicy = Literal["none", "raise", "signed"]

#: RaR Eq. 1 categorical weights (RaR-Explicit).
CATEGORY_WEIGHTS: dict[str, float] = {"essential": 1.0, "important": 0.7, "optional": 0.3, "pitfall": 0.9}


# --------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------


def _check(points: Sequence[float], met: Sequence[Verdict]) -> None:
    if len(points) == 0:
        raise ValueError("points is empty: a rubric needs at least one criterion")
    if len(points) != len(met):
        raise ValueError(f"length mismatch: {len(points)} points but {len(met)} verdicts")
    for j, p in enumerate(points):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
            raise ValueError(f"points[{j}] must be a finite number, got {p!r}")
    for j, m in enumerate(met):
        if m is not None and not isinstance(m, bool):
            raise ValueError(f"met[{j}] must be True, False or None, got {m!r}")


def positive_fraction(points: Sequence[float], met: Sequence[bool]) -> float:
    """s = met positive points / max(sum of positive points, 1)."""
    total = sum(p for p in points if p > 0)
    got = sum(p for p, m in zip(points, met) if p > 0 and m)
    return got / max(total, 1.0)


def pitfall_fraction(points: Sequence[float], met: Sequence[bool]) -> float:
    """rho = triggered |negative points| / max(sum of |negative points|, 1); 0 without negatives."""
    total = sum(-p for p in points if p < 0)
    if total == 0:
        return 0.0
    got = sum(-p for p, m in zip(points, met) if p < 0 and m)
    return got / max(total, 1.0)


def _all_clear(points: Sequence[float], met: Sequence[bool]) -> bool:
    """Every positive criterion met and no negative criterion triggered."""
    return all((m if p > 0 else not m) for p, m in zip(points, met) if p != 0)


def complexity_factor(n_criteria: int) -> float:
    """The paper's per-prompt complexity multiplier 1 + 0.2 * ln(1 + n_c) / ln(26)."""
    return 1.0 + 0.2 * math.log(1 + n_criteria) / math.log(26)


# --------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """A named reward formula. ``group=True`` strategies need the whole GRPO group;
    ``rating=True`` ones score one holistic judge rating (:func:`likert`), not verdicts.
    ``from_rubric`` derives default options from the rubric's criteria (their tags)."""

    name: str
    fn: Callable[..., Any]
    group: bool = False
    low: float = 0.0
    high: float | None = 1.0
    options: tuple[str, ...] = field(default_factory=tuple)
    rating: bool = False
    from_rubric: Callable[[Sequence[Any]], dict[str, Any]] | None = None

    @property
    def formula(self) -> str:
        return (self.fn.__doc__ or "").strip()

    def __call__(self, points: Sequence[float], met: Any, **options: Any) -> Any:
        return self.fn(points, met, **options)


def _binary(points: Sequence[float], met: Sequence[bool]) -> float:
    """binary = 1 if every positive criterion is met and no negative one is triggered, else 0."""
    return 1.0 if _all_clear(points, met) else 0.0


def _healthbench(points: Sequence[float], met: Sequence[bool], weights: Sequence[float] | None = None,
                 no_positive: NoPositivePolicy = "none") -> float | None:
    """healthbench = sum(p_j * met_j, negatives included) / sum(p_j for p_j > 0); not clipped.

    With ``weights`` w_j >= 0 the same formula uses sign(p_j) * w_j in place of p_j. Without
    positive points: ``None`` (``no_positive="none"``, simple-evals), a ValueError (``"raise"``) or
    sum(p_j * met_j) / sum(|p_j| for p_j < 0) (``"signed"``):

    >>> _healthbench([-3, -1], [True, False], no_positive="signed")
    -0.75
    """
    signed = list(points) if weights is None else [math.copysign(w, p) for p, w in zip(points, weights)]
    denominator = sum(v for v in signed if v > 0)
    if denominator <= 0:  # only possible with weights that zero every positive criterion
        denominator = sum(p for p in points if p > 0)
    if denominator <= 0:
        if no_positive == "raise":
            raise ValueError(f"rubric with points {list(points)} has no positive points: its healthbench score is undefined")
        if no_positive == "signed" and any(p < 0 for p in points):
            return sum(p for p, m in zip(points, met) if m) / -sum(p for p in points if p < 0)
        if no_positive not in ("none", "signed"):  # a pitfall-free rubric without points: None under "signed" too
            raise ValueError(f"no_positive must be 'none', 'raise' or 'signed', got {no_positive!r}")
        return None
    return sum(v for v, m in zip(signed, met) if m) / denominator


def _rar_explicit(
    points: Sequence[float], met: Sequence[bool], categories: Sequence[str] | None = None
) -> float:
    """rar_explicit = sum(w_j * c_j) / sum(w_j) (RaR Eq. 1).

    w_j by category: essential 1.0, important 0.7, optional 0.3, pitfall 0.9.
    c_j = met_j for ordinary criteria, c_j = not met_j for a pitfall (satisfied when avoided).
    Without ``categories`` the category follows RaR-Medicine's weight convention
    (points >= 5 essential, 3..4 important, 1..2 optional, < 0 pitfall).
    """
    from heartgrpo.rubrics import category_from_points  # stdlib + pydantic only

    if categories is None:
        categories = [category_from_points(p) for p in points]
    if len(categories) != len(points):
        raise ValueError(f"length mismatch: {len(points)} points but {len(categories)} categories")
    num = den = 0.0
    for c, m in zip(categories, met):
        if c not in CATEGORY_WEIGHTS:
            raise ValueError(f"unknown category {c!r}; expected one of {sorted(CATEGORY_WEIGHTS)}")
        w = CATEGORY_WEIGHTS[c]
        satisfied = (not m) if c == "pitfall" else m
        num += w * satisfied
        den += w
    return num / den


def criterion_category(criterion: Any) -> str:
    """RaR category of a canonical criterion dict: its ``category:`` tag, else from its points
    (:func:`heartgrpo.rubrics.category_from_points`). ``rar_explicit`` takes its weights from it.

    >>> criterion_category({"criterion": "x", "points": 1, "tags": ["category:essential"]})
    'essential'
    >>> criterion_category({"criterion": "x", "points": -2})
    'pitfall'
    """
    from heartgrpo.rubrics import category_from_points

    for tag in criterion.get("tags", ()):
        if str(tag).startswith("category:"):
            return str(tag).split(":", 1)[1]
    return category_from_points(float(criterion["points"]))


def _categories_from_rubric(rubric: Sequence[Any]) -> dict[str, Any]:
    return {"categories": [criterion_category(c) for c in rubric]}


def _hybrid(points: Sequence[float], met: Sequence[bool], normalize: bool = False) -> float:
    """hybrid = max(0, 15*s - 4.5*rho) + 5*[all positives met and no negative met]; range 0..20.

    ``normalize=True`` divides by 20.
    """
    s, rho = positive_fraction(points, met), pitfall_fraction(points, met)
    value = max(0.0, 15.0 * s - 4.5 * rho) + (5.0 if _all_clear(points, met) else 0.0)
    return value / 20.0 if normalize else value


def _complexity(points: Sequence[float], met: Sequence[bool], normalize: bool = False) -> float:
    """complexity = min(25, 20 * max(0, s - 0.5*rho)^1.2 * (1 + 0.2*ln(1+n_c)/ln(26))).

    ``normalize=True`` divides by 25. Under GRPO's group std scaling the per-prompt factor
    (1 + 0.2*ln(1+n_c)/ln 26) cancels inside a group (see :mod:`heartgrpo.rewards.diagnostics`).
    """
    s, rho = positive_fraction(points, met), pitfall_fraction(points, met)
    value = min(25.0, 20.0 * max(0.0, s - 0.5 * rho) ** 1.2 * complexity_factor(len(points)))
    return value / 25.0 if normalize else value


def criterion_weights(
    points: Sequence[float], met: Sequence[Sequence[Verdict]], floor: float = 0.2
) -> list[float]:
    """w_j = |p_j| * (floor + (1 - floor) * 2 * std_j).

    std_j is the population std of criterion j's 0/1 verdicts within the group (judged
    completions only), so 2*std_j is in [0, 1]: 1 when half the group meets it, 0 when all agree.
    """
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be in [0, 1], got {floor}")
    weights = []
    for j, p in enumerate(points):
        column = [float(row[j]) for row in met if row[j] is not None]
        if column:
            mean = sum(column) / len(column)
            std = math.sqrt(sum((x - mean) ** 2 for x in column) / len(column))
        else:
            std = 0.0
        weights.append(abs(p) * (floor + (1.0 - floor) * 2.0 * std))
    return weights


def _criterion_variance(
    points: Sequence[float], met: Sequence[Sequence[Verdict]], floor: float = 0.2, no_positive: NoPositivePolicy = "none"
) -> list[float | None]:
    """criterion_variance (group): the healthbench formula with per-criterion weights

    w_j = |p_j| * (floor + (1 - floor) * 2 * std_j), std_j the within-group std of criterion j's
    verdicts. Criteria on which the whole group agrees carry only ``floor`` of their points;
    criteria that split the group carry all of them. floor=1 gives ``healthbench`` exactly.
    A completion with any ``None`` verdict gets ``None``; std_j uses the judged verdicts only.
    """
    weights = criterion_weights(points, met, floor=floor)
    return [
        None if any(m is None for m in row) else _healthbench(points, row, weights=weights, no_positive=no_positive)
        for row in met
    ]


def _rar_implicit(rating: float | None, low: float = 1, high: float = 10) -> float | None:
    """rar_implicit = (rating - low) / (high - low) of one holistic 1..10 judge rating (RaR-Implicit)."""
    return likert(rating, low=low, high=high)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("binary", _binary),
        Strategy("healthbench", _healthbench, low=-math.inf, high=1.0, options=("no_positive",)),
        Strategy("rar_explicit", _rar_explicit, options=("categories",), from_rubric=_categories_from_rubric),
        Strategy("hybrid", _hybrid, high=20.0, options=("normalize",)),
        Strategy("complexity", _complexity, high=25.0, options=("normalize",)),
        Strategy(
            "criterion_variance", _criterion_variance, group=True, low=-math.inf, options=("floor", "no_positive")
        ),
        Strategy("rar_implicit", _rar_implicit, rating=True),
    )
}

#: the strategies scored from criterion verdicts (every one but the rating-based ``rar_implicit``)
VERDICT_STRATEGIES: dict[str, Strategy] = {n: s for n, s in STRATEGIES.items() if not s.rating}


def check_strategy(name: str | Strategy, options: Any = None, label: str = "strategy") -> Strategy:
    """The strategy called ``name`` (or ``name`` itself when it is a :class:`Strategy`), after
    checking that it accepts every key of ``options``.

    The one validation of strategy names and options (run configuration, TRL adapter, ``score``);
    ``label`` names the thing in the error ("unknown {label} ...").

    >>> check_strategy("hybrid", {"normalize": True}).high
    20.0
    >>> check_strategy("binary", {"normalize": True})
    Traceback (most recent call last):
    ...
    ValueError: strategy 'binary' takes no option(s) ['normalize']; it accepts none
    """
    try:
        strategy = name if isinstance(name, Strategy) else STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {label} {name!r}; known: {', '.join(STRATEGIES)}") from None
    unknown = set(options or ()) - set(strategy.options)
    if unknown:
        raise ValueError(
            f"strategy {strategy.name!r} takes no option(s) {sorted(unknown)}; "
            f"it accepts {list(strategy.options) or 'none'}"
        )
    return strategy


def _verdict_strategy(name: str | Strategy, options: dict[str, Any]) -> Strategy:
    strategy = check_strategy(name, options)
    if strategy.rating:
        raise ValueError(f"strategy {strategy.name!r} scores one holistic 1..10 judge rating, not verdicts: use likert()")
    return strategy


def _reward(value: Any) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def score(strategy: str | Strategy, points: Sequence[float], met: Sequence[Verdict], **options: Any) -> float | None:
    """Reward of one completion under ``strategy`` (a name or a :class:`Strategy`); ``None`` when
    any verdict is ``None``.

    Group strategies (``criterion_variance``) need :func:`score_group`.

    >>> score("binary", [5, -2], [True, False])
    1.0
    """
    strat = _verdict_strategy(strategy, options)
    _check(points, met)
    if strat.group:
        raise ValueError(f"strategy {strat.name!r} scores a whole GRPO group: use score_group()")
    if any(m is None for m in met):
        return None
    return _reward(strat(points, met, **options))


def score_group(
    strategy: str | Strategy, points: Sequence[float], met: Sequence[Sequence[Verdict]], **options: Any
) -> list[float | None]:
    """Rewards of every completion of one prompt (rows of ``met``), one per row.

    >>> score_group("criterion_variance", [5, 5], [[True, True], [True, False]], floor=1.0)
    [1.0, 0.5]
    """
    strat = _verdict_strategy(strategy, options)
    if len(met) == 0:
        raise ValueError("met is empty: a group needs at least one completion")
    for row in met:
        _check(points, row)
    if strat.group:
        return [_reward(r) for r in strat(points, met, **options)]
    return [None if any(m is None for m in row) else _reward(strat(points, row, **options)) for row in met]


def likert(rating: float | None, low: float = 1, high: float = 10) -> float | None:
    """RaR-Implicit reward: (rating - low) / (high - low); ``None`` stays ``None``.

    >>> likert(10), likert(1), likert(5.5)
    (1.0, 0.0, 0.5)
    """
    if rating is None:
        return None
    if high <= low:
        raise ValueError(f"high ({high}) must exceed low ({low})")
    if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not math.isfinite(rating):
        raise ValueError(f"rating must be a finite number, got {rating!r}")
    if not low <= rating <= high:
        raise ValueError(f"rating {rating} is outside [{low}, {high}]")
    return (rating - low) / (high - low)

