"""``heartgrpo verifier train`` / ``eval``: train the verifier on dev, measure it on the held-out eval split.

Run directory (default ``runs/verifier``)::

    verifier.npz        the model (not committed: a run artefact)
    train.json          what it was trained on, settings, seconds
    eval.json, eval.md  agreement with the grader on eval: the verifier, the lexical judge, and
                        DistilledJudge over thresholds; calibration; per polarity; per answer
    calibration.png, distillation.png

:func:`ensure_verifier` is what a run uses: the verifier file when it exists, else train + eval
into that directory (the demo's first use), else a reason why not (no graded data).

    >>> ensure_verifier("runs/cpu-demo/verifier", "../shared/data/healthbench")   # doctest: +SKIP
    (PosixPath('runs/cpu-demo/verifier/verifier.npz'), None)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from heartgrpo.judge.agreement import full_agreement
from heartgrpo.judge.verifier.distilled import confident, distillation_curve
from heartgrpo.judge.verifier.model import DEFAULT_C, DEFAULT_THRESHOLD, Verifier
from heartgrpo.judge.verifier.examples import Example, by_answer, load_graded, load_sources

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_DATA", "QUICK_ANSWERS", "THRESHOLDS", "ensure_verifier", "evaluate_verifier", "subsample_answers",
           "train_verifier"]

DEFAULT_DATA = Path("../shared/data/healthbench")
MODEL_FILE = "verifier.npz"
#: DistilledJudge confidence thresholds reported
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
#: thresholds with a row in the headline table
DISTILLED_ROWS = (0.7, 0.8, 0.9)
#: answers of the quick training (``verifier train --quick``): about a minute on 2 CPU cores
QUICK_ANSWERS = 600


def subsample_answers(examples: Sequence[Example], n: int | None, seed: int = 0) -> list[Example]:
    """The examples of ``n`` answers drawn at random (seeded; all of them when ``n`` is None or
    not smaller than the number of answers), every verdict of a drawn answer kept.

    >>> exs = [Example([], f"r{i}", "c", 1.0, i % 2 == 0, "g", f"a{i // 3}") for i in range(9)]
    >>> len(subsample_answers(exs, 2)), len(subsample_answers(exs, None))
    (6, 9)
    """
    groups = by_answer(examples)
    if n is None or n >= len(groups):
        return list(examples)
    keep = sorted(i for g in random.Random(seed).sample(groups, n) for i in g)
    return [examples[i] for i in keep]


def train_verifier(sources: Sequence[str | Path], out_dir: str | Path, *, conversations: str | Path | None = None,
                   c: float = DEFAULT_C, hash_bits: int = 20, progress: bool = True, answers: int | None = None,
                   features: int = 2, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Train on ``sources`` (graded files and/or recorded verdict logs), save into ``out_dir``;
    ``answers`` trains on a seeded sample of that many answers (:data:`QUICK_ANSWERS` trains
    in about a minute here) instead of all of them."""
    out = Path(out_dir)
    t0 = time.perf_counter()
    examples = subsample_answers(load_sources(sources, conversations), answers)
    t_load = time.perf_counter() - t0
    model = Verifier.fit(examples, c=c, hash_bits=hash_bits, progress=progress, features=features, threshold=threshold)
    model.info["sources"] = [str(s) for s in sources]
    if answers is not None:
        model.info["sampled_answers"] = answers
    model.info["seconds"]["load"] = round(t_load, 1)
    model.info["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    path = model.save(out / MODEL_FILE)
    info = {**model.info, "model": str(path), "model_bytes": path.stat().st_size}
    (out / "train.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _lexical_verdicts(examples: Sequence[Example], threshold: float) -> list[bool]:
    from heartgrpo.judge import LexicalJudge

    judge = LexicalJudge(threshold=threshold)

    async def all_() -> list[bool]:
        out = []
        for ex in examples:
            (v,) = await judge.grade(ex.conversation, ex.response, [{"criterion": ex.criterion, "points": ex.points}])
            out.append(bool(v.met))
        return out

    return asyncio.run(all_())


def _per_answer(examples: Sequence[Example], pred: Sequence[bool], probs: Sequence[float] | None = None):
    groups = by_answer(examples)
    answers = [([examples[i].points for i in g], [pred[i] for i in g], [examples[i].met for i in g]) for g in groups]
    return answers, (None if probs is None else [[probs[i] for i in g] for g in groups])


def evaluate_verifier(model_path: str | Path, graded: str | Path, out_dir: str | Path, *,
                      conversations: str | Path | None = None, lexical_thresholds: Sequence[float] = (0.3, 0.5),
                      plots: bool = True) -> dict[str, Any]:
    """Agreement with the grader on ``graded`` (the eval split) of the verifier, the lexical
    judge and DistilledJudge; writes eval.json, eval.md and plots; stores the figures in the
    model file's ``info["eval"]`` so every judge built from it can name them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = Verifier.load(model_path)
    t0 = time.perf_counter()
    examples = load_graded(graded, conversations)
    probs = model.predict_proba(examples)
    seconds = time.perf_counter() - t0
    truth = [ex.met for ex in examples]
    pred = [bool(p >= model.threshold) for p in probs]
    answers, answer_probs = _per_answer(examples, pred, list(probs))
    result: dict[str, Any] = {
        "graded": str(graded),
        "model": str(model_path),
        "verifier": full_agreement(answers, answer_probs),
        "lexical": {},
        "distilled_full": {},
        "distilled": distillation_curve(list(probs), truth, truth, THRESHOLDS, cut=model.threshold),
        "distilled_note": ("DistilledJudge measured with the grader's own eval verdicts standing in for the LLM judge: "
                           "its agreement is what the verifier's confident answers cost against a perfect LLM judge."),
        "seconds_features_and_predict": round(seconds, 1),
        "latency_ms_per_grpo_step": grpo_step_latency(model, examples),
    }
    for t in DISTILLED_ROWS:  # the whole set of figures for a few thresholds (grader as the LLM stand-in)
        combined = [bool(p >= model.threshold) if confident(float(p), t) else m for p, m in zip(probs, truth)]
        result["distilled_full"][f"{t:g}"] = full_agreement(_per_answer(examples, combined)[0])
    for t in lexical_thresholds:
        lex = _lexical_verdicts(examples, t)
        result["lexical"][f"{t:g}"] = full_agreement(_per_answer(examples, lex)[0])
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "eval.md").write_text(eval_markdown(result), encoding="utf-8")
    if plots:
        _plots(result, out)
    model.info["eval"] = {"graded": Path(graded).name, **{k: result["verifier"]["all"][k] for k in ("kappa", "accuracy", "f1_met", "n")}}
    model.save(model_path)
    return result


def grpo_step_latency(model: Verifier, examples: Sequence[Example], answers: int = 6, repeats: int = 5) -> float:
    """Median milliseconds to grade one GRPO step: ``answers`` answers x one real rubric."""
    groups = by_answer(examples)
    if not groups:
        return float("nan")
    rubric = [examples[i] for i in groups[0]]
    step = [ex for g in groups[:answers] for ex in (examples[i] for i in g)][: answers * len(rubric)]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_proba(step)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def _row(name: str, a: dict[str, Any]) -> list[Any]:
    f = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    return [name, f(a["all"]["kappa"]), f(a["all"]["accuracy"]), f(a["all"]["f1_met"]), f(a["positive"]["kappa"]),
            f(a["pitfall"]["kappa"]), f(a["answers"]["pearson"]), f(a["answers"]["spearman"]), f(a["answers"]["mean_score_difference"])]


AGREEMENT_HEADERS = ["judge", "kappa", "accuracy", "F1 met", "kappa positive", "kappa pitfalls",
                     "score Pearson", "score Spearman", "mean score diff"]


def eval_table(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The headline table: lexical judge, verifier, DistilledJudge rows."""
    rows = [_row(f"LexicalJudge (threshold {t})", a) for t, a in result["lexical"].items()]
    rows.append(_row("verifier", result["verifier"]))
    saved = {f"{r['threshold']:g}": r["saved"] for r in result["distilled"]}
    for t, a in result.get("distilled_full", {}).items():
        rows.append(_row(f"DistilledJudge (confidence >= {t}, {saved.get(t, float('nan')):.0%} of requests saved)*", a))
    return AGREEMENT_HEADERS, rows


def _md(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in r) + " |" for r in rows])


