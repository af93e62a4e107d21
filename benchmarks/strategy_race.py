"""Strategy race: the six reward strategies in real GRPO on an exact rubric task.

``python -m benchmarks.strategy_race [--quick] [--steps N] [--seeds K] [--scales group batch]``

The task is :mod:`heartgrpo.signal.phrase_task` (cardiac emergency advice written as whole phrases,
10-15 RaR-style criteria per prompt, every criterion decided by a program, so the reward has no
judge error). The policy is a tiny random Qwen3 whose tokens are the task's phrases, warmed up
by a short SFT on random answers (the format, none of the rules; one SFT per seed, shared by
every strategy of that seed), then trained by TRL's GRPOTrainer through
:func:`heartgrpo.train.grpo.run_grpo` with each strategy, the same budget and the same seeds,
under ``scale_rewards="group"`` and ``"batch"``. Every ``--eval-every`` steps a callback scores
answers sampled (temperature 1, fixed seed) for held-out prompts (HealthBench formula, exact
verdicts).

Writes ``runs/bench/strategy_race/results.json``, the ``strategy_race`` section of
docs/benchmarks.md and ``docs/figures/strategy_race.png``. ``--quick``: 2 strategies, 2 seeds,
a few steps: a smoke test whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import ROOT, quiet_cpu_training, figures_dir, quick_mode, write_section
from benchmarks.strategy_race_report import (  # noqa: F401  (re-exported: the race's statistics and report)
    HELD_OUT_SAMPLES,
    SCALES,
    STRATEGIES,
    by_key,
    curve_band,
    plot,
    render,
    simulated_zero_std,
    summarize,
)
from heartgrpo.signal.phrase_task import ExactJudge, build_phrase_model, check, random_answer, split_scenarios, task_rows

RUN_DIR = ROOT / "runs" / "bench" / "strategy_race"
QUICK_RUN_DIR = ROOT / "runs" / "bench" / "strategy_race-quick"
HELD_OUT = 40
#: GRPO settings of the race (the rest from configs/cpu-demo.yaml)
GRPO = {"learning_rate": 3e-3, "num_generations": 6, "per_device_train_batch_size": 12, "max_completion_length": 20,
        "warmup_ratio": 0.0, "lr_scheduler_type": "constant", "temperature": 1.0, "min_p": None, "beta": 0.0}
SFT = {"learning_rate": 5e-3, "per_device_train_batch_size": 16, "max_steps": 80}
log = logging.getLogger("benchmarks.strategy_race")


def race_config(model_path: Path, out: Path, seed: int, *, strategy: str = "healthbench", scale: str = "group",
                steps: int = 100, grpo: dict | None = None, sft: dict | None = None):
    """``configs/cpu-demo.yaml`` with the race's model, SFT and GRPO settings for one run."""
    from heartgrpo.config.run import load_config

    g, s = {**GRPO, **(grpo or {})}, {**SFT, **(sft or {})}
    overrides: dict[str, Any] = {
        "name": f"race-{strategy}-{scale}-s{seed}", "seed": seed, "output_dir": str(out),
        "model.name_or_path": str(model_path), "model.max_seq_length": 128,
        "lora.target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"],
        "sft.enabled": True, "sft.max_length": 128, "sft.save_steps": 100_000, "sft.logging_steps": 10,
        "grpo.max_steps": steps, "grpo.save_steps": 100_000, "grpo.logging_steps": 1, "grpo.scale_rewards": scale,
        "reward.strategies": [{"name": strategy}], "logging.csv": False,
        "grpo.prompt_ids": None, "grpo.max_prompts": None,  # every training prompt, not the demo's selection
        "sft.trl_extra": {"disable_tqdm": True, "loss_type": "nll"},  # TRL: chunked_nll refuses a LoRA lm_head
        "grpo.trl_extra": {"disable_tqdm": True},
    }
    overrides.update({f"grpo.{k}": v for k, v in g.items()})
    overrides.update({f"sft.{k}": v for k, v in s.items()})
    return load_config(ROOT / "configs" / "cpu-demo.yaml", overrides=overrides)


def sft_rows(prompts: Sequence[list[dict]], n: int, seed: int) -> list[dict]:
    """``n`` SFT pairs: a training prompt and a random answer (format only)."""
    rng = random.Random(seed)
    return [{"prompt": p, "completion": [{"role": "assistant", "content": random_answer(rng)}]}
            for p in (rng.choice(list(prompts)) for _ in range(n))]


#: held-out answers per prompt, sampled at temperature 1 (the policy GRPO trains), with this seed
HELD_OUT_SEED = 1234


