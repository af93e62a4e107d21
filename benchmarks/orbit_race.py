"""ORBIT arms of the strategy race: a pass@k prefilter and the three rubric curricula, on the exact phrase task.

``python -m benchmarks.orbit_race [--quick] [--steps N] [--seeds K] [--k 6] [--threshold 0.4]``

The race's setup (:mod:`benchmarks.strategy_race`: the phrase task, the tiny phrase-token Qwen3,
one SFT per seed shared by every arm of that seed, TRL's GRPOTrainer through
:func:`heartgrpo.train.grpo.run_grpo`, held-out score every ``--eval-every`` steps with exact
verdicts) under ``scale_rewards="group"``, with these arms:

* ``healthbench``, ``complexity``: the plain strategies (the baselines);
* ``prefilter``: ``healthbench`` on the training prompts kept by :func:`heartgrpo.data.filter.filter_prompts`
  (k answers per prompt from the seed's SFT policy, exact judge); its wall time includes the sampling;
* ``curriculum:sequential|admission|review``: :class:`heartgrpo.train.curriculum.RubricCurriculum`
  under each named policy as the only reward (exact judge, on the window's items).

Every arm is scored on the same held-out metric: the full rubric, HealthBench formula.
Writes ``runs/bench/orbit_race/results.json`` and the ``orbit_race`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from benchmarks import ROOT, quiet_cpu_training, fmt_ci, md_table, quick_mode, write_section
from benchmarks.strategy_race import HELD_OUT, held_out_callback, race_config, run_sft_for_seed
from heartgrpo.eval.trend import paired_seed_test, steps_to_threshold, t_interval
from heartgrpo.signal.phrase_task import ExactJudge, build_phrase_model, split_scenarios, task_rows

RUN_DIR = ROOT / "runs" / "bench" / "orbit_race"
ARMS = ("healthbench", "complexity", "prefilter", "curriculum:sequential", "curriculum:admission", "curriculum:review")
log = logging.getLogger("benchmarks.orbit_race")


def prefilter(model_path: Path, adapter: Path, train: list[dict], k: int, seed: int, max_new_tokens: int) -> dict:
    """The kept training rows and the filter's counts and seconds for one seed's SFT policy."""
    from heartgrpo.data.filter import filter_prompts
    from heartgrpo.eval.generators import TransformersGenerator

    t0 = time.perf_counter()
    gen = TransformersGenerator(model_path, adapter=adapter, temperature=1.0, max_new_tokens=max_new_tokens, seed=seed)
    result = filter_prompts(train, gen, ExactJudge(), k=k, strategy="healthbench", batch_size=16 * k)
    return {"rows": result.kept_rows, "counts": result.counts, "seconds": time.perf_counter() - t0}


def run_arm(model_path: Path, run_dir: Path, adapter: Path, seed: int, arm: str, steps: int, train: list[dict],
            held: list[dict], every: int, tokenizer: Any, filtered: dict | None) -> dict:
    from heartgrpo.train.curriculum import RubricCurriculum
    from heartgrpo.rewards.curriculum import make_policy
    from heartgrpo.train.grpo import run_grpo

    strategy = "complexity" if arm == "complexity" else "healthbench"
    cfg = race_config(model_path, run_dir / f"{arm.replace(':', '-')}-s{seed}", seed, strategy=strategy, steps=steps)
    rows, funcs, extra_s = train, None, 0.0
    if arm == "prefilter":
        assert filtered is not None
        rows, extra_s = filtered["rows"], filtered["seconds"]
    if arm.startswith("curriculum:"):
        funcs = [RubricCurriculum(ExactJudge(), make_policy(arm.split(":", 1)[1]), num_generations=cfg.grpo.num_generations, seed=seed)]
    cb = held_out_callback(tokenizer, held, every, cfg.grpo.max_completion_length)
    t0 = time.perf_counter()
    cfg.grpo_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.grpo_dir / "train.log", "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
        result = run_grpo(cfg, rows=rows, adapter=adapter, judge=ExactJudge(), callbacks=[cb], reward_funcs=funcs)
    zero = [float(r["frac_reward_zero_std"]) for r in result.log_history if "frac_reward_zero_std" in r]
    out = {"arm": arm, "seed": seed, "curve": cb.curve, "zero_std": zero, "seconds": time.perf_counter() - t0 + extra_s,
           "filter_seconds": extra_s, "n_train": len(rows), "steps": result.steps}
    if funcs:
        out["curriculum"] = funcs[0].summary()
    return out


def summarize(runs: list[dict], threshold: float) -> dict:
    table, tests = {}, []
    for arm in [a for a in ARMS if any(r["arm"] == a for r in runs)]:
        rs = sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
        finals = [r["curve"][-1][1] for r in rs]
        zero = [sum(r["zero_std"]) / len(r["zero_std"]) for r in rs if r["zero_std"]]
        table[arm] = {"seeds": [r["seed"] for r in rs], "final": finals, "final_ci": t_interval(finals),
                      "start_ci": t_interval([r["curve"][0][1] for r in rs]),
                      "reach": [steps_to_threshold([s for s, _ in r["curve"]], [v for _, v in r["curve"]], threshold) for r in rs],
                      "zero_std_ci": t_interval(zero) if zero else None, "seconds": sum(r["seconds"] for r in rs) / len(rs),
                      "filter_seconds": sum(r["filter_seconds"] for r in rs) / len(rs), "n_train": [r["n_train"] for r in rs],
                      "mastered": [r.get("curriculum", {}).get("mastered_share") for r in rs]}
    if "healthbench" in table:
        base = table["healthbench"]
        for arm, t in table.items():
            common = sorted(set(t["seeds"]) & set(base["seeds"]))
            if arm != "healthbench" and common:
                fa = [f for s, f in zip(t["seeds"], t["final"]) if s in common]
                fb = [f for s, f in zip(base["seeds"], base["final"]) if s in common]
                tests.append({"a": arm, "b": "healthbench", **paired_seed_test(fa, fb)})
    return {"table": table, "tests": tests, "threshold": threshold}


def _ci(t: Any) -> str:
    return "n/a" if t is None else fmt_ci(t[0], max(0.0, t[1]), min(1.0, t[2]))


def render(summary: dict, meta: dict) -> str:
    rows = []
    for arm, t in summary["table"].items():
        reached = [r for r in t["reach"] if r is not None]
        reach = f"{sorted(reached)[len(reached) // 2]} ({len(reached)}/{len(t['reach'])})" if reached else f"not reached (0/{len(t['reach'])})"
        mastered = [m for m in t["mastered"] if m is not None]
        rows.append([arm, _ci(t["start_ci"]), _ci(t["final_ci"]), reach, _ci(t["zero_std_ci"]),
                     f"{sum(t['n_train']) / len(t['n_train']):.1f}", f"{sum(mastered) / len(mastered):.3f}" if mastered else "—",
                     f"{t['seconds']:.1f}" + (f" (filter {t['filter_seconds']:.1f})" if t["filter_seconds"] else "")])
    filters = meta.get("filters") or {}
    dropped = ", ".join(f"seed {s}: {sum(v for k, v in f['counts'].items() if k not in ('kept', 'unjudged'))}"
                        + "".join(f" ({v} {k})" for k, v in f["counts"].items() if k not in ("kept", "unjudged") and v)
                        for s, f in filters.items())
    same = [a for a in ("curriculum:review",) if a in summary["table"] and "curriculum:sequential" in summary["table"]
            and summary["table"][a]["final"] == summary["table"]["curriculum:sequential"]["final"]]
    tests = [[f"{x['a']} − {x['b']}", fmt_ci(x["diff"], x["ci_low"], x["ci_high"]), f"{x['wins']}/{x['n']}", f"{x['p_value']:.3f}"]
             for x in summary["tests"]]
    return f"""## ORBIT arms: prefilter and rubric curricula (real GRPO, exact rubric task)

