"""Generated rubrics measured against physicians' rubrics on real HealthBench conversations.

``compare_rubrics(real, graded, generated, judge, matcher=...)`` (CLI: ``heartgrpo rubrics compare``):

* **coverage**: the share of the physicians' items that a generated item matches, for all items
  and separately for positive items and pitfalls. Two named matchers:
  ``lexical`` (a generated item with content-stem Jaccard >= ``lexical_threshold``, see
  :func:`heartgrpo.rubricgen.quality.lexical_similarity`) or ``judge`` (the given judge is asked,
  per real item, whether the numbered list of generated items "includes a rubric item that checks
  the same thing as: <real item>"; a failed verdict is left out and counted);
* **ranking**: each real graded answer is scored (HealthBench per-example score,
  :func:`heartgrpo.eval.metrics.example_score`) by the same judge under the real rubric and under
  the generated one; Kendall tau-b (:func:`heartgrpo.signal.study.kendall_tau_b`) between the two,
  within each conversation (mean over conversations with two or more scored answers: what GRPO's
  group comparison sees) and pooled over all answers. Also reported: tau between the judge's
  real-rubric scores and the reference grader's recorded scores (``reference_score``), which says
  how far the judge itself is from the reference grader.

Any object with the :class:`heartgrpo.judge.Judge` protocol works (built from the ``judge:``
config section by :func:`heartgrpo.judge.factory.build_judge`). Inputs are the files of
``../shared/data/healthbench/`` (``hard_rebuilt_dev.jsonl``, ``graded_dev.jsonl.gz``) and the
generator's ``records.jsonl``; use the dev split.

Example::

    report = compare_rubrics("hard_rebuilt_dev.jsonl", "graded_dev.jsonl.gz", "runs/hb_dev/records.jsonl",
                             judge, matcher="judge", limit=50)
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.io.jsonl import iter_rows
from heartgrpo.io.jsonl import DataError
from heartgrpo.rubricgen.quality import lexical_similarity
from heartgrpo.eval.metrics import example_score
from heartgrpo.signal.study import kendall_tau_b

__all__ = ["MATCH_TEMPLATE", "baseline_rubrics", "compare_rubrics", "coverage", "load_graded_scores", "write_comparison"]

MATCH_TEMPLATE = "Includes a rubric item that checks the same thing as: {criterion}"


def _conversation(row: dict[str, Any]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in row["prompt"]]


def load_graded_scores(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Graded answers per conversation hash (``x_prompt_sha256``), from a JSONL or ``.jsonl.gz``."""
    path = Path(path)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n, row in iter_rows(path):
        try:
            out[row["x_prompt_sha256"]].append({"response": row["response"], "reference_score": float(row["reference_score"])})
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}:{n}: expected a graded answer {{x_prompt_sha256, response, reference_score}} ({exc})") from None
    return dict(out)


def _listing(rubric: Sequence[dict[str, Any]]) -> str:
    return "Rubric items:\n" + "\n".join(f"{i + 1}. ({c['points']:+g}) {c['criterion']}" for i, c in enumerate(rubric))


async def coverage(conversation: list[dict[str, str]], real: Sequence[dict[str, Any]], generated: Sequence[dict[str, Any]],
                   matcher: str, judge: Any = None, lexical_threshold: float = 0.3) -> list[bool | None]:
    """Per real item: matched by a generated item (``None``: the judge failed on it).

    >>> import asyncio
    >>> asyncio.run(coverage([], [{"criterion": "Advises an urgent ECG", "points": 5}],
    ...     [{"criterion": "Recommends an ECG urgently", "points": 5}], "lexical"))
    [True]
    """
    if matcher == "lexical":
        return [any(lexical_similarity(r["criterion"], g["criterion"]) >= lexical_threshold for g in generated) for r in real]
    if matcher != "judge" or judge is None:
        raise ValueError(f"matcher must be 'lexical' or 'judge' (with a judge), got {matcher!r}")
    asks = [{"criterion": MATCH_TEMPLATE.format(criterion=r["criterion"]), "points": 1.0, "tags": []} for r in real]
    verdicts = await judge.grade(conversation, _listing(generated), asks)
    return [v.met for v in verdicts]


