"""Property tests for the JSONL file readers: a valid file with one corruption on one line
(truncated, wrong type, NaN or infinite points, a missing field, a repeated id, not an object,
not UTF-8), with or without a UTF-8 BOM and CRLF line endings.

The contract every reader keeps: it loads what is valid and reports the rest naming file, line
and field, or refuses with such a message (a project exception, a ``ValueError``); rows in ==
rows loaded + rows reported (a torn last line counts as reported: it is warned about with its
``file:line``); no KeyError, TypeError, AttributeError or JSONDecodeError escapes.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_fixtures import HEART_QUESTIONS, hb_row, rar_row
from heartgrpo.consult.cards import EXAMPLE_CARD, CardError, load_cards
from heartgrpo.data.healthbench import load_healthbench
from heartgrpo.data.rar import load_rar_medicine
from heartgrpo.eval.generate import load_answers
from heartgrpo.eval.grade import load_verdicts
from heartgrpo.eval.records import load_records
from heartgrpo.io.jsonl import BadRowReport, DataError
from heartgrpo.rubricgen.files import RubricStore, load_generated_records, read_questions

PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROJECT_ERRORS = (DataError, CardError)
WRONG = [None, 7, -1.5, True, "", "text", [], ["x"], {}, {"a": 1}]
NON_FINITE = [float("nan"), float("inf"), float("-inf"), 10**400]  # the last: an int no float can hold
KINDS = ["none", "wrong_type", "non_finite", "missing", "duplicate_id", "truncated", "not_object", "bad_utf8"]
Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class Reader:
    """How to build a valid row for one reader, where its fields are, and how to call it
    (``load(path, report)``: rows loaded; ``report`` None is the strict mode)."""

    name: str
    row: Callable[[int], dict[str, Any]]
    id_path: Path_
    fields: tuple[Path_, ...]
    numbers: tuple[Path_, ...]
    load: Callable[[Path, BadRowReport | None], int]
    skip_mode: bool = False
    repeated_id: str = "reported"  # or "latest": a later row supersedes (retried answers, regraded verdicts)
    file_name: str = "train.jsonl"


def _rar(path: Path, report: BadRowReport | None) -> int:
    mode = "skip" if report is not None else "error"
    return len(load_rar_medicine(path, ["train"], on_bad_row=mode, report=report)["train"])


def _healthbench(path: Path, report: BadRowReport | None) -> int:
    return len(load_healthbench(path, on_bad_row="skip" if report is not None else "error", report=report))


def _eval_record(i: int) -> dict[str, Any]:
    return {"id": f"e{i}", "prompt": [{"role": "user", "content": f"Is a pulse of {50 + i} normal?"}],
            "rubrics": [{"criterion": "Says it can be normal", "points": 5, "tags": []}]}


def _generated(i: int) -> dict[str, Any]:
    return {**_eval_record(i), "id": f"g{i}", "source": "generated", "split": "train", "heart": True,
            "heart_theme": None, "reference_answer": "Often normal."}


def _verdict(i: int) -> dict[str, Any]:
    return {"id": f"v{i}", "example_tags": ["theme:emergency_referrals"], "criteria": [
        {"criterion": "Says it can be normal", "points": 5, "tags": ["axis:accuracy"], "met": True,
         "explanation": "It does.", "error": None}]}


def _card(i: int) -> dict[str, Any]:
    return {**json.loads(json.dumps(EXAMPLE_CARD)), "id": f"card-{i}"}


READERS = [
    Reader("rar", lambda i: rar_row(f"{HEART_QUESTIONS[i % 8]} (case {i})", id=f"r{i}"), ("id",),
           (("id",), ("question",), ("reference_answer",), ("rubric",), ("rubric", 0, "description"),
            ("rubric", 0, "weight"), ("rubric", 0, "title"), ("reasoning",), ("question_source",)),
           (("rubric", 0, "weight"),), _rar, skip_mode=True),
    Reader("healthbench", lambda i: hb_row(f"hb-{i}", [f"I get chest pain on the stairs, case {i}?"]), ("prompt_id",),
           (("prompt_id",), ("prompt",), ("prompt", 0, "content"), ("prompt", 0, "role"), ("rubrics",),
            ("rubrics", 0, "points"), ("rubrics", 0, "criterion"), ("rubrics", 0, "tags"), ("example_tags",),
            ("ideal_completions_data",)),
           (("rubrics", 0, "points"),), _healthbench, skip_mode=True),
    Reader("eval records", _eval_record, ("id",),
           (("id",), ("prompt",), ("prompt", 0, "content"), ("prompt", 0, "role"), ("rubrics",),
            ("rubrics", 0, "points"), ("rubrics", 0, "criterion")),
           (("rubrics", 0, "points"),), lambda p, r: len(load_records(p))),
    Reader("generated records", _generated, ("id",),
           (("id",), ("source",), ("prompt",), ("prompt", 0, "content"), ("prompt", 0, "role"), ("rubrics",),
            ("rubrics", 0, "points"), ("rubrics", 0, "criterion"), ("heart",), ("reference_answer",)),
           (("rubrics", 0, "points"),), lambda p, r: len(load_generated_records(p, ["train"])["train"])),
    Reader("questions", lambda i: {"id": f"q{i}", "question": f"Is a pulse of {50 + i} normal?",
                                   "reference_answer": "Often.", "split": "train"}, ("id",),
           (("id",), ("question",), ("reference_answer",), ("split",)), (), lambda p, r: len(read_questions(p))),
    Reader("verdicts", _verdict, ("id",),
           (("id",), ("criteria",), ("criteria", 0), ("criteria", 0, "points"), ("criteria", 0, "met"),
            ("criteria", 0, "tags"), ("example_tags",)),
           (("criteria", 0, "points"),), lambda p, r: len(load_verdicts(p)), repeated_id="latest"),
    Reader("answers", lambda i: {"id": f"a{i}", "response": "Call 911.", "error": None, "model_id": "m"}, ("id",),
           (("id",), ("response",), ("error",)), (), lambda p, r: len(load_answers(p)), repeated_id="latest"),
    Reader("case cards", _card, ("id",),
           (("id",), ("topic",), ("chief_complaint",), ("persona", "age"), ("facts",), ("facts", 0, "intents"),
            ("checklist", 0, "points"), ("checklist", 0, "level")),
           (("checklist", 0, "points"),), lambda p, r: len(load_cards(p)), file_name="cards.jsonl"),
]


def _set(row: dict[str, Any], path: Path_, value: Any) -> None:
    node = row
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _delete(row: dict[str, Any], path: Path_) -> None:
    node = row
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


@dataclass
class Corrupted:
    lines: list[bytes]
    kind: str
    affected: set[int]       # 1-based lines that may be reported
    keys: set[str]           # field names a report of them must name (any one)
    final_newline: bool


@st.composite
def corrupted(draw: st.DrawFn, reader: Reader, kind: str) -> Corrupted:
    """A valid file of 1-5 rows of ``reader`` with corruption ``kind`` on one of its lines."""
    rows = [reader.row(i) for i in range(draw(st.integers(1, 5)))]
    k = draw(st.integers(0, len(rows) - 1))
    keys: set[str] = set()
    affected = {k + 1}
    if kind in ("wrong_type", "non_finite", "missing"):
        path = draw(st.sampled_from(reader.numbers if kind == "non_finite" else reader.fields))
        keys = {p for p in path if isinstance(p, str)}
        if keys & {"rubric", "rubrics"}:  # rubric parsing names an item as "criterion #i"
            keys.add("criterion #")
        if kind == "missing":
            _delete(rows[k], path)
        else:
            _set(rows[k], path, draw(st.sampled_from(NON_FINITE if kind == "non_finite" else WRONG)))
    elif kind == "duplicate_id":
        keys = {"id"}
        if len(rows) == 1:
            rows.append(json.loads(json.dumps(rows[0])))
        other = draw(st.integers(0, len(rows) - 1).filter(lambda j: j != k))
        _set(rows[k], reader.id_path, json.loads(json.dumps(rows[other]))[reader.id_path[0]])
        affected = {k + 1, other + 1}
    lines = [json.dumps(r).encode("utf-8") for r in rows]
    if kind == "truncated":
        lines[k] = lines[k][:draw(st.integers(1, len(lines[k]) - 1))]
    elif kind == "not_object":
        lines[k] = json.dumps(draw(st.sampled_from([[1, 2], "text", 3, None, True]))).encode()
    elif kind == "bad_utf8":
        at = draw(st.integers(0, len(lines[k])))
        lines[k] = lines[k][:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + lines[k][at:]
    return Corrupted(lines, kind, affected, keys, draw(st.booleans()))


def _write(directory: Path, reader: Reader, case: Corrupted, bom: bool, crlf: bool) -> Path:
    end = b"\r\n" if crlf else b"\n"
    data = end.join(case.lines) + (end if case.final_newline else b"")
    path = directory / reader.file_name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def _line(where: str, path: Path) -> int:
    assert where.startswith(f"{path}:"), where
    return int(where[len(str(path)) + 1:])


def _check_reason(reason: str, case: Corrupted) -> None:
    """A report of a corrupted line names what is wrong with it."""
    if case.keys:
        assert any(key in reason for key in case.keys), (case.keys, reason)
    elif case.kind in ("truncated", "not_object", "bad_utf8"):
        assert "JSON" in reason or "UTF-8" in reason, reason


def _load(reader: Reader, path: Path, report: BadRowReport | None) -> tuple[int | None, str | None, set[int]]:
    """(rows loaded or None, the refusal's message, the lines warned about as torn)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded, message = reader.load(path, report), None
        except PROJECT_ERRORS as exc:
            loaded, message = None, str(exc)
    torn = {_line(str(w.message).split(": ", 1)[0], path) for w in caught if "truncated last line" in str(w.message)}
    return loaded, message, torn


def _check(reader: Reader, case: Corrupted, path: Path, strict: bool) -> None:
    rows_in = len(case.lines)
    superseded = int(case.kind == "duplicate_id" and reader.repeated_id == "latest")
    report = None if strict else BadRowReport()
    loaded, message, torn = _load(reader, path, report)
    assert torn <= case.affected and (not torn or not case.final_newline)
    if message is not None:
        assert strict, f"{reader.name}: refused in skip mode: {message}"
        if message == f"{path}: no records":  # the only row was torn: nothing left to evaluate
            assert torn and rows_in == 1
            return
        assert any(f"{path}:{n}" in message for n in case.affected), message
        _check_reason(message, case)
        return
    reported = [] if report is None else report.rows
    if case.kind == "duplicate_id" and reader.repeated_id == "reported":
        assert reported, f"{reader.name}: a repeated id loaded twice"
    if case.kind == "non_finite":
        assert reported, f"{reader.name}: a non-finite number loaded"
    for bad in reported:
        assert _line(bad.where, path) in case.affected, bad
        _check_reason(bad.reason, case)
    assert loaded + len(reported) + len(torn) + superseded == rows_in, (loaded, reported, torn)


@pytest.mark.parametrize(("reader", "kind"), [(r, k) for r in READERS for k in KINDS if r.numbers or k != "non_finite"],
                         ids=lambda v: v.name if isinstance(v, Reader) else v)
@PROPERTY
@given(data=st.data(), bom=st.booleans(), crlf=st.booleans())
def test_reader_loads_or_reports_every_row(reader: Reader, kind: str, data: st.DataObject, bom: bool, crlf: bool) -> None:
    case = data.draw(corrupted(reader, kind))
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), reader, case, bom, crlf)
        _check(reader, case, path, strict=True)
        if reader.skip_mode:
            _check(reader, case, path, strict=False)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.name)
