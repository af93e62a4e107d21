"""RaR-Medicine loader: hub, local parquet/JSONL file, or a directory of split files.

Source rows ``{question, reference_answer, question_source, rubric: [{title, description,
weight}], rubric_list, rubric_count}`` become canonical records (DESIGN.md §3): the question is
the single user turn, the rubric is parsed by :func:`heartgrpo.rubrics.parse_rar_rubric`
(category prefix -> ``category:`` tag, pitfalls negative), and the heart label comes from
:func:`heartgrpo.heart.classifier.classify`. ``question_source`` and ``reasoning`` are kept when present.

Example:
    >>> rec = rar_row_to_record({"question": "What does a troponin rise mean?", "reference_answer": "Injury.",
    ...     "rubric": [{"title": "t", "description": "Essential Criteria: Mentions myocardial injury.", "weight": 5}]},
    ...     row_id="r1", split="train")
    >>> rec["heart"], rec["heart_theme"], rec["rubrics"][0]["tags"][0]
    (True, 'Heart Attack (MI)', 'category:essential')
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.heart.classifier import classify
from heartgrpo.config.data import RAR_HUB_IDS, RAR_SPLITS
from heartgrpo.io.jsonl import iter_rows
from heartgrpo.io.jsonl import BadRowReport, DataError, OnBadRow, handle_bad_row
from heartgrpo.records import check_message_length, make_record
from heartgrpo.rubrics import AvoidancePolicy, RubricError, RubricWarning, parse_rar_rubric

log = logging.getLogger(__name__)

__all__ = ["load_rar_medicine", "rar_row_to_record", "read_split_rows"]

_SPLIT_ALIASES = {"val": ("val", "validation", "valid", "dev"), "train": ("train",), "test": ("test",)}
_SUFFIXES = (".jsonl", ".json", ".parquet")


def _text_field(row: dict[str, Any], name: str, required: bool) -> str | None:
    if name not in row or row[name] is None:
        if required:
            raise DataError(f"field {name!r}: missing (expected text)")
        return None
    value = row[name]
    if not isinstance(value, str):
        raise DataError(f"field {name!r}: expected text, got {type(value).__name__}")
    if required and not value.strip():
        raise DataError(f"field {name!r}: empty text")
    return value


def rar_row_to_record(row: dict[str, Any], row_id: str, split: str, source: str = "rar-medicine",
                      avoidance: AvoidancePolicy = "keep") -> dict[str, Any]:
    """One RaR-Medicine row -> canonical record; raises :class:`DataError` naming row and field.

    ``avoidance``: what to do with avoidance-form pitfalls (see :func:`heartgrpo.rubrics.parse_rar_rubric`);
    ``dropped_criteria`` counts the items ``drop`` removed.
    """
    try:
        question = check_message_length(_text_field(row, "question", required=True), "question")
        reference = _text_field(row, "reference_answer", required=False)
        if "rubric" not in row or row["rubric"] is None:
            raise DataError("field 'rubric': missing (expected a list of {title, description, weight})")
        rubric = row["rubric"]
        if not isinstance(rubric, list) or not rubric:
            raise DataError("field 'rubric': expected a non-empty list of {title, description, weight}")
        criteria = [c.to_dict() for c in parse_rar_rubric(rubric, row_id, avoidance=avoidance)]
        reasoning = _text_field(row, "reasoning", required=False)
    except RubricError as exc:
        raise DataError(str(exc)) from None
    except DataError as exc:
        raise DataError(f"row {row_id!r}, {exc}") from None
    label = classify(question)
    record: dict[str, Any] = {
        "id": row_id,
        "source": source,
        "prompt": [{"role": "user", "content": question.strip()}],
        "reference_answer": reference,
        "rubrics": criteria,
        "heart": label.heart,
        "heart_theme": label.theme,
        "heart_evidence": label.evidence,
        "split": split,
        "question_source": row.get("question_source") if isinstance(row.get("question_source"), str) else None,
        "dropped_criteria": len(rubric) - len(criteria),
    }
    if reasoning is not None:
        record["reasoning"] = reasoning
    return make_record(record)


def _read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read parquet ({exc})") from exc
    yield from enumerate(table.to_pylist())


def _rows_of_file(path: Path, on_bad_row: OnBadRow, report: BadRowReport | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs: ``file:line`` for JSONL, ``file#row`` for parquet."""
    if path.suffix == ".parquet":
        for index, row in _read_parquet(path):
            yield f"{path}#{index}", row
    elif path.suffix in (".jsonl", ".json"):
        for line_no, row in iter_rows(path, on_bad_row=on_bad_row, report=report):
            yield f"{path}:{line_no}", row
    else:
        raise DataError(f"{path}: unsupported file type (expected one of {', '.join(_SUFFIXES)})")