Command: `{meta['command']}` ({meta['seconds']:.0f} s in all on the shared 2-core CPU{meta['note']}).
Code: `benchmarks/orbit_race.py` (the strategy race's task, model, SFT and held-out scoring from
`benchmarks/strategy_race.py`); `heartgrpo/data/filter.py`, `heartgrpo/train/curriculum.py`.
Raw results: `runs/bench/orbit_race/results.json`.

Setup: the strategy race's phrase task ({meta['n_train']} training, {meta['n_held']} held-out prompts), {meta['steps']} GRPO
steps per run (the strategy race runs 100), `scale_rewards="group"`, seeds {meta['seeds']}, held-out score every
{meta['every']} steps on the FULL rubric (HealthBench formula, exact verdicts) for every arm. `prefilter`: k = {meta['k']}
answers per training prompt from the seed's SFT policy, judged exactly, `healthbench`; prompts dropped as mastered
(mean > 0.9), hopeless (mean < 0.05) or zero-variance; its seconds include that sampling. `curriculum:*`: the
curriculum reward alone (window items only), default policies (sequential window 5, admission window 6 gate 0.75,
review window 5 half review), alpha 0.1. Cells: mean over seeds with a 95% t-interval; steps to {summary['threshold']}:
median over the seeds that reached it (checked every {meta['every']} steps); zero-std: TRL's `frac_reward_zero_std`
over all steps; mastered: share of rubric items mastered at the end (curricula).

{md_table(["arm", "held-out at step 0", f"held-out at step {meta['steps']}", f"steps to {summary['threshold']}", "zero-std (all steps)",
           "training prompts", "items mastered", "s per run"], rows)}

Paired against `healthbench` on the final held-out score (same seeds; sign-flip permutation p, smallest possible
p with 5 seeds 0.062):

{md_table(["a − b", "difference [95% CI]", "a > b", "p"], tests)}

