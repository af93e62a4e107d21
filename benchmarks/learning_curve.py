"""CPU learning curve: a SMALL CPU PROXY of GRPO per reward strategy, not the paper's result.

``python -m benchmarks.learning_curve [--quick] [--steps N] [--seeds K]``

On the bundled sample (RaR-schema questions under ``heartgrpo/data/sample/rar_medicine/``;
heart questions of the train split for training, of the val and test splits held out), each strategy trains the CPU demo model
(SmolLM2-135M-Instruct, LoRA, ``hf`` backend) for N GRPO steps per seed with the judge of
:func:`benchmarks.judges.bench_judge`: the local verifier (APPROXIMATE, trained on real GPT-4.1
verdicts; named in the section with its eval kappa) where it beats the lexical judge on eval, else
the APPROXIMATE lexical judge (word overlap). The held-out mean
HealthBench-formula reward (per prompt sum(points of met criteria)/sum(positive points), mean
clipped to [0, 1]; same judge, greedy decoding) is measured before and after, with
a paired bootstrap 95% CI over held-out prompts of the seed-averaged change.

Every judge verdict of the training runs is logged (one JSONL row per completion:
``{"step", "prompt_id", "points", "verdicts"}``) under ``runs/bench/learning_curve/verdicts/``,
where ``benchmarks/reward_signal.py`` reads them as real GRPO verdicts (part b of the study).
``--quick`` uses a tiny random Qwen3 instead of the demo model: a smoke test of the pipeline
whose numbers mean nothing (and the verifier only when one is already trained, else the lexical judge).

Writes the ``learning_curve`` section of docs/benchmarks.md and two figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import ROOT, figures_dir, fmt_ci, md_table, quick_mode, write_section
from heartgrpo.io.jsonl import append_row, iter_rows, read_jsonl
from heartgrpo.rewards import VERDICT_STRATEGIES
from heartgrpo.rubrics import parse_rar_rubric
from heartgrpo.judge.guarded import GuardedJudge

SAMPLE_DIR = "heartgrpo/data/sample/rar_medicine"
RUN_DIR = ROOT / "runs" / "bench" / "learning_curve"
QUICK_RUN_DIR = ROOT / "runs" / "bench" / "learning_curve-quick"  # never read by reward_signal
HELD_OUT = 8
LEARNING_RATE = 1e-4
log = logging.getLogger("benchmarks.learning_curve")


def prompt_id(prompt: Any) -> str:
    return hashlib.sha256(json.dumps(prompt, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def sample_rows(paths: list[Path]) -> list[dict]:
    """GRPO rows ``{id, prompt, rubrics}`` from RaR-schema JSONL files: heart questions (the
    project's lexicon classifier) with more than 3 criteria, as in the paper."""
    from heartgrpo.heart.classifier import classify

    rows = []
    for path in paths:
        for lineno, rec in iter_rows(path):
            rid = str(rec.get("id", f"{Path(path).name}:{lineno}"))
            if not classify(str(rec["question"])).heart:
                continue
            crits = parse_rar_rubric(rec["rubric"], row_id=rid)
            if len(crits) <= 3:
                continue
            prompt = [{"role": "user", "content": str(rec["question"])}]
            rows.append({"id": rid, "prompt": prompt, "rubrics": [c.to_dict() for c in crits]})
    if not rows:
        raise FileNotFoundError(f"no heart rows with more than 3 criteria in {[str(p) for p in paths]}")
    return rows


def bundled_split() -> tuple[list[dict], list[dict]]:
    """Train on the sample's train split; hold out its val and test splits."""
    sample = ROOT / SAMPLE_DIR
    return sample_rows([sample / "train.jsonl"]), sample_rows([sample / "val.jsonl", sample / "test.jsonl"])


def split(rows: list[dict], n_held_out: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A seeded random split of ``rows`` (for ``--sample`` files without splits)."""
    order = np.random.default_rng(seed).permutation(len(rows))
    held = [rows[i] for i in order[:n_held_out]]
    train = [rows[i] for i in order[n_held_out:]]
    return train, held


class LoggingJudge(GuardedJudge):
    """:class:`GuardedJudge` that appends every grading (one completion) to a JSONL verdict log."""

    def __init__(self, inner: Any, path: Path) -> None:
        super().__init__(inner)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self.step = 0

    async def grade(self, prompt: Any, response: str, rubrics: Any) -> list:
        verdicts = await super().grade(prompt, response, rubrics)
        row = {
            "step": self.step,
            "prompt_id": prompt_id(prompt),
            "points": [float(c["points"] if isinstance(c, dict) else c.points) for c in rubrics],
            "verdicts": [v.met for v in verdicts],
        }
        append_row(self.path, row, fsync=False)
        return verdicts


def step_marker(judge: LoggingJudge) -> Any:
    """A TrainerCallback telling ``judge`` which optimisation step is being generated."""
    from transformers import TrainerCallback

    class StepMarker(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            judge.step = state.global_step + 1

    return StepMarker()


def build_config(model_path: str, strategy: str, seed: int, steps: int, out: Path, quick: bool):
    """``configs/cpu-demo.yaml`` with this run's model, strategy, seed, steps and output dir."""
    from heartgrpo.config.run import load_config

    return load_config(ROOT / "configs" / "cpu-demo.yaml", overrides={
        "name": f"learning-curve-{strategy}-s{seed}",
        "seed": seed,
        "output_dir": str(out),
        "model.name_or_path": model_path,
        "lora.r": 8,
        "lora.alpha": 16,
        "sft.enabled": False,
        "grpo.learning_rate": LEARNING_RATE,
        "grpo.max_steps": steps,
        "grpo.max_completion_length": 16 if quick else 32,
        "grpo.save_steps": 10_000,
        "grpo.prompt_ids": None, "grpo.max_prompts": None,  # this benchmark's own rows, not the demo's selection
        "reward.strategies": [{"name": strategy}],
        "logging.csv": False,
    })


_CHOICE: list[Any] = []


def judge_choice(quick: bool = False) -> Any:
    """The benchmark's judge (:func:`benchmarks.judges.bench_judge`), chosen once per process; in
    quick mode the verifier only when it is already trained (no first-use training)."""
    if not _CHOICE:
        from benchmarks.judges import VERIFIER_DIR, JudgeChoice, bench_judge
        from heartgrpo.judge import LexicalJudge

        if quick and not (VERIFIER_DIR / "verifier.npz").is_file():
            _CHOICE.append(JudgeChoice(LexicalJudge(threshold=judge_threshold()), "lexical", None, None,
                                       "quick run: no verifier trained yet"))
        else:
            _CHOICE.append(bench_judge(judge_threshold()))
    return _CHOICE[0]


def judge_threshold() -> float:
    """The approximate judge's word-overlap threshold of ``configs/cpu-demo.yaml`` (training and
    evaluation use the same one; at the default 0.5 no 32-token answer of a 135M model meets any
    criterion, so every score would be 0)."""
    from heartgrpo.config.run import load_config

    return load_config(ROOT / "configs" / "cpu-demo.yaml").judge.approximate_threshold


def evaluate(model_path: str, adapter: Path | None, rows: list[dict], max_new_tokens: int) -> list[float]:
    """HealthBench-formula score of one greedy answer per held-out row (approximate judge)."""
    from heartgrpo.eval.generators import TransformersGenerator
    from heartgrpo.eval.metrics import example_score
    gen = TransformersGenerator(model_path, adapter=adapter, temperature=0.0, max_new_tokens=max_new_tokens, device="cpu")
    answers = gen.generate([r["prompt"] for r in rows])
    judge = judge_choice().judge

    async def grade_all() -> list:
        return await asyncio.gather(*(judge.grade(r["prompt"], a, r["rubrics"]) for r, a in zip(rows, answers)))

    scores = []
    for r, verdicts in zip(rows, asyncio.run(grade_all())):
        s = example_score([c["points"] for c in r["rubrics"]], [v.met for v in verdicts])
        scores.append(0.0 if s is None else float(s))
    return scores


def train_one(model_path: str, strategy: str, seed: int, steps: int, train: list[dict], quick: bool) -> tuple[Path, Path, float]:
    from heartgrpo.train.grpo import run_grpo

    run_dir = QUICK_RUN_DIR if quick else RUN_DIR
    out = run_dir / f"{strategy}-s{seed}"
    cfg = build_config(model_path, strategy, seed, steps, out, quick)
    judge = LoggingJudge(judge_choice(quick).judge, run_dir / "verdicts" / f"{strategy}-s{seed}.jsonl")
    t0 = time.perf_counter()
    result = run_grpo(cfg, rows=train, judge=judge, callbacks=[step_marker(judge)])
    return result.adapter_dir, judge.path, time.perf_counter() - t0


def train_curve(verdict_log: Path) -> dict[int, float]:
    """Mean HealthBench-formula score of the training completions per step, from a verdict log."""
    from heartgrpo.eval.metrics import example_score

    per_step: dict[int, list[float]] = {}
    for row in read_jsonl(verdict_log):
        s = example_score(row["points"], row["verdicts"])
        if s is not None:
            per_step.setdefault(int(row["step"]), []).append(s)
    return {k: float(np.mean(v)) for k, v in sorted(per_step.items())}


def plot(results: dict, curves: dict, before: list[float], path_delta: Path, path_curve: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(6, 2.8))
    diffs = [results[n]["diff"] for n in names]
    err = [[d - results[n]["ci_low"] for n, d in zip(names, diffs)], [results[n]["ci_high"] - d for n, d in zip(names, diffs)]]
    ax.bar(names, diffs, yerr=err, capsize=3, color="tab:blue")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("held-out score change (after - before)", fontsize=8)
    ax.set_title(f"small CPU proxy; before = {np.mean(before):.3f} (approximate judge)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path_delta, dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 2.8))
    for name in names:
        steps = sorted({k for c in curves[name] for k in c})
        ys = [np.mean([c[k] for c in curves[name] if k in c]) for k in steps]
        ax.plot(steps, ys, marker="o", ms=3, label=name)
    ax.set_xlabel("GRPO step", fontsize=8)
    ax.set_ylabel("mean HealthBench-formula score\nof training completions", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path_curve, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning_curve", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps per run (default 3; quick 2)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per strategy (default 2; quick 1)")
    parser.add_argument("--strategies", nargs="+", choices=list(VERDICT_STRATEGIES), default=None)
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="start no further seed once this many seconds would be exceeded (default 480)")
    parser.add_argument("--sample", type=Path, nargs="+", default=None, help="RaR-schema JSONL files (default: bundled)")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()

    steps = args.steps or (2 if quick else 3)
    seeds = list(range(args.seeds or (1 if quick else 2)))
    strategies = args.strategies or (["binary", "healthbench"] if quick else list(VERDICT_STRATEGIES))
    max_new = 16 if quick else 32
    if quick:
        from heartgrpo.model.tiny import build_tiny_qwen3

        model_path, model_name = str(build_tiny_qwen3(QUICK_RUN_DIR / "tiny-qwen3")), "tiny random Qwen3 (smoke test)"
    else:
        from heartgrpo.model.demo import ensure_demo_model

        model_path, model_name = str(ensure_demo_model()), "SmolLM2-135M-Instruct (CPU demo model)"

    train, held = split(sample_rows(args.sample), HELD_OUT) if args.sample else bundled_split()
    if quick:
        held = held[:4]
    verdict_dir = (QUICK_RUN_DIR if quick else RUN_DIR) / "verdicts"
    for old in verdict_dir.glob("*"):
        old.unlink()
    from benchmarks.judges import judge_text

    choice = judge_choice(quick)
    before = evaluate(model_path, None, held, max_new)
    train_seconds: list[float] = []
    from heartgrpo.eval.metrics import aggregate, paired_bootstrap

    afters: dict[str, list[list[float]]] = {name: [] for name in strategies}
    curves = {name: [] for name in strategies}
    run_seconds: list[float] = []
    skipped: list[str] = []
    for seed in seeds:  # seeds outer: every strategy gets seed 0 before any gets seed 1
        for name in strategies:
            elapsed = time.perf_counter() - t0
            if seed > 0 and run_seconds and elapsed + max(run_seconds) > args.budget_s:
                skipped.append(f"{name} seed {seed}")
                continue
            t_run = time.perf_counter()
            adapter, vlog, secs = train_one(model_path, name, seed, steps, train, quick)
            train_seconds.append(secs)
            afters[name].append(evaluate(model_path, adapter, held, max_new))
            curves[name].append(train_curve(vlog))
            run_seconds.append(time.perf_counter() - t_run)
            print(f"{name} seed {seed}: {secs:.0f} s, held-out after {np.mean(afters[name][-1]):.3f}", flush=True)
    verdict_dir.mkdir(parents=True, exist_ok=True)
    (verdict_dir / "manifest.json").write_text(json.dumps({
        "model": model_name, "judge": getattr(choice.judge, "name", "LexicalJudge (approximate)"), "steps": steps, "seeds": seeds,
        "strategies": strategies, "num_generations": 4, "config": "configs/cpu-demo.yaml",
    }, indent=1))
    results: dict[str, dict] = {}
    for name in strategies:
        after_mean = [float(np.mean(col)) for col in zip(*afters[name])]
        pb = paired_bootstrap(after_mean, before, n_bootstrap=2000, seed=0)
        results[name] = {"after": aggregate(after_mean, n_bootstrap=2000, seed=0), **pb,
                         "per_seed": [aggregate(a, n_bootstrap=0)["score"] for a in afters[name]]}

    figs = figures_dir()
    plot(results, curves, before, figs / "learning_curve_delta.png", figs / "learning_curve_train.png")
    b = aggregate(before, n_bootstrap=2000, seed=0)
    rows = [[name, fmt_ci(b["score"], b["ci_low"], b["ci_high"]),
             fmt_ci(r["after"]["score"], r["after"]["ci_low"], r["after"]["ci_high"]),
             ", ".join(f"{x:.3f}" for x in r["per_seed"]),
             fmt_ci(r["diff"], r["ci_low"], r["ci_high"]), f"{r['p_value']:.2f}"]
            for name, r in results.items()]
    data_note = "files " + ", ".join(f"`{p}`" for p in args.sample) if args.sample else (
        f"heart questions of the bundled sample's train split; held out: its val and test splits, `{SAMPLE_DIR}`")
    cfg0 = build_config(model_path, strategies[0], 0, steps, RUN_DIR, quick)
    budget_note = (f" Left out to stay within the {args.budget_s:.0f} s budget: {', '.join(skipped)}." if skipped else "")
    cmd = "python -m benchmarks --only learning_curve" + (" --quick" if quick else "")
    body = f"""## CPU learning curve (small CPU proxy)

**This is a small CPU proxy, not the paper's result**: {model_name}, {steps} GRPO
steps per run, {judge_text(choice)} used both as the reward
and as the evaluator. It shows that the pipeline trains end to end per strategy and how large
the run-to-run noise is; it says nothing about the paper's 14B results.

Command: `{cmd}` ({time.perf_counter() - t0:.0f} s{'; quick run: tiny random model, numbers mean nothing' if quick else ''}).
Code: `benchmarks/learning_curve.py` over `heartgrpo.train.grpo.run_grpo`.

Setup: `configs/cpu-demo.yaml` with {model_name}, `hf` backend, LoRA r=8, lr {LEARNING_RATE:g} (higher than the paper's
5e-6, so that a few steps can move anything), {cfg0.grpo.num_generations} generations per prompt, one prompt per
step, completions of at most {cfg0.grpo.max_completion_length} tokens, seeds {seeds};
{len(train)} training prompts ({data_note}) and {len(held)} held-out prompts.
Held-out score: one greedy answer of at most {max_new} tokens per prompt, HealthBench formula
(mean clipped to [0, 1]) with the same judge. Before = the untrained model (the same for
every strategy). After = mean over seeds per prompt; the change has a paired bootstrap 95% CI
over held-out prompts (2,000 resamples) and a bootstrap p-value. Mean training time per run:
{np.mean(train_seconds):.0f} s.{budget_note}

{md_table(["strategy", "held-out before", "held-out after", "after, per seed", "change [95% CI]", "p"], rows)}

![held-out change](figures/learning_curve_delta.png)
![training completions per step](figures/learning_curve_train.png)

The verdicts of these runs feed part (b) of the reward-signal study.
"""
    path = write_section("learning_curve", body)
    print(f"wrote section learning_curve of {path} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
