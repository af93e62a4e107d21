"""Entry points behind ``heartgrpo eval`` and ``heartgrpo report``.

``evaluate`` = select the eval subset -> generate (or take saved answers) -> grade -> summarise,
all saved in one run directory (``answers.jsonl``, ``verdicts.jsonl``, ``summary.json``) and
resumable at every step. ``report`` = summaries of several run directories -> paired
comparisons against the first -> markdown + HTML report (+ ``docs/results.md``).

Example:
    >>> summary = evaluate("data/heart_test.jsonl", judge, "runs/eval/base", generator=gen)  # doctest: +SKIP
    >>> report(["runs/eval/base", "runs/eval/grpo"], "runs/report")                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.eval.jsonl import EvalInputError
from heartgrpo.config.eval import EvalSettings
from heartgrpo.eval.summary import ANSWERS, SUMMARY, VERDICTS

__all__ = ["evaluate", "report"]


def _records(records: str | Path | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    from heartgrpo.eval.records import check_record, load_records

    if isinstance(records, (str, Path)):
        return load_records(records)
    out = list(records)
    for i, r in enumerate(out):
        check_record(r, f"records[{i}]")
    if not out:
        raise EvalInputError("no records to evaluate")
    return out


def evaluate(
    records: str | Path | Sequence[Mapping[str, Any]],
    judge: Any,
    out_dir: str | Path,
    generator: Any = None,
    answers: str | Path | None = None,
    settings: EvalSettings | None = None,
    name: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate one model on the eval subset; returns (and saves) its summary.

    Exactly one of ``generator`` (a :class:`heartgrpo.eval.generate.Generator`) or ``answers``
    (a saved answers JSONL) is needed unless ``out_dir`` already holds answers. ``judge=None``
    re-summarises the saved verdicts without any judge call.
    """
    from heartgrpo.eval.generate import generate_answers
    from heartgrpo.eval.grade import grade_answers
    from heartgrpo.eval.records import select_subset
    from heartgrpo.eval.summary import summarize_run

    settings = settings or EvalSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subset = select_subset(_records(records), settings.n, settings.seed)
    answers_path = out_dir / ANSWERS
    if generator is not None and answers is not None:
        raise ValueError("pass either a generator or a saved answers file, not both")
    if answers is not None and Path(answers).resolve() != answers_path.resolve():
        if not Path(answers).exists():
            raise EvalInputError(f"{answers}: answers file not found")
        if answers_path.exists() and answers_path.read_bytes() != Path(answers).read_bytes():
            raise EvalInputError(f"{answers_path} already holds other answers; use a fresh out_dir")
        shutil.copyfile(answers, answers_path)
    if generator is not None:
        stats = generate_answers(
            subset, generator, answers_path, first_user_turn_only=settings.first_user_turn_only,
            batch_size=settings.batch_size, concurrency=settings.concurrency, progress=progress,
        )
        if stats["errors"]:
            print(f"{answers_path}: {stats['errors']} answer(s) failed; run again to retry them")
    if not answers_path.exists():
        raise EvalInputError(f"{answers_path}: no answers; pass a generator or an answers file")
    if judge is not None:
        stats = grade_answers(subset, answers_path, judge, out_dir / VERDICTS, concurrency=settings.concurrency,
                              strip_reasoning=settings.strip_reasoning, progress=progress)
        if stats["failed_criteria"]:
            print(f"{out_dir / VERDICTS}: {stats['failed_criteria']} criteria unjudged; run again to retry them")
    summary = summarize_run(out_dir, subset, n_bootstrap=settings.n_bootstrap, seed=settings.bootstrap_seed, name=name)
    summary["eval_settings"] = json.loads(settings.model_dump_json())
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    return summary


def report(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    grpo_logs: Sequence[str | Path] = (),
    agreement: Mapping[str, Any] | str | Path | None = None,
    meta_eval: str | Path | None = None,
    judge: Any = None,
    results_md: str | Path | None = None,
    settings: EvalSettings | None = None,
    title: str = "heartgrpo evaluation",
    notes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write the report for ``run_dirs`` (the first is the baseline of paired comparisons).

    ``agreement``: a judge-validation result (dict or saved JSON); or ``meta_eval`` + ``judge``
    to compute it now. ``results_md``: also write the results table there. ``notes``: paragraphs
    placed after the paired comparisons. Returns the paths.
    """
    from heartgrpo.eval.figures import load_log
    from heartgrpo.eval.report import write_report
    from heartgrpo.eval.results_table import write_results_table
    from heartgrpo.eval.summary import compare_runs, load_summary, summarize_run

    settings = settings or EvalSettings()
    if not run_dirs:
        raise ValueError("report needs at least one run directory")
    summaries = []
    for d in run_dirs:
        d = Path(d)
        if not d.is_dir():
            raise EvalInputError(f"{d}: run directory not found")
        summaries.append(load_summary(d) if (d / SUMMARY).exists() else
                         summarize_run(d, n_bootstrap=settings.n_bootstrap, seed=settings.bootstrap_seed))
    names = [s["name"] for s in summaries]
    if len(set(names)) != len(names):
        for s, d in zip(summaries, run_dirs):
            s["name"] = str(d)
    comparisons, notes = [], list(notes)
    for other in summaries[1:]:
        try:
            comparisons.append(compare_runs(other, summaries[0], n_bootstrap=settings.n_bootstrap, seed=settings.bootstrap_seed))
        except EvalInputError as exc:
            notes.append(f"No paired comparison of {other['name']} with {summaries[0]['name']}: {exc}")
    if meta_eval is not None:
        if judge is None:
            raise ValueError("meta_eval needs a judge to validate")
        from heartgrpo.eval.validation import load_meta_eval, validate_judge

        agreement = validate_judge(load_meta_eval(meta_eval), judge, concurrency=settings.concurrency)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "judge_agreement.json").write_text(json.dumps(agreement, indent=1), encoding="utf-8")
    elif isinstance(agreement, (str, Path)):
        agreement = json.loads(Path(agreement).read_text(encoding="utf-8"))
    logs = {Path(p).stem if Path(p).stem != "trainer_state" else Path(p).parent.name: load_log(p) for p in grpo_logs}
    paths = write_report(summaries, out_dir, comparisons=comparisons, grpo_logs=logs, agreement=agreement,
                         title=title, notes=notes)
    if results_md is not None:
        from heartgrpo.eval.report import trend_text

        from heartgrpo.eval.report import paired_text

        trends = [f"GRPO log `{name}`: {text}" for name, rows in logs.items() if (text := trend_text(rows))]
        paired = [paired_text(c) for c in comparisons]
        figs = [(p.name, p.read_bytes(), p.stem.replace("_", " ")) for p in sorted(Path(paths["figures"]).glob("*.png"))
                if p.name == "scores.png" or p.name.startswith("rewards_")]
        paths["results_md"] = write_results_table(summaries, results_md, notes=[*trends, *paired, *notes], figures=figs)
    return paths
