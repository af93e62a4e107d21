"""The refine benchmark against its scripted loopback writer: every profile ends in one place, a
rerun asks only for the failed ones, a finished run asks nothing, and the section says that no
quality figure is measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import refine as bench


@pytest.fixture(autouse=True)
def _key(monkeypatch) -> None:
    monkeypatch.setenv(bench.KEY_ENV, "loopback")


def test_outcomes_account_for_every_profile(tmp_path: Path) -> None:
    rows, meta = bench.outcomes(tmp_path, 12)
    table = {str(k): v for k, v in rows}
    assert table["profiles"] == 12 and table["rows + failed = profiles"] is True
    failed = {k.removeprefix("failed: "): v for k, v in table.items() if k.startswith("failed: ")}
    # the faults that always fail (FAULTS' "always" cases) and the two guards, one profile each
    assert failed == {"answer": 1, "critique": 1, "refine": 1, "query": 1, "contaminated": 1, "near_duplicate": 1}
    assert table["rows in sft_refined.jsonl"] == 12 - sum(failed.values())
    assert 0 < table["rerun: requests (failed profiles only)"] < table["requests (a clean profile takes 4)"]
    assert table["rerun: rows"] == table["rows in sft_refined.jsonl"]
    assert meta["sources"]["sample"] > 0


def test_quick_run_writes_the_section(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HEARTGRPO_BENCH_DOCS", str(tmp_path))
    bench.main(["--quick"])
    text = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    section = text[text.index("<!-- BEGIN refine -->"):text.index("<!-- END refine -->")]
    assert "**No quality figure is measured here**" in section
    assert "asked 0 requests" in section
    for c in (1, 4, 8):  # each concurrency: 10 clean profiles, four requests each
        assert f"\n| {c} | 40 |" in section
