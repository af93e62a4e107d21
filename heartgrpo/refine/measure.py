"""``heartgrpo refine --measure``: is the refined answer better than the original, on rubrics?

Each row of ``sft_refined.jsonl`` whose question has a rubric (by id, else by the question's
text: the records of ``heartgrpo rubrics generate`` run on ``questions.jsonl``, or RaR rows /
prepared records for existing questions) is graded twice by the configured judge: the original
answer and the refined one (the text after the SFT format is stripped,
:func:`heartgrpo.answer_format.extract_answer`). Per row the HealthBench example score
(:func:`heartgrpo.eval.metrics.example_score`) and the per-tag scores
(:func:`heartgrpo.eval.metrics.tag_example_scores`) of both. Then, over the rows where both
scores exist (a judge failure leaves a score ``None``: the row is counted as excluded):

    win         = 1 if refined > original, 0.5 if equal, 0 if lower
    win rate    = mean(win), 95% CI by the seeded bootstrap of :func:`heartgrpo.eval.metrics.aggregate`
    mean change = clipped mean(refined) - clipped mean(original), paired bootstrap CI
                  (:func:`heartgrpo.eval.metrics.paired_bootstrap`)
    length      = mean words of each, and their change, reported beside the scores

overall, per facet (the rows whose critique asked for a change on that facet) and per
HealthBench axis (``axis:`` criterion tags, where the rubric has them).

Example:
    >>> s = compare_pairs([0.2, 0.5, 0.5, 0.8], [0.6, 0.5, 0.4, 1.0], n_bootstrap=0)
    >>> s["win_rate"], round(s["mean_change"], 3), s["n"]
    (0.625, 0.125, 4)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.answer_format import extract_answer
from heartgrpo.eval.metrics import aggregate, example_score, paired_bootstrap, tag_example_scores
from heartgrpo.io.jsonl import read_jsonl
from heartgrpo.refine.critique import FACETS

__all__ = ["compare_pairs", "grade_rows", "load_rubrics", "measure_markdown", "measure_refinement", "summarize"]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _user_text(prompt: Sequence[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in prompt if m.get("role") == "user")


def load_rubrics(path: str | Path) -> dict[str, dict[str, Any]]:
    """Rubrics by row id and by normalised question text: ``{"rubrics": [canonical criteria], "example_tags"}``.

    Reads canonical records (``rubrics``: ``{criterion, points, tags}``) or RaR rows (``rubric``:
    ``{title, description, weight}``, converted by :func:`heartgrpo.rubrics.parse_rar_rubric`).
    """
    from heartgrpo.rubrics import parse_rar_rubric

    out: dict[str, dict[str, Any]] = {}
    for row in read_jsonl(path):
        rid = str(row.get("id") or row.get("prompt_id") or "")
        if isinstance(row.get("rubrics"), list):
            rubrics = [{"criterion": c["criterion"], "points": float(c["points"]), "tags": list(c.get("tags") or [])} for c in row["rubrics"]]
        elif isinstance(row.get("rubric"), list):
            rubrics = [c.to_dict() for c in parse_rar_rubric(row["rubric"], rid)]
        else:
            continue
        entry = {"rubrics": rubrics, "example_tags": list(row.get("example_tags") or [])}
        if rid:
            out[rid] = entry
        question = row.get("question") or (_user_text(row["prompt"]) if isinstance(row.get("prompt"), list) else "")
        if question:
            out.setdefault("text:" + _key(question), entry)
    return out


def _side(points: list[float], verdicts: Sequence[Any], tags: list[list[str]], example_tags: list[str], text: str) -> dict[str, Any]:
    met = [v.met for v in verdicts]
    return {"score": example_score(points, met), "tags": tag_example_scores(points, met, tags, example_tags),
            "words": len(text.split()), "failed": sum(m is None for m in met)}


async def grade_rows(rows: Sequence[dict[str, Any]], rubrics: dict[str, dict[str, Any]], judge: Any,
                     concurrency: int = 8) -> tuple[list[dict[str, Any]], list[str]]:
    """Both answers of every row that has a rubric graded by ``judge``; and the ids without one."""
    semaphore = asyncio.Semaphore(concurrency)
    todo, missing = [], []
    for row in rows:
        user = [m for m in row["prompt"] if m.get("role") != "system"]
        entry = rubrics.get(row["id"]) or rubrics.get("text:" + _key(_user_text(user)))
        (todo.append((row, user, entry)) if entry else missing.append(row["id"]))

    async def one(row: dict[str, Any], user: list[dict], entry: dict[str, Any]) -> dict[str, Any]:
        crit = entry["rubrics"]
        points, tags = [c["points"] for c in crit], [c["tags"] for c in crit]
        original = row["original"]["answer"]
        refined = extract_answer(row["completion"][-1]["content"], strip_reasoning=True)
        async with semaphore:
            v_o = await judge.grade(user, original, crit)
            v_r = await judge.grade(user, refined, crit)
        return {"id": row["id"], "facets_changed": row.get("facets_changed", []),
                "original": _side(points, v_o, tags, entry["example_tags"], original),
                "refined": _side(points, v_r, tags, entry["example_tags"], refined)}

    graded = await asyncio.gather(*(one(*t) for t in todo))
    return list(graded), missing


def compare_pairs(original: Sequence[float], refined: Sequence[float], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Win rate and mean score change of paired scores, with bootstrap 95% CIs (module docstring)."""
    wins = [1.0 if r > o else 0.5 if r == o else 0.0 for o, r in zip(original, refined, strict=True)]
    w = aggregate(wins, n_bootstrap, seed)
    d = paired_bootstrap(refined, original, n_bootstrap, seed)
    return {"n": len(wins), "win_rate": w["score"], "win_ci": [w["ci_low"], w["ci_high"]],
            "tie_rate": (sum(x == 0.5 for x in wins) / len(wins)) if wins else None,
            "mean_change": d["diff"], "change_ci": [d["ci_low"], d["ci_high"]],
            "original_mean": aggregate(original, 0)["score"], "refined_mean": aggregate(refined, 0)["score"]}