async def _scores(judge: Any, conversation: list[dict[str, str]], response: str, rubric: Sequence[dict[str, Any]]) -> float | None:
    verdicts = await judge.grade(conversation, response, list(rubric))
    return example_score([float(c["points"]) for c in rubric], [v.met for v in verdicts])


def _tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    t = kendall_tau_b(x, y) if len(x) >= 2 else math.nan
    return None if math.isnan(t) else round(t, 4)


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return {"mean": round(statistics.fmean(values), 4) if values else None,
            "median": round(statistics.median(values), 4) if values else None, "n": len(values)}


async def _compare(pairs: list[tuple[dict, list[dict], list[dict]]], judge: Any, matcher: str, lexical_threshold: float,
                   concurrency: int, progress: bool) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    semaphore = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(pairs), desc="compare", unit="conv", disable=not progress)

    async def one(real_row: dict, generated: list[dict], answers: list[dict]) -> dict[str, Any]:
        async with semaphore:
            conv = _conversation(real_row)
            real = real_row["rubrics"]
            matched = await coverage(conv, real, generated, matcher, judge, lexical_threshold)

            async def both(a: dict) -> dict[str, Any]:
                s_real, s_gen = await asyncio.gather(_scores(judge, conv, a["response"], real),
                                                     _scores(judge, conv, a["response"], generated))
                return {"real": s_real, "generated": s_gen, "reference": a["reference_score"]}

            scored = list(await asyncio.gather(*(both(a) for a in answers)))
            bar.update(1)
            return {"id": real_row["prompt_id"], "n_real": len(real), "n_generated": len(generated),
                    "matched": matched, "pitfall": [float(r["points"]) < 0 for r in real], "answers": scored}

    try:
        return list(await asyncio.gather(*(one(*p) for p in pairs)))
    finally:
        bar.close()


