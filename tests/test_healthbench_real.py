"""Real HealthBench rows (``../shared/data/healthbench/``): every row loads, prompts survive byte
for byte, our scorer reproduces every real grader score, tag scores follow simple-evals.

Skipped, with that reason, where the folder is absent (as on a user's machine). ``eval`` rows are
only loaded and aggregated here, never inspected one by one.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import defaultdict
from pathlib import Path

import pytest

from heartgrpo.data.healthbench import load_healthbench
from heartgrpo.io.jsonl import iter_rows
from heartgrpo.data.stats import dataset_stats
from heartgrpo.eval import metrics

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "healthbench"
FILES = ("hard_rebuilt_dev.jsonl", "hard_rebuilt_eval.jsonl", "consensus_dev.jsonl", "consensus_eval.jsonl")

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"real HealthBench rows not found at {REAL}")


@pytest.fixture(scope="module")
def loaded() -> dict[str, tuple[list[dict], list[dict]]]:
    """file name -> (raw rows, records loaded with default settings)."""
    return {name: ([row for _, row in iter_rows(REAL / name)], load_healthbench(REAL / name)) for name in FILES}


def _sha(prompt: list[dict]) -> str:
    canon = [{"role": m["role"], "content": m["content"]} for m in prompt]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("name", FILES)
def test_every_real_row_loads_with_default_settings(loaded, name):
    rows, records = loaded[name]
    assert len(records) == len(rows) > 0
    for row, rec in zip(rows, records):
        assert rec["id"] == row["prompt_id"]
        assert [c["points"] for c in rec["rubrics"]] == [float(c["points"]) for c in row["rubrics"]]
        assert [c["tags"] for c in rec["rubrics"]] == [list(c["tags"]) for c in row["rubrics"]]
        assert rec["example_tags"] == row["example_tags"]


@pytest.mark.parametrize("name", FILES)
def test_real_prompts_survive_byte_for_byte(loaded, name):
    rows, records = loaded[name]
    multi = 0
    for row, rec in zip(rows, records):
        assert rec["prompt"] == [{"role": m["role"], "content": m["content"]} for m in row["prompt"]]
        if "x_prompt_sha256" in row:
            assert _sha(rec["prompt"]) == row["x_prompt_sha256"]
        multi += len(rec["prompt"]) > 1
    assert multi > 0  # multi-turn conversations are among them and kept whole


def test_repeated_criteria_are_kept_and_counted_on_real_rows(loaded):
    stats = dataset_stats(loaded["hard_rebuilt_dev.jsonl"][1])
    assert stats["repeated_criteria"] > 0 and stats["rows_with_repeats"] > 0


@pytest.mark.parametrize("name", ["hard_rebuilt_dev.jsonl", "hard_rebuilt_eval.jsonl"])
def test_scorer_reproduces_every_real_grader_score(loaded, name):
    rows, records = loaded[name]
    n = 0
    for row, rec in zip(rows, records):
        points = [c["points"] for c in rec["rubrics"]]
        for verdict in row["x_verdicts"]:
            assert metrics.example_score(points, verdict["met"]) == verdict["reference_score"], (rec["id"], verdict["report"])
            n += 1
    assert n >= len(rows)


def _reference_tag_scores(rubrics: list[dict], met: list[bool], example_tags: list[str]) -> dict[str, float]:
    """simple-evals' grade_sample tag logic, written out independently of heartgrpo.eval.metrics."""
    def calculate_score(items, grades):
        possible = sum(i["points"] for i in items if i["points"] > 0)
        if possible == 0:
            return None
        return sum(i["points"] for i, g in zip(items, grades) if g) / possible

    overall = calculate_score(rubrics, met)
    out = {tag: overall for tag in example_tags}
    by_tag = defaultdict(list)
    for item, grade in zip(rubrics, met):
        for tag in item["tags"]:
            by_tag[tag].append((item, grade))
    for tag, pairs in by_tag.items():
        score = calculate_score([p[0] for p in pairs], [p[1] for p in pairs])
        if score is not None:
            out[tag] = score
    return out


@pytest.mark.parametrize("name", ["consensus_dev.jsonl", "consensus_eval.jsonl"])
def test_tag_scores_on_real_consensus_rows_match_simple_evals(loaded, name):
    _, records = loaded[name]
    rng = random.Random(0)
    ours, ref = defaultdict(list), defaultdict(list)
    for rec in records:
        met = [rng.random() < 0.5 for _ in rec["rubrics"]]
        got = metrics.tag_example_scores([c["points"] for c in rec["rubrics"]], met,
                                         [c["tags"] for c in rec["rubrics"]], rec["example_tags"])
        want = _reference_tag_scores(rec["rubrics"], met, rec["example_tags"])
        assert got == want, rec["id"]
        for tag, value in got.items():
            ours[tag].append(value)
        for tag, value in want.items():
            ref[tag].append(value)
    families = {t.split(":", 1)[0] for t in ours}
    assert {"theme", "physician_agreed_category", "axis", "level", "cluster"} <= families
    for tag in ref:
        clipped = min(1.0, max(0.0, sum(ref[tag]) / len(ref[tag])))
        assert math.isclose(metrics.aggregate(ours[tag], n_bootstrap=0)["score"], clipped, rel_tol=0, abs_tol=1e-15)
