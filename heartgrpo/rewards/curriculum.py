"""The rubric curriculum's item state and named policies (:mod:`heartgrpo.train.curriculum` holds the reward).

An item's EMA of success moves as ``ema <- (1 - alpha) * ema + alpha * r`` (:func:`ema_update`);
a policy decides which items are active (its ``start`` and ``advance``) and which mastered ones
are reviewed (``review``). The rules of each policy are in the module docstring of
:mod:`heartgrpo.train.curriculum`.

    >>> items = [ItemState() for _ in range(7)]
    >>> Sequential().start(items)
    >>> [s.status for s in items].count("active")
    5
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "POLICIES",
    "AdmissionGated",
    "CurriculumPolicy",
    "ItemState",
    "Sequential",
    "StochasticReview",
    "Status",
    "ema_update",
    "indices_with",
    "item_success",
    "make_policy",
    "review_weight",
]

Status = Literal["candidate", "active", "mastered"]


@dataclass
class ItemState:
    """One rubric item of one prompt: EMA of success, status, and how often it was judged."""

    ema: float = 0.0
    status: Status = "candidate"
    seen: int = 0


def ema_update(ema: float, rate: float, alpha: float) -> float:
    """``(1 - alpha) * ema + alpha * rate``.

    >>> ema_update(0.5, 1.0, 0.1)
    0.55
    """
    return (1.0 - alpha) * ema + alpha * rate


def item_success(points: float, met: bool) -> bool:
    """Success of one verdict: met for a positive item, not triggered for a pitfall.

    >>> item_success(5, True), item_success(-2, True), item_success(-2, False)
    (True, False, True)
    """
    return bool(met) if points > 0 else not met


def review_weight(ema: float, power: float) -> float:
    """Review draw weight of a mastered item: ``0.2 + 0.8 * (1 - ema)^power``.

    >>> review_weight(1.0, 2.0), review_weight(0.0, 2.0), review_weight(0.5, 2.0)
    (0.2, 1.0, 0.4)
    """
    return 0.2 + 0.8 * max(0.0, 1.0 - ema) ** power


def indices_with(items: Sequence[ItemState], status: Status) -> list[int]:
    """Positions of the items with ``status``, in rubric order."""
    return [i for i, s in enumerate(items) if s.status == status]


def _master(items: list[ItemState], mastery: float) -> None:
    for s in items:
        if s.status == "active" and s.ema > mastery:
            s.status = "mastered"


def _fill(items: list[ItemState], capacity: int) -> None:
    """Activate candidates in rubric order until ``capacity`` items are active."""
    active = len(indices_with(items, "active"))
    for i in indices_with(items, "candidate"):
        if active >= capacity:
            break
        items[i].status = "active"
        active += 1


@dataclass(frozen=True)
class Sequential:
    """Window of ``window`` active items in rubric order; mastered at EMA > ``mastery``."""

    window: int = 5
    mastery: float = 0.9
    name: str = field(default="sequential", init=False)

    def start(self, items: list[ItemState]) -> None:
        _fill(items, self.window)

    def advance(self, items: list[ItemState]) -> None:
        _master(items, self.mastery)
        _fill(items, self.window)

    def review(self, items: Sequence[ItemState], rng: random.Random) -> list[int]:
        return []


@dataclass(frozen=True)
class AdmissionGated:
    """Admit one candidate a step when mean active EMA > ``admit_at`` (at most ``window`` active)."""

    window: int = 6
    mastery: float = 0.9
    admit_at: float = 0.75
    initial: int = 3
    name: str = field(default="admission", init=False)

    def start(self, items: list[ItemState]) -> None:
        _fill(items, min(self.initial, self.window))

    def advance(self, items: list[ItemState]) -> None:
        _master(items, self.mastery)
        active = indices_with(items, "active")
        if not active:
            _fill(items, 1)
        elif len(active) < self.window and sum(items[i].ema for i in active) / len(active) > self.admit_at:
            _fill(items, len(active) + 1)

    def review(self, items: Sequence[ItemState], rng: random.Random) -> list[int]:
        return []


@dataclass(frozen=True)
class StochasticReview:
    """:class:`Sequential` whose window gives ``review_share`` of its slots to mastered items."""

    window: int = 5
    mastery: float = 0.9
    review_share: float = 0.5
    power: float = 2.0
    name: str = field(default="review", init=False)

    def slots(self, items: Sequence[ItemState]) -> int:
        return min(int(self.window * self.review_share), len(indices_with(items, "mastered")))

    def start(self, items: list[ItemState]) -> None:
        _fill(items, self.window)

    def advance(self, items: list[ItemState]) -> None:
        _master(items, self.mastery)
        _fill(items, self.window - self.slots(items))

    def review(self, items: Sequence[ItemState], rng: random.Random) -> list[int]:
        pool = indices_with(items, "mastered")
        chosen: list[int] = []
        for _ in range(self.slots(items)):
            weights = [review_weight(items[i].ema, self.power) for i in pool]
            pick = rng.choices(range(len(pool)), weights=weights)[0]
            chosen.append(pool.pop(pick))
        return sorted(chosen)


CurriculumPolicy = Sequential | AdmissionGated | StochasticReview
POLICIES: dict[str, type] = {"sequential": Sequential, "admission": AdmissionGated, "review": StochasticReview}


def make_policy(name: str, **options: Any) -> CurriculumPolicy:
    """The policy called ``name`` with ``options`` (its dataclass fields).

    >>> make_policy("admission", admit_at=0.8).window
    6
    """
    if name not in POLICIES:
        raise ValueError(f"unknown curriculum policy {name!r}; known: {', '.join(POLICIES)}")
    return POLICIES[name](**options)