def _share(flags: Sequence[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return round(sum(known) / len(known), 4) if known else None


def compare_rubrics(real_path: str | Path, graded_path: str | Path, generated_path: str | Path, judge: Any, *,
                    matcher: str = "judge", lexical_threshold: float = 0.3, limit: int | None = None,
                    answers_per_conversation: int | None = None, concurrency: int = 8, progress: bool = True,
                    judge_name: str = "") -> dict[str, Any]:
    """Coverage and ranking agreement of generated vs real rubrics (see the module docstring)."""
    from heartgrpo.io.asyncs import run_sync

    real_rows = [row for _, row in iter_rows(real_path)]
    generated = {str(r["id"]): r["rubrics"] for _, r in iter_rows(generated_path)}
    graded = load_graded_scores(graded_path)
    pairs = []
    for row in real_rows:
        if str(row.get("prompt_id")) in generated:
            answers = graded.get(row.get("x_prompt_sha256", ""), [])[:answers_per_conversation]
            pairs.append((row, generated[str(row["prompt_id"])], answers))
    if not pairs:
        raise DataError(f"{generated_path}: no generated rubric has the id of a conversation in {real_path}")
    pairs = pairs[:limit]
    per_conv = run_sync(lambda: _compare(pairs, judge, matcher, lexical_threshold, concurrency, progress))
    all_matched = [m for c in per_conv for m in c["matched"]]
    pos = [m for c in per_conv for m, p in zip(c["matched"], c["pitfall"]) if not p]
    pit = [m for c in per_conv for m, p in zip(c["matched"], c["pitfall"]) if p]
    within, within_ref = [], []
    pooled: list[tuple[float, float, float]] = []
    for c in per_conv:
        ok = [a for a in c["answers"] if a["real"] is not None and a["generated"] is not None]
        pooled += [(a["real"], a["generated"], a["reference"]) for a in ok]
        t = _tau([a["real"] for a in ok], [a["generated"] for a in ok])
        c["tau"] = t
        if t is not None:
            within.append(t)
        t_ref = _tau([a["reference"] for a in ok], [a["generated"] for a in ok])
        if t_ref is not None:
            within_ref.append(t_ref)
    n_answers = sum(len(c["answers"]) for c in per_conv)
    return {
        "judge": judge_name or type(judge).__name__,
        "judge_approximate": bool(getattr(getattr(judge, "inner", judge), "approximate", False)),
        "matcher": matcher if matcher == "judge" else f"lexical (stem Jaccard >= {lexical_threshold:g})",
        "real": str(real_path), "graded": str(graded_path), "generated": str(generated_path),
        "n_conversations": len(per_conv), "n_answers": n_answers, "n_answers_scored": len(pooled),
        "coverage": {"all": _share(all_matched), "positive": _share(pos), "pitfall": _share(pit),
                     "n_real_items": len(all_matched), "judge_failures": sum(m is None for m in all_matched)},
        "items_per_rubric": {"real": _summary([c["n_real"] for c in per_conv]), "generated": _summary([c["n_generated"] for c in per_conv])},
        "tau_within_conversation": _summary(within),
        "tau_within_conversation_vs_reference_grader": _summary(within_ref),
        "tau_pooled": _tau([p[0] for p in pooled], [p[1] for p in pooled]),
        "tau_pooled_generated_vs_reference_grader": _tau([p[2] for p in pooled], [p[1] for p in pooled]),
        "tau_pooled_judge_real_vs_reference_grader": _tau([p[2] for p in pooled], [p[0] for p in pooled]),
        "conversations": per_conv,
    }


def baseline_rubrics(real_path: str | Path, kind: str) -> list[dict[str, Any]]:
    """Reference points for the figures, in the generator's ``records.jsonl`` shape ``{id, rubrics}``.

    ``real``: each conversation's own physicians' rubric (the ceiling: coverage 1, tau 1);
    ``shifted``: the rubric of the next conversation in the file (the floor: a rubric about
    something else). A generated rubric's figures mean something only between the two.
    """
    rows = [row for _, row in iter_rows(real_path)]
    if kind not in ("real", "shifted"):
        raise DataError(f"baseline kind must be 'real' or 'shifted', got {kind!r}")
    shift = 0 if kind == "real" else 1
    return [{"id": str(r["prompt_id"]), "rubrics": rows[(i + shift) % len(rows)]["rubrics"]} for i, r in enumerate(rows)]


def write_comparison(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """``comparison.json`` (everything, per conversation too) and ``comparison.md`` (the figures)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = report
    cov = r["coverage"]
    approx = " (APPROXIMATE judge: word overlap, not a quality measurement)" if r["judge_approximate"] else ""
    lines = ["# Generated vs physicians' rubrics", "",
             f"Judge: {r['judge']}{approx}. Coverage matcher: {r['matcher']}.", "",
             f"{r['n_conversations']} conversations, {r['n_answers_scored']} of {r['n_answers']} graded answers scored under both rubrics.", "",
             "| figure | value |", "|---|---|",
             f"| coverage of real items (all) | {cov['all']} (n={cov['n_real_items']}, judge failures {cov['judge_failures']}) |",
             f"| coverage of real positive items | {cov['positive']} |",
             f"| coverage of real pitfalls | {cov['pitfall']} |",
             f"| items per rubric: real / generated (mean) | {r['items_per_rubric']['real']['mean']} / {r['items_per_rubric']['generated']['mean']} |",
             f"| Kendall tau, real vs generated rubric, within conversation (mean, n) | {r['tau_within_conversation']['mean']} (n={r['tau_within_conversation']['n']}) |",
             f"| Kendall tau, real vs generated rubric, pooled | {r['tau_pooled']} |",
             f"| Kendall tau, generated rubric vs reference grader's real-rubric scores, pooled | {r['tau_pooled_generated_vs_reference_grader']} |",
             f"| Kendall tau, this judge vs reference grader, both on the real rubric, pooled | {r['tau_pooled_judge_real_vs_reference_grader']} |"]
    json_path, md_path = out / "comparison.json", out / "comparison.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"json": json_path, "md": md_path}