def held_out_scores(model: Any, tokenizer: Any, rows: Sequence[dict], max_new_tokens: int,
                    samples: int = HELD_OUT_SAMPLES, seed: int = HELD_OUT_SEED) -> list[float]:
    """Per row, the mean HealthBench-formula score (exact verdicts) of ``samples`` answers drawn
    at temperature 1 with a fixed seed; the training RNG state is left untouched."""
    import torch

    from heartgrpo.eval.metrics import example_score

    texts = [tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in rows]
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    was_training = model.training
    model.eval()
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                             num_return_sequences=samples, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
    if was_training:
        model.train()
    answers = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    scores = []
    for i, r in enumerate(rows):
        points = [c["points"] for c in r["rubrics"]]
        per = [example_score(points, check(r["prompt"], a, r["rubrics"])) for a in answers[i * samples:(i + 1) * samples]]
        scores.append(sum(per) / len(per))
    return scores


def held_out_callback(tokenizer: Any, rows: Sequence[dict], every: int, max_new_tokens: int) -> Any:
    """A TrainerCallback recording the mean held-out score (clipped to [0, 1]) at step 0 and
    every ``every`` steps in ``.curve`` as (step, score) pairs."""
    from transformers import TrainerCallback

    class HeldOut(TrainerCallback):
        curve: list[tuple[int, float]] = []

        def _eval(self, step: int, model: Any) -> None:
            s = held_out_scores(model, tokenizer, rows, max_new_tokens)
            self.curve.append((step, min(1.0, max(0.0, sum(s) / len(s)))))

        def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
            self.curve = []
            self._eval(state.global_step, model)

        def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
            if state.global_step % every == 0 or state.global_step == state.max_steps:
                self._eval(state.global_step, model)

    return HeldOut()


def run_sft_for_seed(model_path: Path, run_dir: Path, seed: int, train_prompts: Sequence[list[dict]], steps: int) -> Path:
    from heartgrpo.train.sft import run_sft

    cfg = race_config(model_path, run_dir / f"sft-s{seed}", seed, sft={"max_steps": steps})
    n = steps * cfg.sft.per_device_train_batch_size
    cfg.sft_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.sft_dir / "train.log", "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
        return run_sft(cfg, sft_rows(train_prompts, n, seed)).adapter_dir


