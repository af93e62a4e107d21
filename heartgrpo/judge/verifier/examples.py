"""Training and evaluation examples for the local verifier: real grader verdicts, joined to their conversation.

Two sources:

* a **graded file** (``graded_{dev,eval}.jsonl.gz`` of ``../shared/data/healthbench``, gzipped or
  plain JSONL): one answer a line, ``{"x_prompt_sha256", "response", "items": [{"criterion",
  "points", "met", "explanation"}]}``, joined with a **conversations file**
  (``hard_rebuilt_{dev,eval}.jsonl``: rows with ``prompt`` and ``x_prompt_sha256``; a row without
  the hash gets it computed as the data's README says: sha256 of ``json.dumps([{role, content},
  ...], ensure_ascii=False, sort_keys=True)``);
* a **recorded verdict log** of :class:`heartgrpo.judge.RecordingJudge` (one verdict a line,
  ``{"conversation", "response", "criterion", "met"}``; ``points`` when present, else 1 —
  recordings do not keep points; holistic ``rating`` lines are skipped). A verdict cache
  (:class:`heartgrpo.judge.VerdictCache`) holds only hashed keys, not the texts, so it cannot be
  trained on; record a run with ``judge.recording`` to keep its verdicts as training data.

Every example knows its ``group`` (the conversation's hash: grouped splits never put one
conversation on both sides) and its ``answer`` key (to score answers as a whole).

    >>> ex = Example([{"role": "user", "content": "hi"}], "hello", "Greets the user", 2.0, True, "g", "a")
    >>> ex.positive
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartgrpo.records import conversation_sha256
from heartgrpo.judge.cache import json_digest
from heartgrpo.judge.offline import record_key
from heartgrpo.io.jsonl import iter_rows

__all__ = ["Example", "by_answer", "default_conversations", "load_graded", "load_recorded", "load_sources"]


@dataclass(frozen=True)
class Example:
    """One (conversation, answer, criterion, points) with the reference verdict ``met``."""

    conversation: list[dict]
    response: str
    criterion: str
    points: float
    met: bool
    group: str
    answer: str

    @property
    def positive(self) -> bool:
        return self.points > 0


def _lines(path: Path) -> Iterator[tuple[int, dict]]:
    return iter_rows(path)


def default_conversations(graded: Path) -> Path:
    """``hard_rebuilt_<split>.jsonl`` beside ``graded_<split>.jsonl[.gz]``."""
    name = graded.name.removesuffix(".gz").removesuffix(".jsonl")
    split = name.removeprefix("graded_")
    return graded.with_name(f"hard_rebuilt_{split}.jsonl")


def _conversations(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for lineno, row in _lines(path):
        prompt = row.get("prompt")
        if not isinstance(prompt, list) or not prompt:
            raise ValueError(f"{path}:{lineno}: field 'prompt' must be a non-empty list of messages")
        out[str(row.get("x_prompt_sha256") or conversation_sha256(prompt))] = prompt
    return out


def load_graded(graded: str | Path, conversations: str | Path | None = None, limit_answers: int | None = None) -> list[Example]:
    """Examples of a graded file joined with its conversations (see the module docstring).

    Raises ValueError naming the file and line for a malformed row or an unknown conversation.
    """
    graded = Path(graded)
    conv_path = Path(conversations) if conversations else default_conversations(graded)
    if not conv_path.is_file():
        raise FileNotFoundError(f"{conv_path}: conversations file for {graded.name} not found (pass --conversations)")
    convs = _conversations(conv_path)
    out: list[Example] = []
    for n, (lineno, row) in enumerate(_lines(graded)):
        if limit_answers is not None and n >= limit_answers:
            break
        where = f"{graded}:{lineno}"
        sha = row.get("x_prompt_sha256")
        if sha not in convs:
            raise ValueError(f"{where}: conversation {str(sha)[:16]}... is not in {conv_path}")
        response, items = row.get("response"), row.get("items")
        if not isinstance(response, str) or not isinstance(items, list):
            raise ValueError(f"{where}: a graded row needs 'response' (string) and 'items' (list)")
        answer = f"{graded.name}:{lineno}"
        for k, it in enumerate(items):
            if not isinstance(it, dict) or not isinstance(it.get("met"), bool) or "criterion" not in it or "points" not in it:
                raise ValueError(f"{where}: items[{k}] needs 'criterion', 'points' and a boolean 'met'")
            out.append(Example(convs[sha], response, str(it["criterion"]), float(it["points"]), it["met"], str(sha), answer))
    return out


def load_recorded(path: str | Path) -> list[Example]:
    """Examples of a :class:`heartgrpo.judge.RecordingJudge` log (a later line for the same
    (conversation, answer, criterion) replaces an earlier one)."""
    path = Path(path)
    found: dict[str, Example] = {}
    for lineno, row in _lines(path):
        if "rating" in row:
            continue
        where = f"{path}:{lineno}"
        for field in ("conversation", "response", "criterion", "met"):
            if field not in row:
                raise ValueError(f"{where}: missing field {field!r}")
        if not isinstance(row["met"], bool):
            raise ValueError(f"{where}: field 'met' must be true or false, got {row['met']!r}")
        conv = row["conversation"]
        conv = [{"role": "user", "content": conv}] if isinstance(conv, str) else list(conv)
        sha = conversation_sha256(conv)
        key = record_key(conv, row["response"], str(row["criterion"]))
        answer = f"{path.name}:{json_digest(sha, row['response'])[:16]}"
        found[key] = Example(conv, str(row["response"]), str(row["criterion"]), float(row.get("points", 1.0)), row["met"], sha, answer)
    return list(found.values())


def load_sources(paths: Sequence[str | Path], conversations: str | Path | None = None) -> list[Example]:
    """Examples of every path: graded files (rows with ``items``) or recorded verdict logs."""
    out: list[Example] = []
    for p in paths:
        p = Path(p)
        first = next(_lines(p), (0, {}))[1]
        out.extend(load_graded(p, conversations) if "items" in first else load_recorded(p))
    return out


def by_answer(examples: Sequence[Any]) -> list[list[int]]:
    """Indices of ``examples`` grouped by answer, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.answer, []).append(i)
    return list(groups.values())
