"""Consultations: real multi-turn GRPO on CPU learns to ask before it advises.

``python -m benchmarks.consult [--quick] [--seeds K] [--steps N]`` (``python -m benchmarks --only consult``)

The task is :mod:`heartgrpo.consult.task` (24 case cards: symptom visible; aspirin allergy, blood
thinner and living alone hidden; ask-phrases answered by the scripted patient through the fact
gate; exact checkers). The policy is a tiny random Qwen3 over the task's phrase tokens, warmed up
by a short SFT (:func:`heartgrpo.consult.task.sft_rows`: the first turn asks half of the time;
advice without asking has a random pick of the fact-dependent phrases, advice after the answer fits
the told facts; so how to use an answer is taught, when to ask is not; one SFT per seed, shared by
both arms), then trained by TRL's GRPOTrainer with ``rollout_func`` + ``env_mask``
(:func:`heartgrpo.consult.train.run_consult_grpo`, ``configs/cpu-consult.yaml``):

* **multi-turn**: up to 2 doctor turns (``consult.max_turns = 2``: one question turn, then the advice);
* **single-turn baseline**: ``max_turns = 1``, the first turn is the advice: it cannot ask;
* **multi-turn, cost 0.02**: as multi-turn with ``consult.turn_cost = 0.02`` per question (the
  one-GPU config's cost): asking must pay for itself.

Before and after GRPO, every card is played 4 times (temperature 1, fixed seed) and scored with
the arm's training reward (judge term + level-weighted coverage - the arm's cost per question, exact checkers);
the asking rate is the share of consultations whose first doctor turn is a question
(ask-phrases; in the single-turn arm nobody answers it and it counts as the advice). Rises are after minus
before per seed, with a 95% Student-t interval over seeds. All 24 cards are trained on and
evaluated (a learning check, not a generalisation test).

Writes ``runs/bench/consult/results.json`` and the ``consult`` section of docs/benchmarks.md.
``--quick``: 1 seed, a few steps: a smoke test whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from benchmarks import ROOT, fmt_ci, md_table, quick_mode, write_section

RUN_DIR = ROOT / "runs" / "bench" / "consult"
SAMPLES = 4
EVAL_SEED = 1234
#: (arm, consult.max_turns, consult.turn_cost or None for the config's)
ARMS = (("multi-turn", 2, None), ("single-turn", 1, None), ("multi-turn, cost 0.02", 2, 0.02))
log = logging.getLogger("benchmarks.consult")


#: settings given on the command line (``--set key=value``), applied to every run
EXTRA: dict[str, Any] = {}


def config(model: Path, out: Path, seed: int, max_turns: int, steps: int, sft_steps: int, turn_cost: float | None = None):
    from heartgrpo.config.run import load_config

    return load_config(ROOT / "configs" / "cpu-consult.yaml", overrides={
        "seed": seed, "output_dir": str(out), "model.name_or_path": str(model), "grpo.max_steps": steps,
        "sft.max_steps": sft_steps, "consult.max_turns": max_turns, "logging.jsonl": False,
        **({"consult.turn_cost": turn_cost} if turn_cost is not None else {}), **EXTRA})


def evaluate(model: Any, tokenizer: Any, cfg: Any) -> dict[str, float]:
    """Mean reward, judge term and asking rate over every card played ``SAMPLES`` times."""
    import torch

    from heartgrpo.io.asyncs import run_sync
    from heartgrpo.consult.environment import Episode, run_episodes
    from heartgrpo.consult.rewards import consult_reward_func
    from heartgrpo.consult.task import ExactConsultJudge, scripted_patient, task_cards, task_rows

    c = cfg.consult
    cards = [card for card in task_cards() for _ in range(SAMPLES)]
    rows = task_rows(cards)
    episodes = [Episode(card, scripted_patient(card), c.max_turns) for card in cards]
    with torch.random.fork_rng():
        torch.manual_seed(EVAL_SEED)
        out = run_episodes(model, tokenizer, [r["prompt"] for r in rows], episodes, max_turn_tokens=c.max_turn_tokens,
                           max_completion_length=cfg.grpo.max_completion_length, sampling={"temperature": 1.0, "top_k": 0})
    f = consult_reward_func(ExactConsultJudge(), c.strategy, judge_weight=c.judge_weight, coverage_weight=c.coverage_weight,
                            turn_cost=c.turn_cost, level_weights=c.level_weights)
    rewards = run_sync(lambda: f(prompts=[r["prompt"] for r in rows], completions=[""] * len(rows), consult=out["consult"],
                                 rubrics=[r["rubrics"] for r in rows]))
    n = len(rewards)
    return {"reward": sum(rewards) / n, "asking_rate": sum(asks_first(s) for s in out["consult"]) / n,
            "questions": sum(s["questions"] for s in out["consult"]) / n}


def asks_first(summary: dict) -> bool:
    """The first doctor turn is a question (for the single-turn arm too, where nobody answers it)."""
    from heartgrpo.consult.gate import is_question

    first = next((t["content"] for t in summary["turns"] if t["role"] == "assistant"), "")
    return is_question(first)


def eval_callback(tokenizer: Any, cfg: Any) -> Any:
    from transformers import TrainerCallback

    class BeforeAfter(TrainerCallback):
        before: dict | None = None
        after: dict | None = None

        def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
            self.before = evaluate(model, tokenizer, cfg)

        def on_train_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
            self.after = evaluate(model, tokenizer, cfg)

    return BeforeAfter()


def run_seed(model: Path, run_dir: Path, seed: int, steps: int, sft_steps: int, tokenizer: Any) -> list[dict]:
    from heartgrpo.consult.task import sft_rows, task_cards
    from heartgrpo.consult.train import run_consult_grpo
    from heartgrpo.train.sft import run_sft

    base = config(model, run_dir / f"sft-s{seed}", seed, ARMS[0][1], steps, sft_steps)
    base.sft_dir.mkdir(parents=True, exist_ok=True)
    with open(base.sft_dir / "train.log", "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
        adapter = run_sft(base, sft_rows(task_cards(), sft_steps * base.sft.per_device_train_batch_size, seed)).adapter_dir
    out = []
    for arm, turns, cost in ARMS:
        cfg = config(model, run_dir / f"{arm.replace(', ', '-').replace(' ', '-')}-s{seed}", seed, turns, steps, sft_steps, cost)
        cb = eval_callback(tokenizer, cfg)
        cfg.grpo_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with open(cfg.grpo_dir / "train.log", "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
            result = run_consult_grpo(cfg, adapter=adapter, callbacks=[cb])
        rec = {"arm": arm, "seed": seed, "before": cb.before, "after": cb.after, "seconds": time.perf_counter() - t0,
               "train_reward": [float(h["reward"]) for h in result.log_history if "reward" in h],
               "train_asking": [float(h["consult/asking_rate"]) for h in result.log_history if "consult/asking_rate" in h]}
        print(f"{arm:21s} seed {seed}: reward {cb.before['reward']:.3f} -> {cb.after['reward']:.3f}, asking "
              f"{cb.before['asking_rate']:.2f} -> {cb.after['asking_rate']:.2f}, {rec['seconds']:.0f} s", flush=True)
        out.append(rec)
    return out


def summarize(runs: list[dict]) -> dict[str, dict[str, tuple[float, float, float]]]:
    from heartgrpo.eval.trend import t_interval

    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for arm, *_ in ARMS:
        rs = [r for r in runs if r["arm"] == arm]
        if not rs:
            continue
        out[arm] = {}
        for key in ("reward", "asking_rate"):
            out[arm][f"{key}_before"] = t_interval([r["before"][key] for r in rs])
            out[arm][f"{key}_after"] = t_interval([r["after"][key] for r in rs])
            out[arm][f"{key}_rise"] = t_interval([r["after"][key] - r["before"][key] for r in rs])
    if "multi-turn" in out and "single-turn" in out:
        by_seed = {(r["arm"], r["seed"]): r for r in runs}
        seeds = sorted({r["seed"] for r in runs})
        out["gap"] = {"reward_after": t_interval([by_seed["multi-turn", s]["after"]["reward"] - by_seed["single-turn", s]["after"]["reward"]
                                                  for s in seeds])}
    return out


def render(summary: dict, meta: dict) -> str:
    rows = []
    for arm, *_ in ARMS:
        s = summary.get(arm)
        if s:
            rows.append([arm, fmt_ci(*s["reward_before"]), fmt_ci(*s["reward_after"]), fmt_ci(*s["reward_rise"]),
                         fmt_ci(*s["asking_rate_before"]), fmt_ci(*s["asking_rate_after"]), fmt_ci(*s["asking_rate_rise"])])
    gap = summary.get("gap", {}).get("reward_after")
    parts = [
        "## Consultations: multi-turn GRPO learns to ask (exact CPU task)",
        f"`{meta['command']}` on {os.cpu_count()} CPU cores shared with other work: {meta['n_seeds']} seeds, "
        f"{meta['steps']} GRPO steps per arm ({meta['group']} per step, lr {meta['lr']}) after {meta['sft_steps']} SFT steps (the first turn asks half of the time; advice after an answer fits the facts, advice "
        "without asking picks the fact-dependent phrases at random: how to use an answer is taught, when to ask is not), "
        f"{meta['seconds']:.0f} s in all{meta['note']}.",
        "Task: `heartgrpo.consult.task` (24 cards; the symptom is shown, the aspirin allergy, blood thinner and "
        "living alone are hidden and told by the scripted patient only when asked). TRL `GRPOTrainer` with "
        "`rollout_func` + `env_mask` (patient tokens masked), `configs/cpu-consult.yaml`. Reward = judge term "
        f"(HealthBench formula, exact checkers) + level-weighted checklist coverage - the arm's cost per question "
        f"({meta['turn_cost']} in the config, 0.02 in the third arm; at most 2.0). "
        f"Before/after: every card played {SAMPLES} times at temperature 1 (fixed seed); mean [95% t-interval over seeds]; "
        "rise = after - before per seed. All cards are trained on: a learning check, not generalisation.",
        md_table(["arm", "reward before", "reward after", "reward rise", "asking before", "asking after", "asking rise"], rows),
    ]
    if gap:
        parts.append(f"Multi-turn minus single-turn reward after training, per seed: {fmt_ci(*gap)}.")
    per_seed = [[r["arm"], r["seed"], f"{r['before']['reward']:.3f} -> {r['after']['reward']:.3f}",
                 f"{r['before']['asking_rate']:.2f} -> {r['after']['asking_rate']:.2f}", f"{r['seconds']:.0f}"]
                for r in sorted(meta.get("runs", []), key=lambda r: (r["arm"], r["seed"]))]
    if per_seed:
        parts += ["Per seed:", md_table(["arm", "seed", "reward", "asking rate", "GRPO seconds"], per_seed)]
    for arm in ("multi-turn", "multi-turn, cost 0.02"):
        for key, what in (("asking_rate_rise", "asking rate"), ("reward_rise", "reward")):
            ci = summary.get(arm, {}).get(key)
            if ci:
                parts.append(f"{arm}: the {what} {verdict(ci)}.")
    parts.append("A tiny phrase-token model on an exact task: these figures show what multi-turn GRPO through the "
                 "rollout, mask and reward does on a toy problem; they say nothing about clinical quality. No LLM patient or GPU run is measured here.")
    return "\n\n".join(parts)


def verdict(ci: tuple[float, float, float]) -> str:
    """Plain words for a rise's (mean, low, high).

    >>> verdict((0.4, 0.2, 0.6)), verdict((0.1, -0.1, 0.3))
    ('rises: its 95% interval is above 0', 'does not rise reliably: its 95% interval includes 0')
    """
    if ci[1] > 0:
        return "rises: its 95% interval is above 0"
    return "does not rise reliably: its 95% interval includes 0" if ci[2] >= 0 else "falls: its 95% interval is below 0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.consult", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 4; quick 1)")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps per arm (default 200; quick 3)")
    parser.add_argument("--sft-steps", type=int, default=None, help="SFT steps per seed (default 80; quick 3)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every run")
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--render-only", action="store_true", help="rewrite the doc section from results.json")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    logging.basicConfig(level=logging.WARNING)
    for name in ("transformers", "datasets", "httpx", "heartgrpo"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    seeds = list(range(args.seeds or (1 if quick else 4)))
    steps = args.steps or (3 if quick else 200)
    sft_steps = args.sft_steps or (3 if quick else 80)
    run_dir = args.run_dir or (RUN_DIR.with_name("consult-quick") if quick else RUN_DIR)
    import yaml

    EXTRA.update({k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)})
    saved = run_dir / "results.json"
    if args.render_only:
        data = json.loads(saved.read_text())
        runs, meta = data["runs"], data["meta"]
    else:
        from heartgrpo.consult.task import build_consult_model
        from heartgrpo.model.backend import load_tokenizer

        model = build_consult_model(run_dir / "consult-qwen3")
        tokenizer = load_tokenizer(str(model))
        runs = []
        for seed in seeds:
            runs += run_seed(model, run_dir, seed, steps, sft_steps, tokenizer)
            run_dir.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps({"meta": {}, "runs": runs}, default=str))
        cmd = "python -m benchmarks --only consult" + (" --quick" if quick else "")
        if args.seeds or args.steps or args.sft_steps or args.set:
            cmd = (f"python -m benchmarks.consult --seeds {len(seeds)} --steps {steps} --sft-steps {sft_steps}"
                   + "".join(f" --set {x}" for x in args.set) + (" --quick" if quick else ""))
        probe = config(model, run_dir, 0, ARMS[0][1], steps, sft_steps)
        meta = {"command": cmd, "seconds": time.perf_counter() - t0, "n_seeds": len(seeds), "steps": steps,
                "turn_cost": probe.consult.turn_cost, "lr": probe.grpo.learning_rate,
                "group": f"{probe.grpo.num_generations} consultations x {probe.grpo.per_device_train_batch_size // probe.grpo.num_generations} cards",
                "sft_steps": sft_steps, "note": "; quick run: smoke-test sizes, numbers mean nothing" if quick else ""}
    summary = summarize(runs)
    run_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"meta": meta, "runs": runs, "summary": summary}, indent=1, default=str))
    if args.no_docs:
        print(f"wrote {saved}")
        return 0
    path = write_section("consult", render(summary, {**meta, "runs": runs}))
    print(f"wrote section consult of {path} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
