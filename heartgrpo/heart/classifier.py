"""Deterministic heart-topic classifier: a curated cardiology lexicon with false-friend guards.

Contract (DESIGN.md §3): ``classify(text) -> HeartLabel(heart, theme, evidence)``.

Algorithm:

1. blank out the spans of ``FALSE_FRIENDS`` ("heartburn", "by heart", "portal hypertension",
   "par cœur", ...);
2. find every lexicon match (``LEXICON`` and the multilingual / colloquial ``LEXICON_EXTRA``;
   word boundaries; abbreviations case-sensitive); overlapping matches are resolved longest
   first, so "heart failure" counts once, for Heart Failure;
3. weigh each match in its context (:func:`heartgrpo.heart.context.match_weight`: negated
   and vital-sign mentions count 0, history/medication fields of a note a quarter, ...); a term
   repeated counts once (its highest weight); matches left at 0 are not evidence;
4. score(theme) = sum of the weights of its distinct terms; ``heart`` = total >= MIN_SCORE and,
   for a long conversation, at least two distinct terms of weight >= 2 (centrality:
   :func:`heartgrpo.heart.context.needs_more_evidence`);
   ``theme`` = the best-scoring theme, ties broken by ``THEME_PRIORITY`` (more specific first).

Example:
    >>> classify("My heart keeps racing after coffee").theme
    'Heart Palpitations'
    >>> classify("Is heartburn after dinner a worry?").heart
    False
    >>> classify("Vitals: BP 118/74, HR 68. Patient denies chest pain; rash on the arm.").heart
    False

Run ``python -m heartgrpo.heart --evaluate [labels.jsonl]`` for precision/recall of the
lexicon on a labelled set (rows ``{"text", "heart", "theme"}``), or
``--evaluate LABELS --conversations FILE ...`` for labels keyed by ``x_prompt_sha256`` over
HealthBench JSONL files (see :mod:`heartgrpo.heart.measure`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from heartgrpo.heart.context import match_weight, needs_more_evidence
from heartgrpo.heart.lexicon import FALSE_FRIENDS, GENERIC_THEME, LEXICON, THEME_PRIORITY, THEMES
from heartgrpo.heart.lexicon_extra import FALSE_FRIENDS_EXTRA, LEXICON_EXTRA

__all__ = ["GENERIC_THEME", "MIN_SCORE", "THEMES", "HeartLabel", "classify", "evaluate", "theme_scores"]

MIN_SCORE = 2.0
_WORD = r"(?<![\w-]){}(?![\w])"


@dataclass(frozen=True)
class HeartLabel:
    """Result of a heart-topic classification."""

    heart: bool
    theme: str | None
    evidence: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _compiled() -> tuple[re.Pattern[str], list[tuple[re.Pattern[str], str, float]]]:
    guards = re.compile("|".join(_WORD.format(f"(?:{g})") for g in FALSE_FRIENDS + FALSE_FRIENDS_EXTRA), re.IGNORECASE)
    terms = [
        (re.compile(_WORD.format(f"(?:{pattern})"), re.IGNORECASE), theme, weight)
        for lexicon in (LEXICON, LEXICON_EXTRA)
        for theme, entries in lexicon.items()
        for pattern, weight in entries
    ]
    return guards, terms


def _blank_false_friends(text: str) -> str:
    guards, _ = _compiled()
    return guards.sub(lambda m: " " * len(m.group(0)), text)


def _weighed_matches(text: str) -> list[tuple[int, int, str, float]]:
    """Non-overlapping matches ``(start, end, theme, weight in context)`` in text order, weight > 0."""
    _, terms = _compiled()
    clean = _blank_false_friends(text)
    matches = [
        (m.start(), m.end(), theme, weight)
        for pattern, theme, weight in terms
        for m in pattern.finditer(clean)
    ]
    matches.sort(key=lambda m: (-(m[1] - m[0]), -m[3], m[0]))
    taken: list[tuple[int, int, str, float]] = []  # kept in text order; disjoint, so ends are in order too
    starts: list[int] = []
    for start, end, theme, weight in matches:
        i = bisect.bisect_right(starts, start)
        if (i == 0 or taken[i - 1][1] <= start) and (i == len(taken) or end <= taken[i][0]):
            taken.insert(i, (start, end, theme, weight))
            starts.insert(i, start)
    weighed = [(s, e, t, match_weight(text, s, e, t, w)) for s, e, t, w in taken]
    return [m for m in weighed if m[3] > 0]


def _distinct(text: str, matches: list[tuple[int, int, str, float]]) -> dict[tuple[str, str], float]:
    """(theme, lower-cased term) -> the highest weight any of its matches carries."""
    best: dict[tuple[str, str], float] = {}
    for start, end, theme, weight in matches:
        key = (theme, " ".join(text[start:end].lower().split()))
        best[key] = max(best.get(key, 0.0), weight)
    return best


def _scored(text: str) -> tuple[dict[str, float], list[str], int]:
    """(per-theme scores over distinct terms, evidence in text order, distinct terms of weight >= 2)."""
    matches = _weighed_matches(text)
    distinct = _distinct(text, matches)
    scores: dict[str, float] = {}
    for (theme, _), weight in distinct.items():
        scores[theme] = scores.get(theme, 0.0) + weight
    return scores, [text[s:e] for s, e, _, _ in matches], sum(w >= 2.0 for w in distinct.values())


def theme_scores(text: str) -> tuple[dict[str, float], list[str]]:
    """Per-theme scores (distinct terms, weights in context) and the evidence terms in text order."""
    scores, evidence, _ = _scored(text)
    return scores, evidence


def classify(text: str) -> HeartLabel:
    """Label ``text`` as heart-related or not and pick one of the paper's 14 themes."""
    if not isinstance(text, str):
        raise TypeError(f"classify expects text, got {type(text).__name__}")
    scores, evidence, strong = _scored(text)
    if sum(scores.values()) < MIN_SCORE or needs_more_evidence(text, strong):
        return HeartLabel(heart=False, theme=None, evidence=evidence)
    best = max(scores.values())
    theme = next(t for t in THEME_PRIORITY if scores.get(t) == best)
    return HeartLabel(heart=True, theme=theme, evidence=evidence)


def evaluate(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Precision/recall/F1 of :func:`classify` for ``heart`` and theme accuracy on heart rows.

    Each row needs ``text`` and ``heart`` (bool); ``theme`` is compared on rows labelled heart.
    Returns counts, metrics and the misclassified rows.
    """
    tp = fp = fn = tn = theme_hits = theme_total = 0
    errors: list[dict[str, Any]] = []
    for row in rows:
        label = classify(row["text"])
        truth = bool(row["heart"])
        tp += truth and label.heart
        fp += (not truth) and label.heart
        fn += truth and not label.heart
        tn += (not truth) and not label.heart
        if truth != label.heart:
            errors.append({"text": row["text"], "heart": truth, "predicted": label.heart, "evidence": label.evidence,
                           "id": row.get("id")})
        if truth and label.heart and row.get("theme"):
            theme_total += 1
            theme_hits += label.theme == row["theme"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": tp + fp + fn + tn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": precision, "recall": recall, "f1": f1,
        "theme_accuracy": theme_hits / theme_total if theme_total else None,
        "theme_n": theme_total, "errors": errors,
    }


def default_labels_path() -> Path:
    """The labelled set bundled with the package (``heartgrpo/data/sample/heart_labels.jsonl``)."""
    return Path(__file__).parents[1] / "data" / "sample" / "heart_labels.jsonl"