def test_bom_and_crlf_alone_change_nothing(reader: Reader, tmp_path: Path) -> None:
    case = Corrupted([json.dumps(reader.row(i)).encode() for i in range(3)], "none", set(), set(), True)
    assert reader.load(_write(tmp_path, reader, case, bom=True, crlf=True), None) == 3


BIG = ("my chest hurts when I climb stairs " * 150_000)[:5_000_000]
BIG_TEXT = {  # reader -> (field that gets the 5 MB string, whether a record may hold it)
    "rar": (("question",), False), "healthbench": (("prompt", 0, "content"), False),
    "eval records": (("prompt", 0, "content"), True), "generated records": (("prompt", 0, "content"), False),
    "questions": (("question",), False), "verdicts": (("criteria", 0, "explanation"), True),
    "answers": (("response",), True), "case cards": (("chief_complaint",), True),
}


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.name)
def test_a_five_megabyte_string_is_loaded_or_reported_quickly(reader: Reader, tmp_path: Path) -> None:
    """One explicit example per reader: a 5 MB text field (the heart classifier once took minutes on such
    text; a turn the classifier would read is now over MAX_MESSAGE_CHARS and reported by field)."""
    field, kept = BIG_TEXT[reader.name]
    rows = [reader.row(i) for i in range(2)]
    _set(rows[1], field, BIG)
    case = Corrupted([json.dumps(r).encode() for r in rows], "big", {2}, {field[-1] if isinstance(field[-1], str) else field[0]}, True)
    path = _write(tmp_path, reader, case, bom=False, crlf=False)
    begin = time.perf_counter()
    loaded, message, _ = _load(reader, path, None)
    assert time.perf_counter() - begin < 30
    if kept:
        assert loaded == 2, message
    else:
        assert message is not None and f"{path}:2" in message and "over the limit" in message, message
        _check_reason(message, case)
    if reader.skip_mode:
        report = BadRowReport()
        assert _load(reader, path, report)[0] == 1 and [_line(b.where, path) for b in report.rows] == [2]


@PROPERTY
@given(data=st.data())
def test_rubric_store_resumes_or_refuses_naming_the_line(data: st.DataObject) -> None:
    """The generator's output files on resume: a torn last line is cut (crash recovery), any other
    bad line refuses naming file:line; ids kept are those present in both rubric files."""
    reader = Reader("store", lambda i: {"id": f"q{i}", "rubric": []}, ("id",), (("id",),), (), lambda p, r: 0)
    case = data.draw(corrupted(reader, data.draw(st.sampled_from([k for k in KINDS if k != "non_finite"]))))
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), reader, case, bom=data.draw(st.booleans()), crlf=data.draw(st.booleans()))
        path.rename(Path(tmp) / "rubrics_rar.jsonl")
        path = Path(tmp) / "rubrics_rar.jsonl"
        n = len(case.lines)
        (Path(tmp) / "records.jsonl").write_text("".join(json.dumps({"id": f"q{i}"}) + "\n" for i in range(n)))
        try:
            store = RubricStore(tmp)
        except DataError as exc:
            assert any(f"{path}:{k}" in str(exc) for k in case.affected), str(exc)
            return
        assert store.done <= {f"q{i}" for i in range(n)}
        assert len(store.done) >= n - len(case.affected)