def _split_files(directory: Path, split: str) -> list[Path]:
    names = _SPLIT_ALIASES.get(split, (split,))
    files = [
        p for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in _SUFFIXES
        and any(p.stem == n or p.stem.startswith(f"{n}-") or p.stem.startswith(f"{n}_") for n in names)
    ]
    return files


def read_split_rows(
    source: str | Path, splits: Sequence[str] = RAR_SPLITS, on_bad_row: OnBadRow = "error",
    report: BadRowReport | None = None,
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(split, where, raw_row)`` from a local file or directory; see :func:`load_rar_medicine`."""
    path = Path(source)
    if path.is_dir():
        for split in splits:
            files = _split_files(path, split)
            if not files:
                raise DataError(f"{path}: no file for split {split!r} (expected e.g. {split}.jsonl or {split}-*.parquet)")
            for file in files:
                for where, row in _rows_of_file(file, on_bad_row, report):
                    yield split, where, row
    elif path.is_file():
        stem = path.stem.lower()
        split = next((s for s, names in _SPLIT_ALIASES.items() for n in names if stem.startswith(n)), "train")
        for where, row in _rows_of_file(path, on_bad_row, report):
            yield split, where, row
    else:
        raise DataError(f"{path}: no such file or directory")


def _hub_rows(hub_ids: Sequence[str], splits: Sequence[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    import datasets

    errors = []
    for hub_id in hub_ids:
        try:
            loaded = {split: datasets.load_dataset(hub_id, split=split) for split in splits}
        except Exception as exc:  # unreachable hub, renamed repo, missing split: try the next id
            errors.append(f"{hub_id}: {type(exc).__name__}: {exc}")
            continue
        for split, dataset in loaded.items():
            for index, row in enumerate(dataset):
                yield split, f"{hub_id}[{split}]#{index}", row
        return
    raise DataError("could not load RaR-Medicine from the hub; tried " + "; ".join(errors))


def load_rar_medicine(
    source: str | Path = "hub",
    splits: Sequence[str] = RAR_SPLITS,
    *,
    hub_ids: Sequence[str] = RAR_HUB_IDS,
    on_bad_row: OnBadRow = "error",
    report: BadRowReport | None = None,
    record_source: str | None = None,
    avoidance_pitfalls: AvoidancePolicy = "keep",
) -> dict[str, list[dict[str, Any]]]:
    """Load RaR-Medicine as canonical records per split.

    ``source``: ``"hub"`` (``datasets.load_dataset`` on each of ``hub_ids`` in turn), a local
    ``.jsonl``/``.json``/``.parquet`` file (its split read from the file name, else ``train``), or a
    directory holding split files (``train.jsonl``, ``val.jsonl``, ``data/test-00000-of-00001.parquet``).
    Row ids are the row's ``id`` field when present, else ``rar-<split>-<index>``; a repeated id (in
    any split) is a bad row, as HealthBench's repeated ``prompt_id`` is.
    Nonstandard category prefixes are mapped and counted in one log line (not one warning per row);
    ``avoidance_pitfalls`` is passed to :func:`rar_row_to_record`.
    """
    rows: Iterable[tuple[str, str, dict[str, Any]]]
    if str(source) == "hub":
        rows = _hub_rows(hub_ids, splits)
        record_source = record_source or "rar-medicine"
    else:
        rows = read_split_rows(source, splits, on_bad_row, report)
        record_source = record_source or "rar-medicine"
    out: dict[str, list[dict[str, Any]]] = {split: [] for split in splits}
    counters = {split: 0 for split in splits}
    seen: dict[str, str] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RubricWarning)
        for split, where, row in rows:
            index = counters[split]
            counters[split] += 1
            row_id = str(row["id"]) if isinstance(row.get("id"), (str, int)) else f"rar-{split}-{index:05d}"
            try:
                if row_id in seen:
                    raise DataError(f"row {row_id!r}, field 'id': duplicated (first at {seen[row_id]})")
                out[split].append(rar_row_to_record(row, row_id, split, record_source, avoidance_pitfalls))
                seen[row_id] = where
            except DataError as exc:
                handle_bad_row(exc, where, on_bad_row, report)
    for w in caught:  # anything that is not a rubric warning goes on as it came
        if not issubclass(w.category, RubricWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    rubric_warnings = [str(w.message) for w in caught if issubclass(w.category, RubricWarning)]
    prefixes = Counter(t.split(":", 1)[1] for recs in out.values() for r in recs for c in r["rubrics"]
                       for t in c["tags"] if t.startswith("prefix:"))
    if rubric_warnings:
        log.warning("RaR-Medicine: %d rubric warnings; nonstandard category prefixes mapped: %s (first: %s)",
                    len(rubric_warnings), dict(prefixes.most_common()) or "none", rubric_warnings[0])
    return out
