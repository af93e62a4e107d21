"""Eval records: loading, checking, the seeded subset, first-turn prompts, final answers.

A record is the canonical row of DESIGN.md §3 (``id``, ``prompt`` messages ending on a user
turn, ``rubrics`` of ``{criterion, points, tags}``); raw HealthBench rows (``prompt_id``,
``example_tags``) are accepted too.

Example:
    >>> first_user_turn([{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
    ...                  {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}])
    [{'role': 'system', 'content': 's'}, {'role': 'user', 'content': 'q'}]
    >>> final_answer("<start_working_out>hmm<end_working_out><SOLUTION>Call 911.</SOLUTION>")
    'Call 911.'
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.answer_format import extract_answer
from heartgrpo.eval.jsonl import EvalInputError, read_eval_rows
from heartgrpo.rubrics import is_finite_number

__all__ = [
    "check_record",
    "eval_prompts",
    "example_tags",
    "final_answer",
    "first_user_turn",
    "load_records",
    "record_id",
    "select_subset",
]



def record_id(record: Mapping[str, Any], where: str = "record") -> str:
    """``id`` (canonical) or ``prompt_id`` (raw HealthBench)."""
    rid = record.get("id") or record.get("prompt_id")
    if not isinstance(rid, str) or not rid:
        raise EvalInputError(f"{where}: field 'id' (or 'prompt_id') missing or not a string")
    return rid


def example_tags(record: Mapping[str, Any]) -> list[str]:
    """``example_tags`` plus ``heart_theme:<theme>`` when the record has a heart theme."""
    tags = [t for t in record.get("example_tags") or [] if isinstance(t, str)]
    if record.get("heart_theme"):
        tags.append(f"heart_theme:{record['heart_theme']}")
    return tags


def check_record(record: Mapping[str, Any], where: str = "record") -> None:
    """Raise :class:`EvalInputError` naming the record and field when it cannot be evaluated."""
    rid = record_id(record, where)
    where = f"{where} id={rid}"
    prompt = record.get("prompt")
    if not isinstance(prompt, list) or not prompt:
        raise EvalInputError(f"{where}: field 'prompt' must be a non-empty list of messages")
    for i, msg in enumerate(prompt):
        if not isinstance(msg, Mapping) or not isinstance(msg.get("content"), str) or not isinstance(msg.get("role"), str):
            raise EvalInputError(f"{where}: prompt[{i}] must be {{'role': str, 'content': str}}")
    if prompt[-1].get("role") != "user":
        raise EvalInputError(f"{where}: field 'prompt' must end on a user turn, ends on {prompt[-1].get('role')!r}")
    rubrics = record.get("rubrics")
    if not isinstance(rubrics, list) or not rubrics:
        raise EvalInputError(f"{where}: field 'rubrics' must be a non-empty list of criteria")
    for j, c in enumerate(rubrics):
        if not isinstance(c, Mapping) or not isinstance(c.get("criterion"), str):
            raise EvalInputError(f"{where}: rubrics[{j}].criterion missing or not a string")
        p = c.get("points")
        if not is_finite_number(p):
            raise EvalInputError(f"{where}: rubrics[{j}].points must be a finite number, got {p!r}")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a JSONL file of records; duplicate ids are an error."""
    records, seen = [], {}
    for line_no, row in read_eval_rows(path):
        where = f"{path}:{line_no}"
        check_record(row, where)
        rid = record_id(row)
        if rid in seen:
            raise EvalInputError(f"{where}: duplicate id {rid!r} (first at line {seen[rid]})")
        seen[rid] = line_no
        records.append(row)
    if not records:
        raise EvalInputError(f"{path}: no records")
    return records


def select_subset(records: Sequence[Mapping[str, Any]], n: int | None, seed: int) -> list[Mapping[str, Any]]:
    """A seeded sample of ``n`` records (all when ``n`` is None or >= len), in id order.

    The sample depends only on the set of ids and the seed, not on file order.
    """
    ordered = sorted(records, key=record_id)
    if n is None or n >= len(ordered):
        return list(ordered)
    chosen = random.Random(seed).sample(range(len(ordered)), n)
    return [ordered[i] for i in sorted(chosen)]


def first_user_turn(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The messages up to and including the first user turn (system messages before it kept)."""
    out = []
    for msg in messages:
        out.append(dict(msg))
        if msg.get("role") == "user":
            return out
    raise EvalInputError("conversation has no user turn")


def eval_prompts(path: str | Path, first_user_turn_only: bool) -> list[list[dict[str, Any]]]:
    """The conversations evaluation sends to the model: each record's prompt, cut after its first
    user turn when ``first_user_turn_only`` (the paper's protocol)."""
    return [first_user_turn(r["prompt"]) if first_user_turn_only else list(r["prompt"]) for r in load_records(path)]


def final_answer(text: str) -> str:
    """The part of a completion a grader should see: the same extraction the GRPO reward uses
    (:func:`heartgrpo.answer_format.extract_answer` with both ``<think>`` and the paper's
    working-out section stripped, ``<SOLUTION>`` content when present)."""
    return extract_answer(text, strip_think=True, strip_reasoning=True)


def records_by_id(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Records keyed by id."""
    return {record_id(r): r for r in records}
