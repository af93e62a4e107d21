"""Training pairs and triples within a conversation, from the grader's scores.

* pairs ``(i, j)``: two answers to the same conversation with ``ref[i] > ref[j]`` (the
  Bradley-Terry loss wants ``s_i > s_j``);
* triples ``(good, medium, poor)``: three answers to the same conversation whose grader scores
  are strictly ordered ``ref[good] > ref[medium] > ref[poor]`` (the GPRC term); at most
  ``max_per_group`` per conversation, drawn with ``seed``.

    >>> ordered_pairs(["a", "a", "b"], [0.9, 0.1, 0.5]).tolist()
    [[0, 1]]
    >>> ordered_triples(["a"] * 3, [0.2, 0.9, 0.5]).tolist()
    [[1, 2, 0]]
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["members", "ordered_pairs", "ordered_triples"]


def members(groups: Sequence[Any]) -> dict[Any, list[int]]:
    """Indices of each group, in first-seen order."""
    out: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        out.setdefault(g, []).append(i)
    return out


def ordered_pairs(groups: Sequence[Any], ref: Sequence[float | None]) -> np.ndarray:
    """``(n, 2)`` int array of (better, worse) pairs of the same group (None scores left out)."""
    out = []
    for idx in members(groups).values():
        for i, j in itertools.combinations(idx, 2):
            if ref[i] is None or ref[j] is None or ref[i] == ref[j]:
                continue
            out.append((i, j) if ref[i] > ref[j] else (j, i))  # type: ignore[operator]
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def ordered_triples(groups: Sequence[Any], ref: Sequence[float], max_per_group: int = 40, seed: int = 0) -> np.ndarray:
    """``(n, 3)`` int array of (good, medium, poor) triples of the same group."""
    rng = random.Random(seed)
    out = []
    for idx in members(groups).values():
        found = []
        for t in itertools.combinations(idx, 3):
            a, b, c = sorted(t, key=lambda k: -ref[k])
            if ref[a] > ref[b] > ref[c]:
                found.append((a, b, c))
        if len(found) > max_per_group:
            found = rng.sample(found, max_per_group)
        out.extend(found)
    return np.array(out, dtype=np.int64).reshape(-1, 3)
