"""Canonical record validation and strict JSONL reading."""

from __future__ import annotations

import json

import pytest

from heartgrpo.io.jsonl import iter_rows
from heartgrpo.io.jsonl import BadRowReport, DataError, write_jsonl
from heartgrpo.records import make_record


def _record(**over):
    rec = {"id": "q1", "source": "sample", "split": "train",
           "prompt": [{"role": "user", "content": "Is my pulse of 110 too fast?"}],
           "rubrics": [{"criterion": "Explains tachycardia", "points": 5, "tags": []}]}
    rec.update(over)
    return rec


def test_make_record_normalises_and_keeps_extra_fields():
    rec = make_record(_record(reasoning="because", heart=True, heart_theme="Heart Palpitations"))
    assert rec["rubrics"] == [{"criterion": "Explains tachycardia", "points": 5.0, "tags": []}]
    assert rec["reasoning"] == "because" and rec["heart"] is True


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"rubrics": []}, "rubric is empty"),
        ({"rubrics": [{"criterion": "Bad advice", "points": -3}]}, "no criterion has positive points"),
        ({"rubrics": [{"criterion": "x", "points": "five"}]}, "points"),
        ({"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "end on a user turn"),
        ({"prompt": [{"role": "user", "content": "   "}]}, "empty"),
        ({"prompt": [{"role": "doctor", "content": "q"}]}, "role"),
    ],
)
def test_make_record_errors_name_row_and_field(override, fragment):
    with pytest.raises(DataError) as info:
        make_record(_record(**override))
    assert "'q1'" in str(info.value)
    assert fragment in str(info.value)


def test_read_jsonl_reports_file_and_line_for_truncated_json(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2, "b": [1, 2\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.jsonl:3: not valid JSON"):
        list(iter_rows(path))


def test_read_jsonl_reports_non_utf8_line(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin\.jsonl:2: not valid UTF-8"):
        list(iter_rows(path))


def test_read_jsonl_skip_counts_every_bad_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"a": 1}\n[1, 2]\n{"a": \n\xff\xfe\n{"a": 5}\n')
    report = BadRowReport()
    rows = list(iter_rows(path, on_bad_row="skip", report=report))
    assert [line for line, _ in rows] == [1, 5]
    assert len(report) == 3
    assert [r.where.rsplit(":", 1)[1] for r in report.rows] == ["2", "3", "4"]


def test_skip_without_report_is_refused(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("{oops\n", encoding="utf-8")
    with pytest.raises(DataError, match="needs a report"):
        list(iter_rows(path, on_bad_row="skip", report=None))


def test_write_then_read_roundtrip_unicode(tmp_path):
    rows = [{"text": "Schmerz in der Brust, 胸痛"}, {"n": 2}]
    path = write_jsonl(rows, tmp_path / "sub" / "out.jsonl")
    assert [r for _, r in iter_rows(path)] == rows
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["text"].endswith("胸痛")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        list(iter_rows(tmp_path / "nope.jsonl"))


def test_package_import_is_light():
    import subprocess
    import sys

    code = ("import sys, heartgrpo.data as d; from heartgrpo.data import DataSettings, classify; "
            "print(sorted(m for m in ('datasets', 'numpy', 'matplotlib', 'openai', 'torch', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