def run_one(model_path: Path, run_dir: Path, adapter: Path, seed: int, strategy: str, scale: str, steps: int,
            train: list[dict], held: list[dict], every: int, tokenizer: Any) -> dict:
    """One GRPO run; returns its held-out curve, zero-std shares per step and wall time."""
    from heartgrpo.train.grpo import run_grpo

    cfg = race_config(model_path, run_dir / f"{scale}-{strategy}-s{seed}", seed, strategy=strategy, scale=scale, steps=steps)
    cb = held_out_callback(tokenizer, held, every, cfg.grpo.max_completion_length)
    t0 = time.perf_counter()
    cfg.grpo_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.grpo_dir / "train.log", "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
        result = run_grpo(cfg, rows=train, adapter=adapter, judge=ExactJudge(), callbacks=[cb])
    seconds = time.perf_counter() - t0
    zero = [float(r["frac_reward_zero_std"]) for r in result.log_history if "frac_reward_zero_std" in r]
    reward_key = f"rewards/rubric_{strategy}/mean"
    train_reward = [float(r[reward_key]) for r in result.log_history if reward_key in r]
    return {"strategy": strategy, "scale": scale, "seed": seed, "curve": cb.curve, "zero_std": zero,
            "train_reward": train_reward, "seconds": seconds, "steps": result.steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.strategy_race", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps per run (default 100; quick 4)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per strategy and scale (default 5; quick 2)")
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=None)
    parser.add_argument("--scales", nargs="+", choices=SCALES, default=None)
    parser.add_argument("--eval-every", type=int, default=None, help="held-out evaluation every N steps (default 10)")
    parser.add_argument("--sft-steps", type=int, default=None, help="SFT steps per seed (default 40)")
    parser.add_argument("--threshold", type=float, default=0.6, help="held-out score for steps-to-threshold")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md (results.json only)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no further seed once this many seconds have passed (the doc says what was left out)")
    parser.add_argument("--render-only", action="store_true",
                        help="write the doc section from the saved results.json (complete seeds only) without training")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--note", default="", help="a sentence added after the command in the doc (e.g. why a run was reduced)")
    parser.add_argument("--run-dir", type=Path, default=None, help=f"where runs and results.json go (default {RUN_DIR.relative_to(ROOT)})")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="with --render-only: also read the results.json of these run directories (e.g. one per scale)")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    quiet_cpu_training(args.threads)
    t0 = time.perf_counter()
    steps = args.steps or (4 if quick else 100)
    seeds = list(range(args.first_seed, args.first_seed + (args.seeds or (2 if quick else 5))))
    strategies = args.strategies or (["binary", "healthbench"] if quick else list(STRATEGIES))
    scales = args.scales or (["group"] if quick else list(SCALES))
    every = args.eval_every or (2 if quick else 10)
    sft_steps = args.sft_steps or (4 if quick else SFT["max_steps"])
    run_dir = args.run_dir or (QUICK_RUN_DIR if quick else RUN_DIR)

    model_path = build_phrase_model(run_dir / "phrase-qwen3")
    from heartgrpo.model.backend import load_tokenizer

    tokenizer = load_tokenizer(str(model_path))
    train_prompts, held_prompts = split_scenarios(HELD_OUT, seed=0)
    train, held = task_rows(train_prompts), task_rows(held_prompts)
    if quick:
        held = held[:8]
    runs: list[dict] = []
    saved = run_dir / "results.json"
    skipped: list[int] = []
    if args.render_only:
        data = json.loads(saved.read_text())
        runs, t0 = data["runs"], time.perf_counter() - data["meta"]["seconds"]
        for other in args.merge or []:
            more = json.loads((other / "results.json").read_text())
            runs += more["runs"]
            t0 -= more["meta"]["seconds"]
        runs = list({(r["scale"], r["strategy"], r["seed"]): r for r in runs}.values())  # a rerun replaces its run
        t0 = time.perf_counter() - sum(r["seconds"] for r in runs)  # merged: GRPO seconds summed over the runs
        per_seed = {s: {(r["scale"], r["strategy"]) for r in runs if r["seed"] == s} for s in {r["seed"] for r in runs}}
        full = max(len(v) for v in per_seed.values())
        seeds = sorted(s for s, v in per_seed.items() if len(v) == full)
        skipped = sorted(s for s, v in per_seed.items() if len(v) < full)
        runs = [r for r in runs if r["seed"] in seeds]
        steps, every = data["meta"]["steps"], data["meta"]["every"]
        scales = [s for s in SCALES if any(r["scale"] == s for r in runs)]
        args.steps, args.seeds, args.scales, args.strategies = steps, len(seeds), None, None
        if len(scales) < len(SCALES):
            args.scales = scales
        strategies_run = sorted({r["strategy"] for r in runs}, key=STRATEGIES.index)
        if len(strategies_run) < len(STRATEGIES):
            args.strategies = strategies_run
        args.eval_every, args.sft_steps = every, data["meta"]["sft_steps"]
        sft_steps = data["meta"]["sft_steps"]
    for seed in [] if args.render_only else seeds:
        if args.budget_s is not None and runs and time.perf_counter() - t0 > args.budget_s:
            skipped.append(seed)
            continue
        adapter = run_sft_for_seed(model_path, run_dir, seed, train_prompts, sft_steps)
        for scale in scales:
            for strategy in strategies:
                r = run_one(model_path, run_dir, adapter, seed, strategy, scale, steps, train, held, every, tokenizer)
                runs.append(r)
                print(f"{scale:5s} {strategy:18s} seed {seed}: held-out {r['curve'][0][1]:.3f} -> {r['curve'][-1][1]:.3f}, "
                      f"zero-std {sum(r['zero_std']) / max(1, len(r['zero_std'])):.2f}, {r['seconds']:.1f} s", flush=True)
                run_dir.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps({"meta": {"seconds": time.perf_counter() - t0, "steps": steps, "every": every,
                                                      "sft_steps": sft_steps}, "runs": runs}, default=str))
    if skipped:
        seeds = [s for s in seeds if s not in skipped]
    summary = summarize(runs, args.threshold)
    sim = simulated_zero_std(train, [0.3, 0.5, 0.7], GRPO["num_generations"], n_groups=60 if quick else 200)
    sizes = sorted(len(r["rubrics"]) for r in train + held)
    cmd = "python -m benchmarks --only strategy_race" + (" --quick" if quick else "")
    extra = [f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
             for k, v in (("steps", args.steps), ("seeds", args.seeds), ("strategies", args.strategies),
                          ("scales", args.scales), ("eval_every", args.eval_every), ("sft_steps", args.sft_steps)) if v]
    if extra:
        cmd = "python -m benchmarks.strategy_race " + " ".join(extra) + (" --quick" if quick else "")
    meta = {"command": cmd, "seconds": time.perf_counter() - t0, "n_train": len(train), "n_held": len(held),
            "rubric_sizes": f"{sizes[0]}-{sizes[-1]}", "vocab": len(tokenizer), "sft_steps": sft_steps, "steps": steps,
            "grpo": GRPO, "seeds": seeds, "every": every, "n_seeds": len(seeds), "processes": 1 + len(args.merge or []),
            "note": "; quick run: smoke-test sizes, numbers mean nothing" if quick else ""}
    if skipped:
        meta["note"] += f"; seeds {skipped} left out: the run stopped before they were complete"
    if args.note:
        meta["note"] += f"; {args.note.rstrip('.')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps({"meta": meta, "runs": runs, "summary": summary,
                                                      "simulated": {str(k): v for k, v in sim.items()}}, indent=1, default=str))
    if args.no_docs:
        print(f"wrote {run_dir / 'results.json'} in {meta['seconds']:.0f} s")
        return 0
    plot(runs, scales, figures_dir() / "strategy_race.png", args.threshold)
    path = write_section("strategy_race", render(summary, sim, meta))
    print(f"wrote section strategy_race of {path} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
