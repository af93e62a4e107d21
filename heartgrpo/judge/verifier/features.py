"""Features of one (conversation, answer, criterion, points) for the local verifier.

Every example becomes a sparse bag of named features (hashed later into a fixed-width vector by
:class:`sklearn.feature_extraction.FeatureHasher`). What they describe:

* the criterion's own wording: its words and word pairs, its first three words, its sign
  (positive criterion or pitfall) and its points — most of what a grader decides is predictable
  from what kind of behaviour a criterion asks for;
* the criterion crossed with the answer: for each content word of the criterion, whether the
  answer contains it (``hit:``/``miss:``), the share of content words found, weighted by how
  rare a word is (a small inverse-document-frequency table built at training time), and the
  same share over the words the criterion adds to the conversation (words the user already
  wrote say little about the answer);
* the answer's shape: length, questions asked back, lists, headings, emergency advice, hedges,
  and those crossed with the criterion's asks ("asks for more context" against an answer that
  asks questions, "advises emergency care" against an answer that names one);
* the answer's own words (a binary bag);
* with ``features=2``, the crosses of :mod:`heartgrpo.judge.verifier.crosses` (criterion words
  against the answer's length and coverage, criterion character 4-grams, the criterion's kind).

Continuous values enter twice: as a value and as a coarse bin crossed with the criterion's sign,
so a linear model can bend them. Stems are the first 5 letters of a word, as in
:class:`heartgrpo.judge.LexicalJudge`.

    >>> f = example_features([{"role": "user", "content": "chest pain"}], "Call 911 now. Is it crushing?",
    ...                      "Advises calling emergency services", 5.0)
    >>> f["sign:+"], f["emerg:c&a"], f["ans:questions"] > 0
    (1.0, 1.0, True)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from heartgrpo.judge.offline import _STOP  # the lexical judge's stop words: one list for both
from heartgrpo.judge.verifier.crosses import bin_of, cross_features

__all__ = ["AnswerView", "build_idf", "conversation_stems", "example_features", "stems_of"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_EMERGENCY = re.compile(r"\b(911|999|112|emergency|ambulance|er\b|urgent care|immediately|right away|call)", re.I)
_HEDGE = re.compile(r"\b(may|might|could|possibly|consult|healthcare (?:provider|professional)|doctor)\b", re.I)
_ASK_CRIT = re.compile(r"\b(asks?|ask(?:ing)?|seeks?|clarif\w*|inquir\w*|more (?:information|context|details))\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NEG_CRIT = re.compile(r"\b(fails? to|does not|doesn't|not|without|omits?|neglects?|incorrectly|misses)\b", re.I)


def stems_of(text: str) -> list[str]:
    """Content-word stems of ``text`` (stop words and rubric boilerplate removed), in order.

    >>> stems_of("Recommends an ECG and troponin testing")
    ['ecg', 'tropo', 'testi']
    """
    return [w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]


def build_idf(documents: Iterable[str]) -> dict[str, float]:
    """``log((1 + N) / (1 + df(stem))) + 1`` per stem over ``documents`` (the answers)."""
    df: Counter[str] = Counter()
    n = 0
    for doc in documents:
        n += 1
        df.update(set(stems_of(doc)))
    return {s: math.log((1 + n) / (1 + d)) + 1.0 for s, d in df.items()}


class AnswerView:
    """What the features need of one answer, computed once per answer (not per criterion)."""

    __slots__ = ("text", "stems", "words", "n_chars", "questions", "bullets", "headings", "emergency", "hedges", "sentences", "pairs")

    def __init__(self, answer: str) -> None:
        low = answer.lower()
        self.text = answer
        self.words = frozenset(_WORD.findall(low))
        self.stems = frozenset(stems_of(low))
        self.n_chars = len(answer)
        self.questions = answer.count("?")
        self.bullets = sum(1 for line in answer.splitlines() if line.lstrip().startswith(("-", "*", "•")) or line.lstrip()[:2].rstrip(".").isdigit())
        self.headings = sum(1 for line in answer.splitlines() if line.lstrip().startswith("#"))
        self.emergency = len(_EMERGENCY.findall(answer))
        self.hedges = len(_HEDGE.findall(answer))
        self.sentences = [frozenset(stems_of(x)) for x in _SENTENCE.split(low) if x.strip()]
        seq = stems_of(low)
        self.pairs = frozenset(zip(seq, seq[1:]))


@lru_cache(maxsize=65536)
def _criterion_view(criterion: str) -> tuple[tuple[str, ...], tuple[str, ...], bool, bool, bool]:
    low = criterion.lower()
    words = tuple(_WORD.findall(low))
    return words, tuple(dict.fromkeys(stems_of(low))), bool(_ASK_CRIT.search(low)), bool(_NEG_CRIT.search(low)), bool(_EMERGENCY.search(low))


def conversation_stems(conversation: Sequence[Mapping[str, Any]] | str) -> frozenset[str]:
    """Stems of every turn of the conversation."""
    if isinstance(conversation, str):
        return frozenset(stems_of(conversation))
    return frozenset(s for m in conversation for s in stems_of(str(m.get("content", ""))))


def example_features(
    conversation: Sequence[Mapping[str, Any]] | str,
    answer: str | AnswerView,
    criterion: str,
    points: float,
    *,
    idf: Mapping[str, float] | None = None,
    conv_stems: frozenset[str] | None = None,
    answer_words: bool = True,
    features: int = 1,
) -> dict[str, float]:
    """The named features of one example (see the module docstring); values are floats.
    ``features=2`` adds :func:`heartgrpo.judge.verifier.crosses.cross_features`."""
    view = answer if isinstance(answer, AnswerView) else AnswerView(answer)
    conv = conv_stems if conv_stems is not None else conversation_stems(conversation)
    words, cstems, asks, negated, emerg = _criterion_view(criterion)
    sign = "+" if points > 0 else "-"
    f: dict[str, float] = {f"sign:{sign}": 1.0, "points": points / 10.0, f"pts:{sign}{min(int(abs(points)), 10)}": 1.0}
    for w in words:
        f[f"c:{w}"] = 1.0
        f[f"c{sign}:{w}"] = 1.0
    for a, b in zip(words, words[1:]):
        f[f"cc:{a}_{b}"] = 1.0
    f[f"first:{sign}:{'_'.join(words[:3])}"] = 1.0
    f[f"first1:{sign}:{words[0] if words else ''}"] = 1.0
    get = (idf or {}).get
    hit_w = tot_w = new_hit = new_tot = 0.0
    for s in cstems:
        w = get(s, 1.0)
        hit = s in view.stems
        f[f"{'hit' if hit else 'miss'}:{s}"] = 1.0
        tot_w += w
        hit_w += w * hit
        if s not in conv:
            new_tot += w
            new_hit += w * hit
    share = hit_w / tot_w if tot_w else 0.0
    new_share = new_hit / new_tot if new_tot else share
    plain = sum(s in view.stems for s in cstems) / len(cstems) if cstems else 0.0
    best = best_w = 0.0
    for sent in view.sentences:
        if cstems:
            best = max(best, sum(s in sent for s in cstems) / len(cstems))
        if tot_w:
            best_w = max(best_w, sum(get(s, 1.0) for s in cstems if s in sent) / tot_w)
    cpairs = list(zip(cstems, cstems[1:]))
    pair_share = sum(p in view.pairs for p in cpairs) / len(cpairs) if cpairs else 0.0
    verb = words[0] if words else ""
    log_len = math.log1p(view.n_chars)
    for name, value, edges in (
        ("share", share, (0.2, 0.4, 0.6, 0.8)),
        ("newshare", new_share, (0.2, 0.4, 0.6, 0.8)),
        ("plain", plain, (0.25, 0.5, 0.75)),
        ("len", log_len / 8.0, (5.0 / 8, 6.0 / 8, 7.0 / 8, 7.5 / 8, 8.0 / 8)),
        ("sent", best, (0.25, 0.5, 0.75)),
        ("sentw", best_w, (0.2, 0.4, 0.6, 0.8)),
        ("pairs", pair_share, (0.01, 0.3, 0.6)),
    ):
        f[f"{name}:{sign}"] = value
        k = bin_of(value, edges)
        f[f"{name}:{sign}{k}"] = 1.0
        f[f"{name}:{sign}{verb}:{k}"] = 1.0
    f[f"nstems:{sign}{min(len(cstems), 12) // 3}"] = 1.0
    q = min(view.questions, 6)
    f["ans:questions"] = q / 6.0
    f[f"ans:q{min(q, 3)}:{sign}"] = 1.0
    f[f"ans:bullets{bin_of(view.bullets, (1, 5, 15))}:{sign}"] = 1.0
    f[f"ans:heads{bin_of(view.headings, (1, 4))}:{sign}"] = 1.0
    f[f"ans:hedge{bin_of(view.hedges, (1, 4, 10))}:{sign}"] = 1.0
    if asks:
        f[f"ask:q{min(q, 3)}:{sign}"] = 1.0
    if negated:
        f[f"neg:{sign}:{bin_of(share, (0.3, 0.6))}"] = 1.0
    f[f"emerg:{'c' if emerg else '_'}&{'a' if view.emergency else '_'}"] = 1.0
    if answer_words:
        for w in view.words:
            f[f"a:{w}"] = 0.3
    if features >= 2:
        f.update(cross_features(conversation, view, criterion, points, idf or {}, words=words, cstems=cstems, conv_stems=conv))
    return f
