"""The heart classifier measured on real conversations: hand labels keyed by conversation hash.

A labels file holds one row per conversation, with no conversation text in it::

    {"prompt_id", "x_prompt_sha256", "file", "heart": bool, "theme": str | null,
     "borderline": bool, "note": str}

``x_prompt_sha256`` is the sha256 of ``json.dumps([{role, content}, ...], ensure_ascii=False,
sort_keys=True)`` (the key the shared HealthBench rows carry, recomputed for rows without it).
:func:`labelled_rows` joins labels to the conversations of HealthBench JSONL files and gives rows
``{"text", "heart", "theme", ...}`` for :func:`heartgrpo.data.heart.evaluate`, where ``text`` is
the conversation's user turns joined (what the loaders classify). :func:`flag_counts` classifies
unlabelled files and returns only counts (for a held-out split: no row is shown).

The bundled labels: ``heartgrpo/data/labels/healthbench_dev_heart_labels.jsonl``, the 429
distinct conversations of the HealthBench Hard and consensus ``dev`` rows.

Example::

    rows = labelled_rows(DEV_LABELS, ["../shared/data/healthbench/hard_rebuilt_dev.jsonl"])
    print(evaluate(rows)["precision"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.data.healthbench import conversation_sha256
from heartgrpo.data.heart import classify
from heartgrpo.data.records import DataError, read_jsonl, user_text

__all__ = ["DEV_LABELS", "conversation_sha256", "flag_counts", "labelled_rows"]

DEV_LABELS = Path(__file__).parent / "labels" / "healthbench_dev_heart_labels.jsonl"


def _conversations(files: Sequence[str | Path]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """sha256 -> (``file:line``, conversation) over the files, first occurrence kept."""
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for file in files:
        for line_no, row in read_jsonl(file):
            prompt = row.get("prompt")
            if not isinstance(prompt, list) or not prompt:
                raise DataError(f"{file}:{line_no}: row {row.get('prompt_id')!r}, field 'prompt': expected a list of messages")
            key = row.get("x_prompt_sha256") or conversation_sha256(prompt)
            out.setdefault(key, (f"{file}:{line_no}", prompt))
    return out


def labelled_rows(labels: str | Path, files: Sequence[str | Path]) -> tuple[list[dict[str, Any]], int]:
    """``(rows for evaluate, number of labels whose conversation is not in files)``.

    Raises :class:`DataError` when a label row lacks a field or no label matches any conversation.
    """
    conversations = _conversations(files)
    rows, missing = [], 0
    for line_no, label in read_jsonl(labels):
        for name in ("x_prompt_sha256", "heart"):
            if name not in label:
                raise DataError(f"{labels}:{line_no}: row {label.get('prompt_id')!r}, field {name!r}: missing")
        found = conversations.get(label["x_prompt_sha256"])
        if found is None:
            missing += 1
            continue
        rows.append({"text": user_text(found[1]), "heart": bool(label["heart"]), "theme": label.get("theme"),
                     "id": label.get("prompt_id"), "borderline": bool(label.get("borderline")), "where": found[0]})
    if not rows:
        raise DataError(f"{labels}: none of its labels matches a conversation in {', '.join(map(str, files))}")
    return rows, missing


def flag_counts(files: Sequence[str | Path]) -> dict[str, dict[str, int]]:
    """Per file: distinct conversations and how many :func:`classify` flags as heart (counts only)."""
    out = {}
    for file in files:
        convs = _conversations([file])
        out[str(file)] = {"n": len(convs), "flagged": sum(classify(user_text(p)).heart for _, p in convs.values())}
    return out
