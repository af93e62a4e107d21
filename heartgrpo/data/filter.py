"""A pass@k prefilter of GRPO prompts (``heartgrpo filter``): drop the prompts that teach nothing.

For every training prompt, ``k`` answers are sampled from the current policy (any
:class:`heartgrpo.eval.generators.Generator`: a local model with its adapter, or an endpoint),
judged criterion by criterion with the run's judge, and scored with a verdict strategy
(``healthbench`` by default). With r_1..r_k the k rewards (failed verdicts: ``None``, left out),
m their mean, a prompt is, in this order:

* ``mastered``      m > ``mastered_above`` (the policy already solves it);
* ``hopeless``      m < ``hopeless_below`` (the policy is nowhere near);
* ``zero_variance`` all judged rewards equal (GRPO's group advantage would be 0 everywhere);
* ``unjudged``      fewer than 2 judged rewards: kept, since there is no evidence against it;
* ``kept``          otherwise.

Per rubric item the report lists the items *satisfied by all k* answers (a positive item met,
a pitfall avoided: HealthBench semantics, ``met=True`` on a pitfall means the mistake is
present) and the items satisfied by none. Outputs: ``kept.jsonl`` (the kept rows unchanged),
``filter.json`` (settings, counts, every prompt with its rewards and answers) and ``filter.md``.
``data.filter`` naming ``kept.jsonl`` (or its directory) makes GRPO train on the kept prompts.

    >>> classify([1.0, 1.0, 0.95], mastered_above=0.9, hopeless_below=0.05)
    'mastered'
    >>> classify([0.4, 0.4, 0.4], mastered_above=0.9, hopeless_below=0.05)
    'zero_variance'
    >>> classify([0.2, None, 0.6], mastered_above=0.9, hopeless_below=0.05)
    'kept'
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartgrpo.config.data import KEPT_FILE
from heartgrpo.io.jsonl import write_jsonl

__all__ = ["DROP_REASONS", "FilterResult", "classify", "filter_prompts", "write_filter_report"]

#: why a prompt is dropped, in the order the rules are tried
DROP_REASONS = ("mastered", "hopeless", "zero_variance")


def classify(rewards: Sequence[float | None], *, mastered_above: float, hopeless_below: float) -> str:
    """The status of one prompt from its k rewards (module docstring)."""
    judged = [r for r in rewards if r is not None]
    if len(judged) < 2:
        return "unjudged"
    mean = sum(judged) / len(judged)
    if mean > mastered_above:
        return "mastered"
    if mean < hopeless_below:
        return "hopeless"
    if max(judged) - min(judged) <= 1e-12:
        return "zero_variance"
    return "kept"


@dataclass
class FilterResult:
    """Every prompt's status and figures, the kept rows and the timings."""

    prompts: list[dict[str, Any]]
    kept_rows: list[dict[str, Any]]
    settings: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("kept", "unjudged", *DROP_REASONS)}
        for p in self.prompts:
            out[p["status"]] += 1
        return out


def _success(points: float, met: bool) -> bool:
    return met if points > 0 else not met


