"""Local verifier against the GPT-4.1 grader on the held-out eval split: ``python -m benchmarks.verifier``.

Trains the verifier on ``graded_dev.jsonl.gz`` of ``../shared/data/healthbench`` (unless
``--reuse`` finds one in the run directory), measures it, the lexical judge and DistilledJudge on
``graded_eval.jsonl.gz`` (:func:`heartgrpo.judge.verifier.train.evaluate_verifier`), and writes the
``verifier`` section of ``docs/benchmarks.md`` with its figures. It also trains the quick verifier
(``heartgrpo verifier train --quick``: a seeded sample of 600 dev answers, about a minute) and
gives its eval figures in a row of its own. ``--quick`` trains only that one. Without the shared
data it writes nothing and says why.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from benchmarks import ROOT, figures_dir, md_table, quick_mode, write_section

DATA = ROOT / ".." / "shared" / "data" / "healthbench"


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep a verifier already in --run-dir")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "bench-verifier")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    dev, ev = args.data / "graded_dev.jsonl.gz", args.data / "graded_eval.jsonl.gz"
    if not dev.is_file() or not ev.is_file():
        print(f"verifier benchmark skipped: {args.data} has no graded_dev/graded_eval files", file=sys.stderr)
        return 0

    from heartgrpo.judge.verifier.model import Verifier
    from heartgrpo.judge.verifier.train import QUICK_ANSWERS, _row, distilled_table, eval_table, evaluate_verifier, train_verifier

    model = args.run_dir / "verifier.npz"
    t0, c0 = time.perf_counter(), _cpu_seconds()
    bench_json = args.run_dir / "bench.json"
    if not (args.reuse and model.is_file() and bench_json.is_file()):
        train_verifier([dev], args.run_dir, answers=QUICK_ANSWERS if quick else None)
        train_s, train_cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        q0, qc0 = time.perf_counter(), _cpu_seconds()
        if not quick:
            train_verifier([dev], args.run_dir / "quick", answers=QUICK_ANSWERS, progress=False)
        quick_s, quick_cpu = time.perf_counter() - q0, _cpu_seconds() - qc0
        bench_json.write_text(json.dumps({"train_seconds": train_s, "train_cpu_seconds": train_cpu,
                                          "quick_train_seconds": quick_s, "quick_train_cpu_seconds": quick_cpu}, indent=2))
    timing = json.loads(bench_json.read_text())
    info = Verifier.load(model).info
    result = evaluate_verifier(model, ev, args.run_dir, plots=True)
    quick_model = args.run_dir / "quick" / "verifier.npz"
    quick_result = (evaluate_verifier(quick_model, ev, args.run_dir / "quick", lexical_thresholds=(), plots=False)
                    if not quick and quick_model.is_file() else None)
    figs = figures_dir()
    for name in ("calibration.png", "distillation.png"):
        shutil.copy(args.run_dir / name, figs / f"verifier_{name}")

    v = result["verifier"]
    headers, rows = eval_table(result)
    if quick_result is not None:
        rows.insert(len(result["lexical"]) + 1, _row(f"verifier, quick training ({QUICK_ANSWERS} answers)", quick_result["verifier"]))
    if quick:
        rows = [[f"verifier (quick training, {QUICK_ANSWERS} answers)", *r[1:]] if r[0] == "verifier" else r for r in rows]
    d_headers, d_rows = distilled_table(result)
    d_rows = [r for r in d_rows if r[0] in ("0.6", "0.7", "0.8", "0.9", "0.95")]
    cal = v["calibration"]
    body = "\n\n".join([
        "## Local verifier vs the GPT-4.1 grader",
        f"Command: `python -m benchmarks.verifier{' --quick' if quick else ''}` (code: `benchmarks/verifier.py`; the same figures as "
        "`heartgrpo verifier train && heartgrpo verifier eval`). Trained on the dev split "
        f"(`graded_dev.jsonl.gz`: {info['trained_on']['verdicts']} verdicts of {info['trained_on']['answers']} answers), "
        f"measured on the held-out eval split (`graded_eval.jsonl.gz`: {v['all']['n']} verdicts of "
        f"{v['answers']['n_answers']} answers, conversations never seen in training, never tuned on). "
        "The verifier is APPROXIMATE: a logistic model over hashed features crossing the criterion's words with the "
        "answer's (`heartgrpo/judge/verifier/features.py`, feature set "
        f"{info.get('features', 1)}: `heartgrpo/judge/verifier/crosses.py`; a negated criterion, \"Fails to X\", is "
        f"learnt as \"X\" turned around), C = {info.get('c')}, a verdict is met from p(met) >= {info.get('threshold', 0.5)}; "
        "features, C and cut were chosen on a conversation-grouped 4-fold split of dev, never on eval. "
        "Score figures are the HealthBench per-answer score under the judge's verdicts against the grader's.",
        md_table(headers, rows),
        "\\* " + result["distilled_note"],
        f"Training: {timing['train_seconds']:.0f} s wall, {timing['train_cpu_seconds']:.0f} s CPU in this process, on "
        f"{os.cpu_count()} CPU cores shared with other jobs (features {info['seconds']['features']} s, fit "
        f"{info['seconds']['fit']} s wall); the quick training (`heartgrpo verifier train --quick`, what a first "
        f"use can afford) {timing.get('quick_train_seconds', 0):.0f} s wall. Grading one GRPO step "
        f"(6 answers x one real rubric): {result['latency_ms_per_grpo_step']:.1f} ms (median of 5). "
        f"Calibration: ECE {cal['ece']:.3f} over 10 bins (figure `figures/verifier_calibration.png`).",
        "### DistilledJudge: LLM requests saved against agreement",
        result["distilled_note"] + " Figure: `figures/verifier_distillation.png`.",
        md_table(d_headers, d_rows),
    ])
    write_section("verifier", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
