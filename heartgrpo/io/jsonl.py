"""The one JSONL reader and writer of the package: one JSON object per line, UTF-8, plain or ``.gz``.

Reading contract (:func:`iter_rows`, and :func:`read_rows` / :func:`read_jsonl` over it):

* yields ``(line_number, object)`` for every non-blank line (1-based line numbers); a UTF-8
  byte-order mark at the start of the file and CRLF line endings are read as plain UTF-8 lines;
* a line that is not UTF-8, not JSON (or JSON Python cannot hold: an integer of thousands of
  digits, nesting past the recursion limit) or not a JSON *object* raises :class:`DataError` (a
  ``ValueError``) naming ``file:line``, or with ``on_bad_row="skip"`` is counted in a
  :class:`BadRowReport` (never a silent drop);
* a truncated *last* line (no final newline and not JSON: a crash mid-write) is tolerated: it
  is dropped with a ``UserWarning`` naming ``file:line``, and ``report.truncated_tail`` says where;
* a missing file raises :class:`DataError` (``missing_ok=True``: no rows).

Writing: :func:`append_row` writes one line and fsyncs (a crash loses at most the row being
written), :func:`write_jsonl` writes a whole file, :func:`repair_tail` cuts a torn last line
before appending again (a whole row that only lacks its newline is kept).

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> append_row(p, {"id": "x"}); read_jsonl(p)
    [{'id': 'x'}]
    >>> with p.open("a") as f:                      # a crash mid-write
    ...     _ = f.write('{"id": "y", "tru')
    >>> report = BadRowReport()
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):
    ...     read_rows(p, report=report)
    [(1, {'id': 'x'})]
    >>> report.truncated_tail.endswith("a.jsonl:2")
    True
"""

from __future__ import annotations

import gzip
import json
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "BadRow", "BadRowReport", "DataError", "OnBadRow", "append_row", "append_rows", "handle_bad_row", "iter_rows",
    "read_jsonl", "read_rows", "repair_tail", "write_jsonl",
]

OnBadRow = Literal["error", "skip"]


class DataError(ValueError):
    """Input data that cannot be used; the message says where (file, line or row id, field)."""


@dataclass(frozen=True)
class BadRow:
    """One skipped row: where it was and why."""

    where: str
    reason: str


@dataclass
class BadRowReport:
    """Rows skipped under ``on_bad_row="skip"``, counted per source (never a silent drop), and
    ``truncated_tail``: the ``file:line`` of a torn last line that was dropped, if any."""

    rows: list[BadRow] = field(default_factory=list)
    truncated_tail: str | None = None

    def add(self, where: str, reason: str) -> None:
        self.rows.append(BadRow(where, reason))

    def __len__(self) -> int:
        return len(self.rows)

    def counts(self) -> dict[str, int]:
        """Skipped rows per source file or dataset (the part of ``where`` before ':')."""
        return dict(Counter(r.where.split(":", 1)[0] for r in self.rows))

    def to_list(self) -> list[dict[str, str]]:
        return [{"where": r.where, "reason": r.reason} for r in self.rows]


def handle_bad_row(exc: Exception, where: str, on_bad_row: OnBadRow, report: BadRowReport | None) -> None:
    """Raise a :class:`DataError` naming ``where``, or record the row as skipped."""
    message = str(exc)
    if on_bad_row == "skip":
        if report is None:
            raise DataError(f"{where}: {message} (on_bad_row='skip' needs a report to count skipped rows)") from exc
        report.add(where, message)
        return
    raise DataError(f"{where}: {message}") from exc


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def iter_rows(path: str | os.PathLike[str], *, on_bad_row: OnBadRow = "error", report: BadRowReport | None = None,
              missing_ok: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line_number, object)`` for each non-blank line of ``path``, streamed (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return
        raise DataError(f"{path}: file not found")
    with _open(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            where = f"{path}:{line_no}"
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                handle_bad_row(ValueError(f"not valid UTF-8 text ({exc.reason} at byte {exc.start})"), where, on_bad_row, report)
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                if not raw.endswith(b"\n"):  # only the last line can lack its newline: an interrupted write
                    warnings.warn(f"{where}: dropped a truncated last line (interrupted write)", stacklevel=3)
                    if report is not None:
                        report.truncated_tail = where
                    continue
                handle_bad_row(ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})"), where, on_bad_row, report)
                continue
            except (ValueError, RecursionError) as exc:  # valid JSON Python cannot hold: a huge integer, deep nesting
                handle_bad_row(ValueError(f"JSON that cannot be read ({type(exc).__name__}: {str(exc)[:120]})"),
                               where, on_bad_row, report)
                continue
            if not isinstance(obj, dict):
                handle_bad_row(ValueError(f"expected a JSON object, got {type(obj).__name__}"), where, on_bad_row, report)
                continue
            yield line_no, obj


def read_rows(path: str | os.PathLike[str], **options: Any) -> list[tuple[int, dict[str, Any]]]:
    """Every ``(line_number, object)`` of ``path`` (options as :func:`iter_rows`)."""
    return list(iter_rows(path, **options))


def read_jsonl(path: str | os.PathLike[str], **options: Any) -> list[dict[str, Any]]:
    """Every object of ``path``, without line numbers (options as :func:`iter_rows`)."""
    return [row for _, row in iter_rows(path, **options)]


def _line(row: Mapping[str, Any], default: Any = str) -> str:
    return json.dumps(row, ensure_ascii=False, default=default) + "\n"


def append_rows(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], *, fsync: bool = True) -> None:
    """Append ``rows``, one line each, in one write (parents created); flushed and, with
    ``fsync``, synced before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(_line(row) for row in rows)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())


def append_row(path: str | os.PathLike[str], row: Mapping[str, Any], *, fsync: bool = True) -> None:
    """Append ``row`` as one line (see :func:`append_rows`)."""
    append_rows(path, [row], fsync=fsync)


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], *, default: Any = None) -> Path:
    """Write ``rows`` as UTF-8 JSONL (one object per line, parents created; ``.gz`` compressed) and
    return the path. ``default`` as in ``json.dumps`` (None: a value JSON cannot hold is an error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(_line(row, default) for row in rows).encode("utf-8")
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(text)
    else:
        path.write_bytes(text)
    return path


def repair_tail(path: str | os.PathLike[str]) -> bool:
    """Cut a truncated last line (no trailing newline, not a JSON object); True when something was cut.

    A last line that is a whole JSON object without its newline (as :func:`iter_rows` reads it) is
    kept and given its newline, so the next append starts a line of its own.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return False
    start = data.rfind(b"\n") + 1
    try:
        whole = isinstance(json.loads(data[start:].decode("utf-8-sig" if start == 0 else "utf-8")), dict)
    except (ValueError, RecursionError):
        whole = False
    with open(path, "r+b") as fh:
        if whole:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        else:
            fh.truncate(start)
    return not whole
