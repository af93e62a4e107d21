"""Tests of the benchmark registry, the in-place doc sections and the runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import REGISTRY, ROOT, fmt_ci, md_table, replace_section, section_text, write_section


def test_replace_section_rewrites_only_its_own_section():
    doc = "# B\n\n" + section_text("a", "## A\nold a") + "\nkeep me\n\n" + section_text("b", "## B\nold b")
    new = replace_section(doc, "a", section_text("a", "## A\nnew a"))
    assert "new a" in new and "old a" not in new
    assert "old b" in new and "keep me" in new
    assert replace_section(new, "a", section_text("a", "## A\nnew a")) == new  # idempotent


def test_replace_section_appends_a_missing_section_and_rejects_broken_markers():
    doc = replace_section("# B\n", "c", section_text("c", "C"))
    assert doc.endswith("<!-- BEGIN c -->\nC\n<!-- END c -->\n")
    with pytest.raises(ValueError, match="unbalanced or repeated markers for section 'd'"):
        replace_section("<!-- BEGIN d -->\nno end\n", "d", section_text("d", "D"))
    with pytest.raises(ValueError, match="section name"):
        section_text("bad name", "x")


def test_markers_count_only_on_their_own_line_and_sections_can_be_reordered():
    from benchmarks import order_sections

    doc = "# B\nwrite `<!-- BEGIN x -->` lines\n\n" + section_text("b", "B") + "\n" + section_text("a", "A")
    new = replace_section(doc, "x", section_text("x", "X"))
    assert new.startswith(doc.rstrip("\n")) and new.endswith(section_text("x", "X"))  # appended
    ordered = order_sections(new, ["a", "b"])
    assert ordered.index("<!-- BEGIN a -->\nA") < ordered.index("<!-- BEGIN b -->\nB") < ordered.index("<!-- BEGIN x -->\nX")
    assert ordered.startswith("# B\nwrite `<!-- BEGIN x -->` lines")
    assert order_sections(ordered, ["a", "b"]) == ordered


def test_write_section_creates_the_doc_with_a_header(tmp_path):
    path = write_section("x", "## X\n1", doc=tmp_path / "benchmarks.md")
    write_section("y", "## Y\n2", doc=path)
    write_section("x", "## X\n3", doc=path)
    text = path.read_text()
    assert text.startswith("# Benchmarks")
    assert text.index("## X\n3") < text.index("## Y\n2")
    assert "## X\n1" not in text


def test_table_and_interval_formatting():
    assert md_table(["a"], [[0.12345], ["t"]]).splitlines()[2:] == ["| 0.123 |", "| t |"]
    assert fmt_ci(float("nan"), 0, 1) == "n/a"
    assert fmt_ci(0.5, 0.5, 0.5) == "0.500"


def test_registry_names_are_unique_and_include_the_study():
    names = [b.name for b in REGISTRY]
    assert len(names) == len(set(names))
    assert {"reward_signal", "judge_throughput"} <= set(names)


def test_runner_quick_writes_the_reward_signal_section_elsewhere(tmp_path):
    out = tmp_path / "docs"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "reward_signal", "--quick", "--docs", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = (out / "benchmarks.md").read_text()
    assert "<!-- BEGIN reward_signal -->" in text and "<!-- END reward_signal -->" in text
    assert "quick run" in text
    for fig in ("zero_std", "advantage_std", "kendall_tau", "complexity_factor"):
        png = Path(out / "figures" / f"reward_signal_{fig}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<!-- BEGIN runner" not in text  # only a full run rewrites the runner section


def test_learning_curve_verdict_log_feeds_the_signal_study(tmp_path):
    import asyncio

    from benchmarks.learning_curve import LoggingJudge, prompt_id, split, train_curve
    from heartgrpo.judge import LexicalJudge
    from heartgrpo.signal.data import load_verdict_log

    judge = LoggingJudge(LexicalJudge(), tmp_path / "v.jsonl")
    prompt = [{"role": "user", "content": "Chest pain on exertion?"}]
    rubrics = [{"criterion": "Advises an ECG", "points": 5.0}, {"criterion": "Says it is harmless", "points": -2.0}]

    async def step(answers):
        return await asyncio.gather(*(judge.grade(prompt, a, rubrics) for a in answers))

    judge.step = 1
    asyncio.run(step(["Get an ECG today.", "It is harmless, rest.", "Get an ECG today."]))
    judge.step = 2
    asyncio.run(step(["An ECG is advised.", "Drink water."]))
    groups = load_verdict_log(judge.path)
    assert [len(g.met) for g in groups] == [3, 2]  # one group per (step, prompt), repeats kept
    assert {g.prompt_id for g in groups} == {prompt_id(prompt)}
    assert groups[0].met[0] == groups[0].met[2]
    curve = train_curve(judge.path)
    assert sorted(curve) == [1, 2]
    assert all(-0.4 <= v <= 1.0 for v in curve.values())

    rows = [{"id": str(i)} for i in range(10)]
    train, held = split(rows, 3, seed=0)
    assert len(held) == 3 and len(train) == 7
    assert {r["id"] for r in train} | {r["id"] for r in held} == {str(i) for i in range(10)}
    assert split(rows, 3, seed=0) == (train, held)
