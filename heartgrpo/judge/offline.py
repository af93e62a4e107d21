"""Offline judges: replay of recorded verdicts, and an APPROXIMATE lexical judge for CPU demos.

* :class:`RecordedJudge` replays verdicts from a JSONL file (one line per (conversation,
  response, criterion)); :class:`RecordingJudge` wraps any judge and appends what it decides
  to such a file, so a run can be re-scored later without a server.
* :class:`LexicalJudge` needs no network, no model and no GPU. It is APPROXIMATE: it decides
  by word overlap between the criterion and the response, not by understanding either.

Record format (one JSON object per line)::

    {"conversation": [{"role": "user", "content": "..."}], "response": "...",
     "criterion": "Advises an ECG.", "met": true, "explanation": "..."}
    {"conversation": [...], "response": "...", "rating": 7}            # a holistic rating

Example:
    >>> import asyncio
    >>> judge = LexicalJudge()
    >>> asyncio.run(judge.grade("chest pain?", "Get an ECG now.", [{"criterion": "Recommends an ECG", "points": 5}]))[0].met
    True
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.judge.types import Judge, JudgeDescription, JudgeStats, Verdict, as_messages
from heartgrpo.io.jsonl import append_rows, iter_rows
from heartgrpo.io.store import json_digest

__all__ = ["LexicalJudge", "RecordedJudge", "RecordingJudge", "record_key"]


def _text(c: Any) -> str:
    if hasattr(c, "criterion"):
        return str(c.criterion)
    return str(c["criterion"]) if isinstance(c, dict) else str(c)


def _points(c: Any) -> float:
    return float(c.points if hasattr(c, "points") else c["points"])


def record_key(conversation: Any, response: str, criterion: str | None) -> str:
    """sha256 of (conversation, response, criterion text); criterion None keys a rating."""
    return json_digest(as_messages(conversation), response, criterion)


class RecordedJudge:
    """Replays verdicts from a JSONL file; an unrecorded criterion gets met=None with an error.

    Malformed lines raise ValueError naming the file and line number.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.stats = JudgeStats()
        self._verdicts: dict[str, Verdict] = {}
        self._ratings: dict[str, float] = {}
        for lineno, row in iter_rows(self.path):
            self._load(row, lineno)

    def _load(self, row: dict, lineno: int) -> None:
        where = f"{self.path}:{lineno}"
        for field in ("conversation", "response"):
            if field not in row:
                raise ValueError(f"{where}: missing field {field!r}")
        if "rating" in row:
            self._ratings[record_key(row["conversation"], row["response"], None)] = float(row["rating"])
            return
        if "criterion" not in row or "met" not in row:
            raise ValueError(f"{where}: a verdict record needs 'criterion' and 'met'")
        if not isinstance(row["met"], bool):
            raise ValueError(f"{where}: field 'met' must be true or false, got {row['met']!r}")
        key = record_key(row["conversation"], row["response"], str(row["criterion"]))
        self._verdicts[key] = Verdict(row["met"], str(row.get("explanation", "")), cached=True)

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        out = [
            self._verdicts.get(record_key(prompt, response, _text(c)))
            or Verdict.failed(f"no recorded verdict in {self.path.name} for criterion {_text(c)[:60]!r}")
            for c in rubrics
        ]
        self.stats.add(verdicts=len(out), failures=sum(v.met is None for v in out))
        return out

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        rating = self._ratings.get(record_key(prompt, response, None))
        self.stats.add(ratings=1, rating_failures=int(rating is None))
        return rating


class RecordingJudge:
    """Wraps a judge and appends every decided verdict and rating to a JSONL file."""

    def __init__(self, inner: Judge, path: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    @property
    def stats(self) -> JudgeStats:
        return getattr(self.inner, "stats", JudgeStats())

    def _append(self, rows: list[dict]) -> None:
        with self._lock:
            append_rows(self.path, rows, fsync=False)

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        verdicts = await self.inner.grade(prompt, response, rubrics)
        conv = as_messages(prompt)
        self._append(
            [
                {"conversation": conv, "response": response, "criterion": _text(c), "met": v.met, "explanation": v.explanation}
                for c, v in zip(rubrics, verdicts)
                if v.met is not None
            ]
        )
        return verdicts

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        rating = await self.inner.rate(prompt, response, rubrics)
        if rating is not None:
            self._append([{"conversation": as_messages(prompt), "response": response, "rating": rating}])
        return rating


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a an the and or of to in on for with without by at from as is are be been being it its this that these those
    than then there their they them he she his her you your we our not no nor but if so such do does did can could
    should would may might must will shall also any all each either both more most less very into about over under
    between whether which who whom whose what when where why how response responses answer model assistant user
    mentions mention mentioned states state stated explains explain explained includes include including provides
    provide provided describes describe notes note recommends recommend recommended advises advise suggests suggest
    discusses discuss clearly correctly appropriately accurately specifically explicitly properly e g i e etc""".split()
)


def _stem(word: str) -> str:
    return word[:5]


def content_stems(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


class LexicalJudge:
    """APPROXIMATE judge: word overlap between criterion and response, no model involved.

    A criterion is judged met when at least ``threshold`` of its content-word stems (stop words
    and rubric boilerplate such as "mentions", "recommends" removed; stems = first 5 letters)
    occur in the response: ``met = |stems(c) & stems(r)| / |stems(c)| >= threshold``. The same
    rule is used for pitfalls (met = the pitfall's words are present), which makes pitfall
    verdicts especially rough. Deterministic, offline, for the CPU demo and tests only; any
    report that uses it must say its scores are approximate.

    ``rate`` returns 1 + 9 * (points-weighted share of positive criteria met, minus half the
    share of pitfalls triggered, floored at 0).
    """

    approximate = True

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.stats = JudgeStats()

    def describe(self) -> JudgeDescription:
        """How reports name this judge and what a gain under it means (word overlap, not medicine)."""
        return JudgeDescription(
            " - APPROXIMATE offline lexical judge (word overlap, not a clinical grader)",
            "What a gain means: the approximate lexical judge marks a criterion met when enough of the criterion's "
            "content words appear in the answer, so it rewards word overlap with the rubric, not clinical "
            "correctness; a rising reward or a held-out gain means answers that share more words with the "
            "criteria, not better medical advice.",
        )

    def _verdict(self, response_stems: set[str], criterion: str) -> Verdict:
        wanted = content_stems(criterion)
        if not wanted:
            return Verdict(False, "approximate lexical judge: the criterion has no content words")
        overlap = len(wanted & response_stems) / len(wanted)
        met = overlap >= self.threshold
        return Verdict(met, f"approximate lexical overlap {overlap:.2f} {'>=' if met else '<'} {self.threshold:g}")

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        stems = content_stems(response)
        out = [self._verdict(stems, _text(c)) for c in rubrics]
        self.stats.add(verdicts=len(out))
        await asyncio.sleep(0)
        return out

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        verdicts = await self.grade(prompt, response, rubrics)
        points = [_points(c) for c in rubrics]
        pos = sum(p for p in points if p > 0) or 1.0
        neg = sum(-p for p in points if p < 0) or 1.0
        s = sum(p for p, v in zip(points, verdicts) if p > 0 and v.met) / pos
        rho = sum(-p for p, v in zip(points, verdicts) if p < 0 and v.met) / neg
        self.stats.add(ratings=1)
        return 1.0 + 9.0 * max(0.0, s - 0.5 * rho)
