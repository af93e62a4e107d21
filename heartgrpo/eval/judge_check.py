"""``heartgrpo judge validate``: how far is a judge from the GPT-4.1 grader, on real graded answers?

Takes any judge (an OpenAI-compatible endpoint, the verifier, the lexical judge) and a graded
file (``graded_eval.jsonl.gz`` format, joined with its conversations: see
:mod:`heartgrpo.judge.verifier.examples`), grades a seeded sample of ``n`` answers with it and
reports, against the grader's verdicts: Cohen's kappa, accuracy, F1 of "met" overall and per
polarity, the per-answer HealthBench score's Pearson / Spearman correlation and the difference
in mean score (:mod:`heartgrpo.judge.agreement`). With a verdict cache on the judge
(``OpenAIJudge(cache=...)``) a rerun sends no request.

    >>> result = validate_on_graded(LexicalJudge(), "graded_eval.jsonl.gz", n=50)   # doctest: +SKIP
    >>> result["agreement"]["all"]["kappa"]                                        # doctest: +SKIP
    0.01
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.io.asyncs import run_sync
from heartgrpo.judge.agreement import full_agreement
from heartgrpo.judge.verifier.examples import Example, by_answer, load_graded

__all__ = ["sample_answers", "validate_markdown", "validate_on_graded"]


def sample_answers(examples: Sequence[Example], n: int | None, seed: int = 0) -> list[list[Example]]:
    """``n`` answers (all their criteria) drawn without replacement with ``seed``, in file order;
    every answer when ``n`` is None or larger than the file."""
    groups = by_answer(examples)
    if n is not None and n < len(groups):
        keep = sorted(random.Random(seed).sample(range(len(groups)), n))
        groups = [groups[i] for i in keep]
    return [[examples[i] for i in g] for g in groups]


def validate_on_graded(judge: Any, graded: str | Path, *, conversations: str | Path | None = None, n: int | None = 50,
                       seed: int = 0, concurrency: int = 8, progress: bool = False) -> dict[str, Any]:
    """Grade ``n`` sampled answers of ``graded`` with ``judge``; the agreement with the grader.

    A judge exception on an answer counts all its criteria as judge failures (``met=None``).
    Returns ``{"judge", "graded", "n_answers", "seed", "agreement", "stats"}``.
    """
    from heartgrpo.eval.grade import judge_info

    answers = sample_answers(load_graded(graded, conversations), n, seed)
    probs_of = getattr(judge, "probabilities", None)

    async def one(sem: asyncio.Semaphore, group: list[Example], bar: Any) -> list[bool | None]:
        rubric = [{"criterion": ex.criterion, "points": ex.points, "tags": []} for ex in group]
        async with sem:
            try:
                verdicts = list(await judge.grade(group[0].conversation, group[0].response, rubric))
            except Exception:  # noqa: BLE001 - counted as judge failures
                verdicts = []
        if bar is not None:
            bar.update(1)
        if len(verdicts) != len(group):
            return [None] * len(group)
        return [v.met if isinstance(getattr(v, "met", None), bool) else None for v in verdicts]

    async def all_() -> list[list[bool | None]]:
        sem = asyncio.Semaphore(concurrency)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(answers), desc="judge validate", unit="answer")
        try:
            return list(await asyncio.gather(*(one(sem, g, bar) for g in answers)))
        finally:
            if bar is not None:
                bar.close()

    verdicts = run_sync(all_())
    rows = [([ex.points for ex in g], pred, [ex.met for ex in g]) for g, pred in zip(answers, verdicts)]
    probs = None
    if callable(probs_of):
        probs = [probs_of(g[0].conversation, g[0].response, [{"criterion": e.criterion, "points": e.points} for e in g]) for g in answers]
    stats = getattr(judge, "stats", None)
    return {
        "judge": judge_info(judge),
        "graded": str(graded),
        "n_answers": len(answers),
        "n_verdicts": sum(len(g) for g in answers),
        "seed": seed,
        "agreement": full_agreement(rows, probs),
        "stats": stats.snapshot() if hasattr(stats, "snapshot") else None,
    }


def validate_markdown(result: dict[str, Any]) -> str:
    """A short markdown summary of :func:`validate_on_graded`'s result."""
    a = result["agreement"]
    f = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    lines = [
        f"# Judge validation: {result['judge']['id']}",
        "",
        f"Against the GPT-4.1 grader on `{Path(result['graded']).name}`: {result['n_answers']} answers (seed {result['seed']}), "
        f"{result['n_verdicts']} verdicts, {a['judge_failures']} judge failures (left out).",
        "",
        "| subset | verdicts | kappa | accuracy | F1 met | grader met rate | judge met rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("all", "positive", "pitfall"):
        s = a[name]
        lines.append(f"| {name} | {s['n']} | {f(s['kappa'])} | {f(s['accuracy'])} | {f(s['f1_met'])} | "
                     f"{f(s['met_rate_reference'])} | {f(s['met_rate_judge'])} |")
    ans = a["answers"]
    lines += ["", f"Per-answer HealthBench score: Pearson {f(ans['pearson'])}, Spearman {f(ans['spearman'])}, "
              f"mean {f(ans['mean_score_judge'])} (judge) vs {f(ans['mean_score_reference'])} (grader), "
              f"difference {f(ans['mean_score_difference'])} over {ans['n_answers']} answers."]
    if "calibration" in a:
        lines.append(f"Calibration of the judge's p(met): ECE {f(a['calibration']['ece'])}.")
    return "\n".join(lines) + "\n"


def write_validation(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """validate.json and validate.md in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "validate.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "validate.md").write_text(validate_markdown(result), encoding="utf-8")
    return {"json": out / "validate.json", "md": out / "validate.md"}