def _length(graded: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if not graded:
        return {"original_words": None, "refined_words": None, "change_words": None}
    o = sum(g["original"]["words"] for g in graded) / len(graded)
    r = sum(g["refined"]["words"] for g in graded) / len(graded)
    return {"original_words": o, "refined_words": r, "change_words": r - o, "ratio": (r / o) if o else None}


def summarize(graded: Sequence[dict[str, Any]], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Overall, per-facet and per-axis comparisons with the length change beside each."""
    usable = [g for g in graded if g["original"]["score"] is not None and g["refined"]["score"] is not None]

    def block(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        out = compare_pairs([g["original"]["score"] for g in rows], [g["refined"]["score"] for g in rows], n_bootstrap, seed)
        return {**out, "length": _length(rows)}

    per_facet = {f: block(rows) for f in FACETS if (rows := [g for g in usable if f in g["facets_changed"]])}
    axes = sorted({t for g in usable for t in g["original"]["tags"] if t.startswith("axis:")})
    per_axis = {}
    for axis in axes:
        pairs = [(g["original"]["tags"].get(axis), g["refined"]["tags"].get(axis)) for g in usable]
        pairs = [(o, r) for o, r in pairs if o is not None and r is not None]
        if pairs:
            per_axis[axis] = compare_pairs([o for o, _ in pairs], [r for _, r in pairs], n_bootstrap, seed)
    return {"graded": len(graded), "excluded_judge_failures": len(graded) - len(usable), "overall": block(usable),
            "per_facet": per_facet, "per_axis": per_axis}


def _fmt(x: float | None, signed: bool = False) -> str:
    return "—" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")


def measure_markdown(summary: dict[str, Any], judge_label: str) -> str:
    """The measurement as Markdown tables."""
    lines = [f"# Refined vs original answers (judge: {judge_label})", "",
             f"Rows graded: {summary['graded']}; excluded for judge failures: {summary['excluded_judge_failures']}; "
             f"without a rubric: {summary.get('no_rubric', 0)}.", "",
             "| group | n | win rate [95% CI] | mean score change [95% CI] | words original -> refined |", "|---|---|---|---|---|"]
    groups = [("overall", summary["overall"])] + [(f"facet {k}", v) for k, v in summary["per_facet"].items()]
    groups += [(k, v) for k, v in summary["per_axis"].items()]
    for name, g in groups:
        ln = g.get("length", {})
        words = f"{ln['original_words']:.0f} -> {ln['refined_words']:.0f}" if ln.get("original_words") is not None else "—"
        lines.append(f"| {name} | {g['n']} | {_fmt(g['win_rate'])} [{_fmt(g['win_ci'][0])}, {_fmt(g['win_ci'][1])}] | "
                     f"{_fmt(g['mean_change'], True)} [{_fmt(g['change_ci'][0], True)}, {_fmt(g['change_ci'][1], True)}] | {words} |")
    lines += ["", "A refinement that only grows longer is not better: read the score change beside the length change.", ""]
    return "\n".join(lines)


def measure_refinement(dataset: str | Path, rubrics_path: str | Path, judge: Any, out_dir: str | Path, *, judge_label: str = "configured",
                       n_bootstrap: int = 1000, seed: int = 0, concurrency: int = 8) -> dict[str, Any]:
    """Grade, summarise and write ``measure.json``, ``measure.md`` and ``measure_graded.jsonl`` in ``out_dir``."""
    import json

    from heartgrpo.io.asyncs import run_sync
    from heartgrpo.io.jsonl import write_jsonl

    rows = read_jsonl(dataset)

    async def grade() -> tuple[list[dict[str, Any]], list[str]]:
        try:
            return await grade_rows(rows, load_rubrics(rubrics_path), judge, concurrency)
        finally:
            close = getattr(judge, "aclose", None)
            if close is not None:  # the judge's HTTP clients belong to this loop
                await close()

    graded, missing = run_sync(grade)
    summary = {**summarize(graded, n_bootstrap, seed), "no_rubric": len(missing), "judge": judge_label}
    out = Path(out_dir)
    write_jsonl(graded, out / "measure_graded.jsonl")
    (out / "measure.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "measure.md").write_text(measure_markdown(summary, judge_label), encoding="utf-8")
    return summary
