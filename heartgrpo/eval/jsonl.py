"""Crash-safe JSONL files for answers and verdicts, over :mod:`heartgrpo.io.jsonl`.

Contract:

* :func:`heartgrpo.io.jsonl.append_row` writes one JSON object plus a newline, flushes and fsyncs, so a crash
  loses at most the row being written.
* :func:`read_eval_rows` returns every complete row with its line number. A truncated *last* line
  (a crash mid-write) is dropped with a warning; a broken line anywhere else is an
  :class:`EvalInputError` that names the file and line.
* :func:`heartgrpo.io.jsonl.repair_tail` removes such a truncated last line before appending again.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> from heartgrpo.io.jsonl import append_row
    >>> append_row(p, {"id": "x"}); [r for _, r in read_eval_rows(p)]
    [{'id': 'x'}]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from heartgrpo.io import jsonl
from heartgrpo.io.jsonl import DataError

__all__ = ["EvalInputError", "iter_last_by_id", "read_eval_rows"]


class EvalInputError(DataError):
    """Bad evaluation input; the message names the file, line or id, and the field."""


def read_eval_rows(path: str | Path, missing_ok: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """``(line_number, row)`` for each JSON object in ``path`` (1-based line numbers), as
    :func:`heartgrpo.io.jsonl.read_rows` reads them, a bad line raised as :class:`EvalInputError`."""
    try:
        return jsonl.read_rows(path, missing_ok=missing_ok)
    except EvalInputError:
        raise
    except DataError as exc:
        raise EvalInputError(str(exc)) from None


def iter_last_by_id(rows: list[tuple[int, dict[str, Any]]], path: str | Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Latest row per ``id`` (a retried row supersedes an earlier one), in first-seen order."""
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for line_no, row in rows:
        rid = row.get("id")
        if not isinstance(rid, str) or not rid:
            raise EvalInputError(f"{path}:{line_no}: field 'id' missing or not a string")
        latest[rid] = (line_no, row)
    for rid, (line_no, row) in latest.items():
        yield rid, line_no, row