def filter_prompts(rows: Sequence[dict], generator: Any, judge: Any, *, k: int = 4, strategy: str = "healthbench",
                   mastered_above: float = 0.9, hopeless_below: float = 0.05, batch_size: int = 8,
                   strip_reasoning: bool = False, progress: Any = None) -> FilterResult:
    """Sample ``k`` answers per row with ``generator`` (``batch_size`` completions per call),
    judge them with ``judge``, score with ``strategy`` and classify each row (module docstring)."""
    from heartgrpo.answer_format import extract_answer
    from heartgrpo.io.asyncs import gather_staggered, run_sync
    from heartgrpo.rewards.strategies import check_strategy, score
    from heartgrpo.rewards.trl import parse_rubric_column

    strat = check_strategy(strategy, label="filter strategy")
    if strat.rating or strat.group:
        raise ValueError(f"filter strategy {strategy!r} must score one completion from verdicts (not a rating, not a group)")
    if k < 2:
        raise ValueError(f"k must be at least 2 (a variance needs two answers), got {k}")
    t0 = time.perf_counter()
    per_call = max(1, batch_size // k)
    answers: list[list[str]] = []
    for start in range(0, len(rows), per_call):
        chunk = rows[start : start + per_call]
        out = generator.generate([r["prompt"] for r in chunk for _ in range(k)])
        answers += [out[i * k : (i + 1) * k] for i in range(len(chunk))]
        if progress is not None:
            progress(len(answers), len(rows))
    t1 = time.perf_counter()
    rubrics = [parse_rubric_column(r["rubrics"], i) for i, r in enumerate(rows)]

    async def judge_all() -> list[list[Any]]:
        try:
            return await gather_staggered(
                judge.grade(r["prompt"], extract_answer(a, True, strip_reasoning), rub)
                for r, rub, group in zip(rows, rubrics, answers) for a in group)
        finally:
            close = getattr(judge, "aclose", None)
            if close is not None:
                await close()

    flat = iter(run_sync(judge_all))
    t2 = time.perf_counter()
    prompts, kept = [], []
    for row, rub, group in zip(rows, rubrics, answers):
        points = [float(c["points"]) for c in rub]
        met = [[v.met for v in next(flat)] for _ in group]
        rewards = [score(strategy, points, m) for m in met]
        status = classify(rewards, mastered_above=mastered_above, hopeless_below=hopeless_below)
        judged = [r for r in rewards if r is not None]
        full = [j for j in range(len(rub)) if all(m[j] is not None for m in met)]
        prompts.append({
            "id": row.get("id"), "status": status, "rewards": rewards,
            "mean": sum(judged) / len(judged) if judged else None,
            "std": statistics.pstdev(judged) if len(judged) > 1 else None,
            "n_items": len(rub),
            "satisfied_by_all": [rub[j]["criterion"] for j in full if all(_success(points[j], m[j]) for m in met)],
            "satisfied_by_none": [rub[j]["criterion"] for j in full if not any(_success(points[j], m[j]) for m in met)],
            "answers": list(group),
        })
        if status in ("kept", "unjudged"):
            kept.append(row)
    settings = {"k": k, "strategy": strategy, "mastered_above": mastered_above, "hopeless_below": hopeless_below,
                "generator": getattr(generator, "model_id", type(generator).__name__),
                "generation": dict(getattr(generator, "settings", {}) or {}),
                "judge": _judge_name(judge), "judge_approximate": bool(getattr(judge, "approximate", False))}
    return FilterResult(prompts, kept, settings, {"sampling": t1 - t0, "judging": t2 - t1, "total": t2 - t0})


def _judge_name(judge: Any) -> str:
    from heartgrpo.judge.types import describe_judge

    return describe_judge(judge).label.strip(" -") or str(getattr(judge, "id", "") or type(judge).__name__)


def write_filter_report(result: FilterResult, out_dir: Path) -> dict[str, Path]:
    """``kept.jsonl``, ``filter.json`` and ``filter.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = write_jsonl(result.kept_rows, out_dir / KEPT_FILE)
    items = sum(p["n_items"] for p in result.prompts)
    all_k = sum(len(p["satisfied_by_all"]) for p in result.prompts)
    none_k = sum(len(p["satisfied_by_none"]) for p in result.prompts)
    report = {"settings": result.settings, "counts": result.counts, "n_prompts": len(result.prompts), "seconds": result.seconds,
              "items": {"n": items, "satisfied_by_all_k": all_k, "satisfied_by_none": none_k}, "prompts": result.prompts}
    js = out_dir / "filter.json"
    js.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    s = result.settings
    judge = s["judge"] + (" (APPROXIMATE)" if s["judge_approximate"] and "APPROXIMATE" not in s["judge"] else "")
    lines = [f"# Pass@k prefilter: {len(result.kept_rows)} of {len(result.prompts)} prompts kept", "",
             f"k = {s['k']} answers per prompt from `{s['generator']}`, judged by {judge}, scored with `{s['strategy']}`; "
             f"mastered when the mean reward > {s['mastered_above']}, hopeless when < {s['hopeless_below']}, "
             "zero-variance when all k rewards are equal.", "",
             "| status | prompts |", "|---|---|", *[f"| {k} | {v} |" for k, v in result.counts.items()], "",
             f"Rubric items: {items}; satisfied by all k answers: {all_k}; by none: {none_k} "
             "(a positive item met, a pitfall avoided).", "",
             f"Seconds: sampling {result.seconds.get('sampling', 0):.1f}, judging {result.seconds.get('judging', 0):.1f}.", "",
             "| id | status | mean | std | items satisfied by all k |", "|---|---|---|---|---|"]
    for p in result.prompts:
        mean = "—" if p["mean"] is None else f"{p['mean']:.3f}"
        std = "—" if p["std"] is None else f"{p['std']:.3f}"
        lines.append(f"| {p['id']} | {p['status']} | {mean} | {std} | {len(p['satisfied_by_all'])} / {p['n_items']} |")
    md = out_dir / "filter.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"kept": kept, "json": js, "md": md}