Prompts the prefilter dropped (of {meta['n_train']}): {dropped or 'not run'}. Where it dropped none, the
`prefilter` run is the `healthbench` run of that seed (same rows, same seed), plus the sampling time.
{"`curriculum:review` equals `curriculum:sequential` on every seed: no item was mastered, so review had no slot to fill." if same else ""}
Seconds are wall time on a 2-core machine shared with other jobs whose load changed during the run (a load
average near 15 for the first seeds, lower later): compare them within a seed, not across seeds.

{"No arm's final score differs from `healthbench` beyond the noise between seeds: every paired 95% interval above contains 0." if summary["tests"] and all(x["ci_low"] <= 0 <= x["ci_high"] for x in summary["tests"]) else ""}

What this supports: how each arm moves a tiny policy's full-rubric score on an exact task within
{meta['steps']} steps, its zero-std share, and its cost on this CPU. What it does not: anything about an LLM judge, a
real model or HealthBench; with {meta['n_train']} training prompts and 2 prompts a step a prompt is visited
{2 * meta['steps'] / meta['n_train']:.2f} times on average (most never, none often), so a per-prompt curriculum (mastery needs an EMA above 0.9, about 22
successful visits at alpha 0.1) barely leaves its first window here: the curriculum arms measure "reward on the first
items only", not a full curriculum.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.orbit_race", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps per run (default 50; quick 4)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 5; quick 2)")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=None)
    parser.add_argument("--k", type=int, default=6, help="answers per prompt for the prefilter")
    parser.add_argument("--eval-every", type=int, default=None, help="held-out evaluation every N steps (default 10)")
    parser.add_argument("--sft-steps", type=int, default=None, help="SFT steps per seed (default 80)")
    parser.add_argument("--threshold", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget-s", type=float, default=None, help="start no further seed after this many seconds")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--render-only", action="store_true", help="rewrite the doc section from the saved results.json")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    quiet_cpu_training(args.threads)
    t0 = time.perf_counter()
    if args.render_only:
        data = json.loads(((RUN_DIR.with_name("orbit_race-quick") if quick else RUN_DIR) / "results.json").read_text())
        section = render(summarize(data["runs"], data["summary"]["threshold"]), data["meta"])
        print(f"wrote section orbit_race of {write_section('orbit_race', section)}")
        return 0
    steps = args.steps or (4 if quick else 50)
    seeds = list(range(args.seeds or (2 if quick else 5)))
    arms = args.arms or list(ARMS)
    every = args.eval_every or (2 if quick else 10)
    sft_steps = args.sft_steps or (4 if quick else 80)
    run_dir = RUN_DIR.with_name("orbit_race-quick") if quick else RUN_DIR
    model_path = build_phrase_model(run_dir / "phrase-qwen3")
    from heartgrpo.model.backend import load_tokenizer

    tokenizer = load_tokenizer(str(model_path))
    train_prompts, held_prompts = split_scenarios(HELD_OUT, seed=0)
    train, held = task_rows(train_prompts), task_rows(held_prompts)
    if quick:
        held = held[:8]
    runs, done, filters = [], [], {}
    for seed in seeds:
        if args.budget_s is not None and runs and time.perf_counter() - t0 > args.budget_s:
            break
        adapter = run_sft_for_seed(model_path, run_dir, seed, train_prompts, sft_steps)
        filtered = prefilter(model_path, adapter, train, args.k, seed, 20) if "prefilter" in arms else None
        if filtered:
            filters[seed] = {"counts": filtered["counts"], "seconds": filtered["seconds"]}
        for arm in arms:
            r = run_arm(model_path, run_dir, adapter, seed, arm, steps, train, held, every, tokenizer, filtered)
            runs.append(r)
            print(f"{arm:22s} seed {seed}: held-out {r['curve'][0][1]:.3f} -> {r['curve'][-1][1]:.3f}, "
                  f"zero-std {sum(r['zero_std']) / max(1, len(r['zero_std'])):.2f}, {r['seconds']:.1f} s", flush=True)
        done.append(seed)
    summary = summarize(runs, args.threshold)
    cmd = "python -m benchmarks.orbit_race" + (" --quick" if quick else "") + "".join(
        f" --{k} {v}" for k, v in (("steps", args.steps), ("seeds", args.seeds), ("budget-s", args.budget_s)) if v)
    left = [s for s in seeds if s not in done]
    meta = {"command": cmd, "seconds": time.perf_counter() - t0, "n_train": len(train), "n_held": len(held), "steps": steps,
            "seeds": done, "every": every, "k": args.k, "filters": filters,
            "note": ("; quick run: smoke-test sizes, numbers mean nothing" if quick else "")
            + (f"; seeds {left} left out by the time budget" if left else "")}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps({"meta": meta, "runs": runs, "summary": summary}, indent=1, default=str))
    if not args.no_docs:
        print(f"wrote section orbit_race of {write_section('orbit_race', render(summary, meta))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
