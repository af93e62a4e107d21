"""Contamination guard: word n-gram overlap between training questions and eval conversations.

Text is normalised (lower case, words of letters/digits only) and cut into word n-gram
shingles (n=8 by default; a text shorter than n words is one shingle of all its words). For a
training item A and an eval conversation B:

    containment = |A ∩ B| / min(|A|, |B|)        jaccard = |A ∩ B| / |A ∪ B|

A pair is flagged when ``containment >= threshold`` (default 0.5): a training question half of
whose shingles appear in an eval conversation (or vice versa) is too close to train on.
Candidate pairs come from an inverted index over eval shingles, so the cost grows with the
number of shared shingles, not with |train| x |eval|.

Example:
    >>> a = {"id": "t1", "prompt": [{"role": "user", "content": "one two three four five six seven eight nine"}]}
    >>> b = {"id": "e1", "prompt": [{"role": "user", "content": "zero one two three four five six seven eight nine"}]}
    >>> [round(o.containment, 2) for o in find_overlaps([a], [b])]
    [1.0]
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from heartgrpo.records import user_text

__all__ = ["Overlap", "drop_contaminated", "find_overlaps", "shingles"]

_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Overlap:
    """A flagged (training item, eval conversation) pair."""

    train_id: str
    eval_id: str
    shared: int
    containment: float
    jaccard: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    """Word n-grams of the normalised text (one shingle of all words when shorter than n)."""
    words = _TOKEN.findall(text.lower())
    if not words:
        return set()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def find_overlaps(train: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]], n: int = 8,
                  threshold: float = 0.5) -> list[Overlap]:
    """Every flagged (train, eval) pair, sorted by train id then descending containment."""
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    eval_sets = [shingles(user_text(r["prompt"]), n) for r in evals]
    for j, s in enumerate(eval_sets):
        for sh in s:
            index[sh].append(j)
    found = []
    for rec in train:
        a = shingles(user_text(rec["prompt"]), n)
        counts: dict[int, int] = defaultdict(int)
        for sh in a:
            for j in index.get(sh, ()):
                counts[j] += 1
        for j, shared in counts.items():
            b = eval_sets[j]
            containment = shared / min(len(a), len(b))
            if containment >= threshold:
                found.append(Overlap(rec["id"], evals[j]["id"], shared, containment, shared / len(a | b)))
    found.sort(key=lambda o: (o.train_id, -o.containment, o.eval_id))
    return found


def drop_contaminated(train: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]], n: int = 8,
                      threshold: float = 0.5) -> tuple[list[dict[str, Any]], list[Overlap]]:
    """Training records without the flagged ones, and the overlaps that flagged them."""
    overlaps = find_overlaps(train, evals, n, threshold)
    flagged = {o.train_id for o in overlaps}
    return [r for r in train if r["id"] not in flagged], overlaps
