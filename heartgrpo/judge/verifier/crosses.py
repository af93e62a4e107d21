"""The verifier's second feature set (``features: 2``): the criterion's words crossed with the answer.

Added to :func:`heartgrpo.judge.verifier.features.example_features` for verifiers trained with
``features=2`` (a verifier file says which set it was trained on, so older files keep scoring
with the features they learnt). Each one was kept because it raised Cohen's kappa on a
conversation-grouped 4-fold split of the **dev** split (never on eval):

* every criterion word crossed with the answer's length bin (``cwl``: "concise", "detailed",
  "lists" mean different things for a 300- and a 3,000-character answer) and with the share of
  the criterion's stems the answer contains (``cws``: for some words coverage decides, for
  others it says nothing);
* character 4-grams of the criterion (``ch``, weight 0.3: word forms the 5-letter stems split);
* the criterion's kind: its length, its "and"/"or" count, whether it gives examples ("such as",
  "e.g.") or is strict ("all", "only", "specific"), each crossed with coverage; length words
  ("concise", "verbose") crossed with the answer's length; numbers in the criterion found
  verbatim in the answer; the number of turns of the conversation;
* how the answer covers the conversation, its number of sentences, and the rarest criterion stem
  it misses (inverse document frequency) and how many it misses.

    >>> crit = "Gives a concise answer such as 120/80"
    >>> f = cross_features([{"role": "user", "content": "bp?"}], _View(), crit, 4.0, {}, words=tuple(crit.lower().split()), cstems=())
    >>> f["ceg+:True:0"], "concise+:0" in f
    (1.0, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LEN_EDGES", "bin_of", "cross_features", "negation_flip"]

_NUM = re.compile(r"\d+(?:\.\d+)?")
_EG = re.compile(r"\b(e\.g\.|such as|for example|including|like)\b", re.I)
_STRICT = re.compile(r"\b(all|each|every|only|both|must|specific\w*|exact\w*)\b", re.I)
_CONCISE = re.compile(r"\b(concise|brief|short|succinct|verbose|lengthy|long|length|wordy|unnecessar\w*|excessive\w*)\b", re.I)
#: bins of ``log(1 + characters)`` of the answer (about 400, 900, 1,500, 2,200, 3,300 characters)
LEN_EDGES = (6.0, 6.8, 7.3, 7.7, 8.1)


_NEGATED = re.compile(r"^\s*(?:the response\s+)?(?:fails? to|does not|doesn't|did not|do not|omits?|neglects? to|lacks?|misses)\s+", re.I)


def negation_flip(criterion: str, points: float) -> tuple[str, float, bool]:
    """``(criterion without its leading negation, -points, True)`` for a criterion that starts
    with one ("Fails to", "Does not", "Omits", ...), else ``(criterion, points, False)``. The
    grader marks "Fails to X" met exactly when the answer does not do X, so the verifier learns
    it as the criterion "X" with the opposite sign and the opposite label. Chosen on dev (grouped
    folds: pitfall kappa 0.37 -> 0.41).

    >>> negation_flip("Fails to recommend an ECG.", -6.0)
    ('recommend an ECG.', 6.0, True)
    >>> negation_flip("Recommends an ECG.", 6.0)
    ('Recommends an ECG.', 6.0, False)
    """
    m = _NEGATED.match(criterion)
    if not m:
        return criterion, points, False
    return criterion[m.end():], -points, True


def bin_of(x: float, edges: Sequence[float]) -> int:
    """How many of ``edges`` ``x`` reaches: ``bin_of(0.6, (0.25, 0.5, 0.75)) == 2``."""
    return sum(x >= e for e in edges)


class _View:
    """A stand-in answer view for the doctest: an empty 300-character answer."""

    stems: frozenset[str] = frozenset()
    n_chars, sentences, text = 300, (), ""


def cross_features(
    conversation: Sequence[Mapping[str, Any]] | str,
    view: Any,
    criterion: str,
    points: float,
    idf: Mapping[str, float],
    *,
    words: Sequence[str],
    cstems: Sequence[str],
    conv_stems: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """The ``features: 2`` additions for one example (see the module docstring); ``words`` and
    ``cstems`` are the criterion's words and stems as the first feature set reads them."""
    sign = "+" if points > 0 else "-"
    hits = [s in view.stems for s in cstems]
    share = sum(hits) / len(hits) if hits else 0.0
    lenbin = bin_of(math.log1p(view.n_chars), LEN_EDGES)
    sbin = bin_of(share, (0.25, 0.5, 0.75))
    f: dict[str, float] = {}
    for w in set(words):
        f[f"cwl{sign}:{w}:{lenbin}"] = 1.0
        f[f"cws{sign}:{w}:{sbin}"] = 1.0
    low = f" {criterion.lower()} "
    for i in range(len(low) - 3):
        f[f"ch{sign}:{low[i:i + 4]}"] = 0.3
    f[f"clen{sign}:{bin_of(len(words), (6, 10, 15, 22, 30))}"] = 1.0
    f[f"cand{sign}:{min(list(words).count('and') + list(words).count('or'), 4)}"] = 1.0
    f[f"ceg{sign}:{bool(_EG.search(criterion))}:{sbin}"] = 1.0
    f[f"cstrict{sign}:{bool(_STRICT.search(criterion))}:{sbin}"] = 1.0
    if _CONCISE.search(criterion):
        f[f"concise{sign}:{lenbin}"] = 1.0
    nums = _NUM.findall(criterion)
    if nums:
        found = sum(n in view.text for n in nums) / len(nums)
        f[f"num{sign}:{bin_of(found, (0.01, 0.5, 0.99))}"] = 1.0
    turns = 1 if isinstance(conversation, str) else min(len(conversation), 5)
    f[f"turns:{turns}:{sign}"] = 1.0
    cov = len(conv_stems & view.stems) / len(conv_stems) if conv_stems else 0.0
    f[f"convcov{sign}:{bin_of(cov, (0.2, 0.4, 0.6, 0.8))}"] = 1.0
    f[f"nsent{sign}:{bin_of(len(view.sentences), (5, 10, 20, 40))}"] = 1.0
    missed = [idf.get(s, 1.0) for s, h in zip(cstems, hits) if not h]
    f[f"missmax{sign}:{bin_of(max(missed) if missed else 0.0, (1.5, 2.5, 3.5, 4.5, 5.5))}"] = 1.0
    f[f"nmiss{sign}:{min(len(missed), 6)}"] = 1.0
    return f
