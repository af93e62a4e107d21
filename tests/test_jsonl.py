"""heartgrpo.io.jsonl: the one JSONL reader/writer (plain and .gz, file:line errors, a torn last line
dropped and reported), and the evaluation reader over it."""

from __future__ import annotations

import gzip
import json

import pytest

from heartgrpo.eval.jsonl import EvalInputError, read_eval_rows
from heartgrpo.io.jsonl import BadRowReport, DataError, append_row, append_rows, iter_rows, read_jsonl, read_rows, repair_tail, write_jsonl


def test_data_error_is_one_class_and_a_value_error() -> None:
    assert issubclass(DataError, ValueError)
    assert issubclass(EvalInputError, DataError)


def test_plain_and_gz_read_the_same_rows(tmp_path) -> None:
    rows = [{"id": "a", "text": "胸痛"}, {"id": "b", "n": 2}]
    plain = write_jsonl(rows, tmp_path / "r.jsonl")
    packed = write_jsonl(rows, tmp_path / "r.jsonl.gz")
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert read_jsonl(plain) == read_jsonl(packed) == rows
    assert [n for n, _ in iter_rows(packed)] == [1, 2]


def test_a_torn_last_line_is_dropped_warned_and_reported(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    append_rows(path, [{"i": 0}, {"i": 1}])
    with path.open("a") as fh:
        fh.write('{"i": 2, "te')  # a crash mid-write
    report = BadRowReport()
    with pytest.warns(UserWarning, match=r"a\.jsonl:3: dropped a truncated last line"):
        assert read_rows(path, report=report) == [(1, {"i": 0}), (2, {"i": 1})]
    assert report.truncated_tail == f"{path}:3" and len(report) == 0
    assert repair_tail(path) and not repair_tail(path)
    append_row(path, {"i": 2})
    assert [r["i"] for r in read_jsonl(path)] == [0, 1, 2]


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": 1}\n{"a": \n{"a": 3}\n', r"x\.jsonl:2: not valid JSON"),
    ('{"a": 1}\n{"a": 2, "b": [1\n', r"x\.jsonl:2: not valid JSON"),  # ends in a newline: not a torn write
    ('{"a": 1}\n\n[1, 2]\n', r"x\.jsonl:3: expected a JSON object, got list"),
])
def test_broken_lines_name_file_and_line_in_every_reader(tmp_path, text, message) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_jsonl(path)
    with pytest.raises(DataError, match=message):
        list(iter_rows(path))
    with pytest.raises(EvalInputError, match=message):
        read_eval_rows(path)


def test_missing_file_and_non_utf8(tmp_path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_jsonl(tmp_path / "nope.jsonl")
    assert read_jsonl(tmp_path / "nope.jsonl", missing_ok=True) == []
    path = tmp_path / "l.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"l\.jsonl:2: not valid UTF-8"):
        read_jsonl(path)
    report = BadRowReport()
    assert read_jsonl(path, on_bad_row="skip", report=report) == [{"a": "ok"}] and len(report) == 1


def test_write_is_strict_and_append_stringifies(tmp_path) -> None:
    with pytest.raises(TypeError):
        write_jsonl([{"s": {1, 2}}], tmp_path / "w.jsonl")
    append_row(tmp_path / "a.jsonl", {"p": tmp_path})
    assert json.loads((tmp_path / "a.jsonl").read_text())["p"] == str(tmp_path)
