"""Files of the rubric generator: the questions read in, the rubrics written out, resumption.

Input: JSONL, one question a line. ``question`` (text) or ``prompt`` (a conversation: a list of
``{role, content}`` ending on a user turn, or a text); optional ``reference_answer``, ``id``
(else ``prompt_id``, else ``q-<line>``) and ``split`` (else ``train``). HealthBench rows
(``prompt_id``, ``prompt``) are read as they are.

Output directory (:class:`RubricStore`):

* ``rubrics_rar.jsonl``: RaR-Medicine rows ``{id, question, reference_answer, rubric: [{title,
  description, weight}], rubric_list, rubric_count, question_source}``;
* ``records.jsonl``: the same rubrics as canonical records (DESIGN.md §3), with ``prompt``;
* ``failed.jsonl``: rows still bad after the last attempt, with their last rubric and problems;
* ``quality.json`` / ``quality.md``: the quality report (:mod:`heartgrpo.rubricgen.quality`).

A row is appended to both output files as soon as it is accepted, one ``write`` per line, so an
interrupted run loses at most the rows in flight (their model answers are in the SQLite cache).
A rerun keeps the ids present in both files, drops a torn last line, and does only the rest.

Example:
    >>> Question.from_row({"question": "Is a resting pulse of 48 normal?"}, "q-1").prompt
    [{'role': 'user', 'content': 'Is a resting pulse of 48 normal?'}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartgrpo.io import jsonl
from heartgrpo.io.jsonl import iter_rows
from heartgrpo.io.jsonl import DataError
from heartgrpo.records import check_message_length, make_record

__all__ = ["Question", "RubricStore", "load_generated_records", "read_questions"]


@dataclass
class Question:
    """One question to write a rubric for."""

    id: str
    prompt: list[dict[str, str]]
    reference_answer: str | None = None
    split: str = "train"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def question(self) -> str:
        """The last user turn (RaR-Medicine's ``question`` field)."""
        return self.prompt[-1]["content"]

    @classmethod
    def from_row(cls, row: Mapping[str, Any], default_id: str) -> Question:
        """Validate one input row; raises :class:`DataError` naming the field."""
        name = "prompt" if "prompt" in row else "question"
        raw = row.get(name)
        if isinstance(raw, str):
            if not raw.strip():
                raise DataError(f"field {name!r}: empty text")
            prompt = [{"role": "user", "content": check_message_length(raw.strip(), name)}]
        elif isinstance(raw, list) and raw:
            prompt = []
            for i, m in enumerate(raw):
                if not isinstance(m, Mapping) or not isinstance(m.get("content"), str) or m.get("role") not in ("system", "user", "assistant", "developer"):
                    raise DataError(f"field {name!r}, message #{i}: expected {{role, content}}")
                prompt.append({"role": m["role"], "content": check_message_length(m["content"], f"{name}[{i}].content")})
            if prompt[-1]["role"] != "user":
                raise DataError(f"field {name!r}: conversation must end on a user turn, ends on {prompt[-1]['role']!r}")
        else:
            raise DataError(f"field {name!r}: expected a 'question' (text) or a 'prompt' (conversation ending on a user turn)")
        ref = row.get("reference_answer")
        if ref is not None and not isinstance(ref, str):
            raise DataError(f"field 'reference_answer': expected text, got {type(ref).__name__}")
        rid = row.get("id", row.get("prompt_id", default_id))
        if not isinstance(rid, (str, int)) or not str(rid).strip():
            raise DataError(f"field 'id': expected text, got {rid!r}")
        split = row.get("split", "train")
        if not isinstance(split, str) or not split.strip():
            raise DataError(f"field 'split': expected text, got {split!r}")
        return cls(str(rid), prompt, ref.strip() if ref and ref.strip() else None, split,
                   {k: row[k] for k in ("example_tags", "question_source") if k in row})


def read_questions(path: str | Path) -> list[Question]:
    """Every question of a JSONL file; a bad row or a repeated id raises naming ``file:line``."""
    out: list[Question] = []
    seen: dict[str, int] = {}
    for line_no, row in iter_rows(path):
        where = f"{path}:{line_no}"
        try:
            q = Question.from_row(row, f"q-{line_no}")
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
        if q.id in seen:
            raise DataError(f"{where}: id {q.id!r} repeats line {seen[q.id]}")
        seen[q.id] = line_no
        out.append(q)
    return out


def _recover(path: Path) -> list[dict[str, Any]]:
    """Rows of an output file written so far, each with a text ``id``; a torn last line
    (interrupted write) is cut off, any other bad line raises naming ``file:line``."""
    jsonl.repair_tail(path)
    try:
        rows = jsonl.read_rows(path, missing_ok=True)
        for line_no, row in rows:
            if not isinstance(row.get("id"), str) or not row["id"]:
                raise DataError(f"{path}:{line_no}: field 'id' missing or not text")
    except DataError as exc:
        raise DataError(f"{exc}; move the file away to start over") from None
    return [row for _, row in rows]


class RubricStore:
    """The output directory of one generation run (see the module docstring)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rar_path = self.dir / "rubrics_rar.jsonl"
        self.records_path = self.dir / "records.jsonl"
        self.failed_path = self.dir / "failed.jsonl"
        self.log_path = self.dir / "attempts.jsonl"
        rar = {r["id"]: r for r in _recover(self.rar_path)}
        records = {r["id"]: r for r in _recover(self.records_path)}
        self.done = set(rar) & set(records)
        if self.done != set(rar) or self.done != set(records):  # a run stopped between the two writes
            self._rewrite(self.rar_path, (r for i, r in rar.items() if i in self.done))
            self._rewrite(self.records_path, (r for i, r in records.items() if i in self.done))
        self.log = {r["id"]: r for r in _recover(self.log_path) if r["id"] in self.done}

    @staticmethod
    def _rewrite(path: Path, rows: Iterable[dict[str, Any]]) -> None:
        tmp = path.with_suffix(".tmp")
        jsonl.write_jsonl(rows, tmp)
        tmp.replace(path)

    @staticmethod
    def _append(path: Path, row: dict[str, Any]) -> None:
        jsonl.append_row(path, row, fsync=False)

    def add(self, rar_row: dict[str, Any], record: dict[str, Any], entry: dict[str, Any]) -> None:
        """Append one accepted rubric's quality entry, then the rubric in both formats.

        In this order a row counted done (in both rubric files) always has its entry.
        """
        self._append(self.log_path, entry)
        self._append(self.rar_path, rar_row)
        self._append(self.records_path, record)
        self.done.add(rar_row["id"])
        self.log[rar_row["id"]] = entry

    def sort_by(self, order: Mapping[str, int]) -> None:
        """Rewrite both rubric files and the attempt log in input order (rows appended as they finish).

        Ids missing from ``order`` (questions since removed from the input) keep their place at the end.
        """
        for path in (self.log_path, self.rar_path, self.records_path):
            rows = _recover(path)
            ranked = sorted(range(len(rows)), key=lambda n: (order.get(rows[n]["id"], len(order)), n))
            if ranked != list(range(len(rows))):
                self._rewrite(path, (rows[n] for n in ranked))

    def write_failed(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite ``failed.jsonl`` with this run's failures (none: the file is removed)."""
        if rows:
            self._rewrite(self.failed_path, rows)
        elif self.failed_path.exists():
            self.failed_path.unlink()


def load_generated_records(path: str | Path, splits: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Canonical records from a ``records.jsonl`` of the generator, per split (others ignored).

    Each row is validated again (:func:`heartgrpo.records.make_record`); errors, a repeated id
    among them, name ``file:line``.
    """
    wanted = list(splits)
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in wanted}
    seen: dict[str, int] = {}
    for line_no, row in iter_rows(path):
        try:
            record = make_record(row)
        except DataError as exc:
            raise DataError(f"{path}:{line_no}: {exc}") from None
        if record["id"] in seen:
            raise DataError(f"{path}:{line_no}: field 'id': {record['id']!r} repeats line {seen[record['id']]}")
        seen[record["id"]] = line_no
        if record["split"] in out:
            out[record["split"]].append(record)
    return out