def distilled_table(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """DistilledJudge over thresholds: requests saved against agreement with the grader."""
    rows = [[f"{r['threshold']:g}", f"{r['saved']:.1%}", f"{r['kappa']:.3f}", f"{r['accuracy']:.3f}"] for r in result["distilled"]]
    return ["confidence threshold", "LLM requests saved", "kappa", "accuracy"], rows


def eval_markdown(result: dict[str, Any]) -> str:
    """eval.md: the headline table, DistilledJudge, calibration."""
    v = result["verifier"]
    cal = v["calibration"]
    parts = [
        "# Verifier on the held-out eval split",
        f"Graded file: `{Path(result['graded']).name}`, {v['all']['n']} verdicts of {v['answers']['n_answers']} answers "
        f"(grader: GPT-4.1). The verifier is APPROXIMATE.",
        _md(*eval_table(result)),
        "\\* " + result["distilled_note"],
        f"Latency: {result['latency_ms_per_grpo_step']:.1f} ms per GRPO step (6 answers x one rubric), "
        f"median of 5. Features and predictions for the whole file: {result['seconds_features_and_predict']} s.",
        "## DistilledJudge: requests saved against agreement",
        result["distilled_note"],
        _md(*distilled_table(result)),
        f"## Calibration (ECE {cal['ece']:.3f})",
        _md(["p(met) bin", "verdicts", "mean p", "grader's rate of met"],
            [[f"[{b['lo']:.1f}, {b['hi']:.1f})", b["n"], f"{b['mean_prob']:.3f}", f"{b['rate_met']:.3f}"] for b in cal["bins"]]),
    ]
    return "\n\n".join(parts) + "\n"


def _plots(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cal = result["verifier"]["calibration"]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.plot([b["mean_prob"] for b in cal["bins"]], [b["rate_met"] for b in cal["bins"]], "o-")
    ax.set_xlabel("verifier p(met)")
    ax.set_ylabel("grader's rate of met")
    ax.set_title(f"calibration on eval (ECE {cal['ece']:.3f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=110)
    plt.close(fig)
    curve = result["distilled"]
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot([r["saved"] for r in curve], [r["kappa"] for r in curve], "o-")
    for r in curve:
        ax.annotate(f"{r['threshold']:g}", (r["saved"], r["kappa"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("share of LLM requests saved")
    ax.set_ylabel("kappa vs grader")
    ax.set_title("DistilledJudge on eval (grader as LLM stand-in)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "distillation.png", dpi=110)
    plt.close(fig)


def ensure_verifier(run_dir: str | Path, data_dir: str | Path = DEFAULT_DATA, progress: bool = True,
                    answers: int | None = None) -> tuple[Path | None, str | None]:
    """``(path, None)`` of a usable verifier in ``run_dir`` (trained and evaluated here on first
    use from ``data_dir``'s dev and eval splits; ``answers``: on a sample of that many dev
    answers, e.g. :data:`QUICK_ANSWERS`), or ``(None, reason)`` when there is no data."""
    run_dir, data_dir = Path(run_dir), Path(data_dir)
    path = run_dir / MODEL_FILE
    if path.is_file():
        return path, None
    dev, ev = data_dir / "graded_dev.jsonl.gz", data_dir / "graded_eval.jsonl.gz"
    missing = [p for p in (dev, ev) if not p.is_file()]
    if missing:
        return None, f"no graded data to train the verifier on ({', '.join(map(str, missing))} not found)"
    log.warning("training the local verifier on %s (first use; about a minute on CPU) into %s", dev, run_dir)
    # trained and measured in a directory of its own, then moved in with the model file last: a run
    # stopped half-way leaves no verifier without its eval figures, and two processes starting at
    # once (an accelerate launch) each move in a whole one (the same data gives the same model)
    work = run_dir / f".training-{os.getpid()}"
    try:
        train_verifier([dev], work, progress=progress, answers=answers)
        result = evaluate_verifier(work / MODEL_FILE, ev, work, lexical_thresholds=(), plots=False)
        for name in ("train.json", "eval.json"):  # both name the model file: name it where it will be
            record = json.loads((work / name).read_text(encoding="utf-8"))
            (run_dir / name).write_text(json.dumps({**record, "model": str(path)}, indent=2) + "\n", encoding="utf-8")
        os.replace(work / "eval.md", run_dir / "eval.md")
        os.replace(work / MODEL_FILE, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.warning("verifier: eval kappa %.3f vs the grader on %s (%s)", result["verifier"]["all"]["kappa"], ev.name, run_dir / "eval.md")
    return path, None
