"""Canonical record model, its validation into a plain dict, and ``conversation_sha256``.

Every loader in :mod:`heartgrpo.data` produces the canonical record of DESIGN.md §3::

    {"id": str, "source": "rar-medicine" | "healthbench" | "sample",
     "prompt": [{"role": "system"|"user"|"assistant", "content": str}, ...],  # ends on a user turn
     "reference_answer": str | None,
     "rubrics": [{"criterion": str, "points": float, "tags": [str, ...]}, ...],
     "heart": bool, "heart_theme": str | None, "split": str, ...}

Extra keys (``reasoning``, ``question_source``, ``example_tags``, ...) are kept.

Bad input never disappears silently: a loader either raises :class:`DataError` (the message
names the file, the line or row id and the field) or, with ``on_bad_row="skip"``, records the
problem in a :class:`~heartgrpo.io.jsonl.BadRowReport` that ends up in the preparation report
(row error reporting and the strict JSONL reader live in :mod:`heartgrpo.io.jsonl`).

Example:
    >>> rec = CanonicalRecord(id="q1", source="sample", split="train",
    ...     prompt=[{"role": "user", "content": "What is a normal resting heart rate?"}],
    ...     rubrics=[{"criterion": "States 60-100 bpm", "points": 5}])
    >>> rec.rubrics[0].points, rec.heart
    (5.0, False)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from heartgrpo.io.jsonl import DataError
from heartgrpo.rubrics import Criterion, RubricError, parse_rubric

__all__ = [
    "MAX_MESSAGE_CHARS",
    "check_message_length",
    "conversation_sha256",
    "CanonicalRecord",
    "Message",
    "make_record",
    "user_text",
]


#: the longest message text a record may hold, in characters. Real questions and turns are a few
#: thousand characters at most; a longer one is a broken row, and the heart classifier, which reads
#: every user turn, would spend seconds to minutes on it.
MAX_MESSAGE_CHARS = 100_000


def check_message_length(text: str, field: str) -> str:
    """``text`` itself, or :class:`DataError` naming ``field`` when it is over :data:`MAX_MESSAGE_CHARS`.

    >>> check_message_length("x" * 100_001, "question")
    Traceback (most recent call last):
    ...
    heartgrpo.io.jsonl.DataError: field 'question': 100001 characters, over the limit of 100000
    """
    if len(text) > MAX_MESSAGE_CHARS:
        raise DataError(f"field {field!r}: {len(text)} characters, over the limit of {MAX_MESSAGE_CHARS}")
    return text


class Message(BaseModel):
    """One chat turn (content not blank, at most :data:`MAX_MESSAGE_CHARS` characters)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    role: Literal["system", "user", "assistant", "developer"]
    content: str

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message content is empty")
        if len(value) > MAX_MESSAGE_CHARS:
            raise ValueError(f"message content is {len(value)} characters, over the limit of {MAX_MESSAGE_CHARS}")
        return value


class CanonicalRecord(BaseModel):
    """The record every loader produces; see the module docstring for the schema."""

    model_config = ConfigDict(extra="allow")

    id: str
    source: str
    prompt: list[Message]
    reference_answer: str | None = None
    rubrics: list[Criterion]
    heart: bool = False
    heart_theme: str | None = None
    split: str

    @field_validator("rubrics", mode="before")
    @classmethod
    def _parse_rubrics(cls, value: Any, info: Any) -> list[Criterion]:
        row_id = info.data.get("id") if info.data else None
        if value is None:
            raise ValueError("rubrics: missing (expected a list of criteria)")
        try:
            return parse_rubric(value, row_id)
        except RubricError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _ends_on_user(self) -> "CanonicalRecord":
        if not self.prompt:
            raise ValueError("prompt: conversation is empty")
        if self.prompt[-1].role != "user":
            raise ValueError(f"prompt: conversation must end on a user turn, ends on {self.prompt[-1].role!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict form (rubrics as canonical dicts, tags as lists)."""
        out = self.model_dump()
        out["prompt"] = [{"role": m.role, "content": m.content} for m in self.prompt]
        out["rubrics"] = [c.to_dict() for c in self.rubrics]
        return out


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"field {loc!r}: {msg}" if loc not in msg else msg)
    return "; ".join(parts)


def make_record(data: dict[str, Any]) -> dict[str, Any]:
    """Validate ``data`` as a canonical record and return its plain dict form.

    Raises :class:`DataError` with the row id and the failing fields.
    """
    try:
        return CanonicalRecord.model_validate(data).to_dict()
    except ValidationError as exc:
        raise DataError(f"row {data.get('id')!r}: {_describe(exc)}") from None


def user_text(prompt: list[dict[str, Any]]) -> str:
    """The user turns of a conversation joined by blank lines (what topic checks look at)."""
    return "\n\n".join(m["content"] for m in prompt if m.get("role") == "user")


def conversation_sha256(prompt: Sequence[dict[str, Any]]) -> str:
    """The conversation hash of the HealthBench rebuild (``x_prompt_sha256``): sha256 of the
    conversation as ``[{role, content}, ...]`` JSON (ensure_ascii=False, sort_keys=True).

    >>> conversation_sha256([{"role": "user", "content": "hi"}])[:12]
    '5aced9397fc4'
    """
    canon = [{"role": m["role"], "content": m["content"]} for m in prompt]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
