"""The strategy race's statistics and report: bands over seeds, paired tests, the figure, the section.

Kept apart from :mod:`benchmarks.strategy_race` (which trains) so that ``--render-only`` and the
tests read results without the training code. ``runs`` are the per-run dicts of the race's
``results.json``: ``{"scale", "strategy", "seed", "curve": [(step, held-out score), ...],
"zero_std": [share per step], "seconds", ...}``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from benchmarks import fmt_ci, md_table
from heartgrpo.eval.trend import paired_seed_test, steps_to_threshold, t_interval

STRATEGIES = ("binary", "healthbench", "rar_explicit", "hybrid", "complexity", "criterion_variance")
SCALES = ("group", "batch")
#: answers sampled per held-out prompt at each evaluation
HELD_OUT_SAMPLES = 2

# --------------------------------------------------------------------------------------------
# statistics over runs
# --------------------------------------------------------------------------------------------


def by_key(runs: Sequence[dict], scale: str, strategy: str) -> list[dict]:
    return sorted((r for r in runs if r["scale"] == scale and r["strategy"] == strategy), key=lambda r: r["seed"])


def curve_band(runs: Sequence[dict]) -> tuple[list[int], list[tuple[float, float, float]]]:
    """Eval steps and the mean held-out score with its 95% t-band over seeds at each step."""
    steps = sorted({s for r in runs for s, _ in r["curve"]})
    out = []
    for step in steps:
        vals = [v for r in runs for s, v in r["curve"] if s == step]
        out.append(t_interval(vals))
    return steps, out


def summarize(runs: Sequence[dict], threshold: float) -> dict:
    """Per (scale, strategy): final held-out score, steps to threshold, zero-std shares, time;
    paired tests against binary and complexity against healthbench."""
    table: dict[str, dict[str, dict]] = {}
    tests: dict[str, list[dict]] = {}
    for scale in sorted({r["scale"] for r in runs}, key=SCALES.index):
        table[scale] = {}
        for strategy in [s for s in STRATEGIES if by_key(runs, scale, s)]:
            rs = by_key(runs, scale, strategy)
            finals = [r["curve"][-1][1] for r in rs]
            reach = [steps_to_threshold([s for s, _ in r["curve"]], [v for _, v in r["curve"]], threshold) for r in rs]
            zero = [sum(r["zero_std"]) / len(r["zero_std"]) for r in rs if r["zero_std"]]
            early = [sum(r["zero_std"][: max(1, len(r["zero_std"]) // 5)]) / max(1, len(r["zero_std"]) // 5) for r in rs if r["zero_std"]]
            table[scale][strategy] = {
                "seeds": [r["seed"] for r in rs], "final": finals, "final_ci": t_interval(finals),
                "start_ci": t_interval([r["curve"][0][1] for r in rs]),
                "reach": reach, "zero_std": zero, "zero_std_ci": t_interval(zero) if zero else None,
                "zero_std_early_ci": t_interval(early) if early else None,
                "seconds": sum(r["seconds"] for r in rs) / len(rs),
            }
        pairs = [(s, "binary") for s in STRATEGIES if s != "binary"] + [("complexity", "healthbench")]
        tests[scale] = []
        for a, b in pairs:
            if a not in table[scale] or b not in table[scale]:
                continue
            ta, tb = table[scale][a], table[scale][b]
            common = sorted(set(ta["seeds"]) & set(tb["seeds"]))
            fa = [f for s, f in zip(ta["seeds"], ta["final"]) if s in common]
            fb = [f for s, f in zip(tb["seeds"], tb["final"]) if s in common]
            if common:
                tests[scale].append({"a": a, "b": b, **paired_seed_test(fa, fb)})
    return {"table": table, "tests": tests, "threshold": threshold}


def simulated_zero_std(rubric_rows: Sequence[dict], qualities: Sequence[float], group_size: int, n_groups: int = 200,
                       seeds: Sequence[int] = range(3)) -> dict[float, dict[str, float]]:
    """Zero-std share per strategy predicted by the reward-signal study's outcome model
    (:mod:`heartgrpo.signal.study`) on the race's own rubrics, groups of ``group_size``."""
    from heartgrpo.rubrics import parse_rubric
    from heartgrpo.signal.study import OutcomeModel, draw_groups, signal_measures

    rubrics = [parse_rubric(r["rubrics"], row_id=r["id"]) for r in rubric_rows]
    out: dict[float, dict[str, float]] = {}
    for q in qualities:
        per_seed = [signal_measures(draw_groups(rubrics, OutcomeModel().with_mean_quality(q), n_groups, seed=s, group_size=group_size),
                                    strategies=list(STRATEGIES)) for s in seeds]
        out[q] = {name: sum(m[name]["frac_zero_std"] for m in per_seed) / len(per_seed) for name in STRATEGIES}
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def plot(runs: Sequence[dict], scales: Sequence[str], path: Path, threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(scales), figsize=(5.2 * len(scales), 3.4), squeeze=False, sharey=True)
    for ax, scale in zip(axes[0], scales):
        for strategy in STRATEGIES:
            rs = by_key(runs, scale, strategy)
            if not rs:
                continue
            steps, band = curve_band(rs)
            line = ax.plot(steps, [b[0] for b in band], label=strategy, lw=1.4)[0]
            ax.fill_between(steps, [max(0, b[1]) for b in band], [min(1, b[2]) for b in band], alpha=0.15, color=line.get_color())
        ax.axhline(threshold, color="k", lw=0.6, ls="--")
        ax.set_title(f'scale_rewards="{scale}" ({len({r["seed"] for r in runs})} seeds, 95% t-band)', fontsize=8)
        ax.set_xlabel("GRPO step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("held-out score (exact verdicts)", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ci(t: tuple[float, float, float] | None) -> str:
    """``mean [low, high]`` with the interval clipped to [0, 1] (every race measure is a share or a score)."""
    return "n/a" if t is None else fmt_ci(t[0], max(0.0, t[1]), min(1.0, t[2]))


def render(summary: dict, sim: dict, meta: dict) -> str:
    rows, test_rows = [], []
    for scale, per in summary["table"].items():
        for strategy, t in per.items():
            reached = [x for x in t["reach"] if x is not None]
            reach = (f"{sorted(reached)[len(reached) // 2]} ({len(reached)}/{len(t['reach'])} seeds)" if reached
                     else f"not reached (0/{len(t['reach'])})")
            rows.append([scale, strategy, _ci(t["start_ci"]), _ci(t["final_ci"]), reach, _ci(t["zero_std_early_ci"]),
                         _ci(t["zero_std_ci"]), f"{t['seconds']:.1f}"])
        for x in summary["tests"].get(scale, []):
            test_rows.append([scale, f"{x['a']} − {x['b']}", fmt_ci(x["diff"], x["ci_low"], x["ci_high"]),
                              f"{x['wins']}/{x['n']}", f"{x['p_value']:.3f}"])
    qualities = sorted(sim)
    sim_rows = []
    group = summary["table"].get("group", {})
    for strategy in STRATEGIES:
        if strategy not in group:
            continue
        t = group[strategy]
        sim_rows.append([strategy, _ci(t["zero_std_early_ci"]), _ci(t["zero_std_ci"]), *(f"{sim[q][strategy]:.3f}" for q in qualities)])
    n_seeds = meta["n_seeds"]
    min_p = 2 / 2 ** n_seeds
    above = [f"{x['a']} ({scale})" for scale, xs in summary["tests"].items() for x in xs if x["b"] == "binary" and x["ci_low"] > 0]
    ch = [f"{scale}: {fmt_ci(x['diff'], x['ci_low'], x['ci_high'])}" for scale, xs in summary["tests"].items()
          for x in xs if (x["a"], x["b"]) == ("complexity", "healthbench")]
    flat = [f"{t['zero_std_ci'][0]:.2f} ({scale})" for scale, per in summary["table"].items()
            for name, t in per.items() if name == "binary" and t["zero_std_ci"]]
    findings = (f"In this run binary's groups had a zero-std share of {', '.join(flat) or 'n/a'}, so it trained on "
                f"(almost) no signal; final held-out scores above binary with a t-interval above 0: "
                f"{', '.join(above) or 'none'}; complexity − healthbench: {'; '.join(ch) or 'n/a'}. With {n_seeds} seeds no "
                f"sign-flip p can fall below {min_p:.3f}, so none of these differences is significant at 0.05 by that test.")
    return f"""## Strategy race (real GRPO, exact rubric task)

Command: `{meta['command']}` ({meta['seconds']:.0f} s{' of GRPO training summed over the runs of ' + str(meta['processes']) + ' processes' if meta.get('processes', 1) > 1 else ''} on {os.cpu_count()} CPU cores{meta['note']}).
Code: `benchmarks/strategy_race.py`; task and exact checkers in `heartgrpo/signal/phrase_task.py`;
statistics in `heartgrpo/eval/trend.py`. Raw results: `runs/bench/strategy_race/results.json`.

Task: cardiac-emergency prompts (a symptom and up to three facts about the patient, e.g.
`chest_pain aspirin_allergy alone_at_home`; {meta['n_train']} training and {meta['n_held']} held-out prompts), each
with {meta['rubric_sizes']} criteria in RaR's categories and weights (essential 5, important 3-4,
optional 1-2, pitfalls -1/-2): call emergency services; mention aspirin only with its
contraindication; no aspirin for an allergic patient or one on a blood thinner; numbered steps
when asked; at most N phrases; no phrase repeated; end with reassurance; pitfalls such as
advising to wait and see or to drive to hospital; plus the scenario's own advice (CPR, the AED,
lying down, ...). Every verdict comes from a program (`heartgrpo.signal.phrase_task.check`): the
reward has no judge error. Policy: a tiny random Qwen3 (hidden 64, 2 layers, LoRA r=16) whose
{meta['vocab']} tokens are the task's words and phrases, after {meta['sft_steps']} SFT steps on random
answers (format only; one SFT per seed, shared by all strategies of that seed).

GRPO (TRL `GRPOTrainer` through `heartgrpo.train.grpo.run_grpo`): {meta['steps']} steps per run,
{meta['grpo']['num_generations']} generations per prompt, {meta['grpo']['per_device_train_batch_size'] // meta['grpo']['num_generations']} prompts per step, lr {meta['grpo']['learning_rate']:g} (constant), temperature 1.0,
beta 0, loss `dapo`, completions of at most {meta['grpo']['max_completion_length']} phrases; every strategy with the same seeds
{meta['seeds']} (same SFT start and data order per seed), under `scale_rewards="group"` and
`"batch"`. Held-out score every {meta['every']} steps: {HELD_OUT_SAMPLES} answers per held-out prompt sampled at temperature 1
(the policy GRPO trains; fixed sampling seed, so every run and step is scored on the same draws of
randomness), HealthBench formula (mean clipped to [0, 1]) with exact verdicts. Cells: mean over seeds with a 95%
t-interval. Steps to threshold: median over the seeds that reached a held-out score of
{summary['threshold']} (checked every {meta['every']} steps). Zero-std share: TRL's `frac_reward_zero_std` (share of
groups whose rewards are all equal), averaged over the first 20% of steps and over the whole run.

{md_table(["scale_rewards", "strategy", "held-out at step 0", f"held-out at step {meta['steps']}", f"steps to {summary['threshold']}", "zero-std (first 20%)", "zero-std (all steps)", "s per run"], rows)}

![held-out score per step](figures/strategy_race.png)

Paired tests on the final held-out score (same seeds; difference = a − b with its 95%
t-interval, seeds where a > b, exact two-sided sign-flip permutation p over all 2^{n_seeds} sign
patterns, so the smallest possible p is {min_p:.3f}):

{md_table(["scale_rewards", "a − b", "difference [95% CI]", "a > b", "p"], test_rows)}

### Measured zero-std shares next to the reward-signal study's model

The reward-signal study (section above) predicts the share of zero-std groups from a
generative model of judge outcomes. Here the same model (`heartgrpo.signal.study.OutcomeModel`,
its default difficulty and judge-flip parameters, groups of {meta['grpo']['num_generations']}) is drawn on the race's
own rubrics at three mean policy qualities m, next to the shares measured in the race under
group scaling:

{md_table(["strategy", "race: first 20% of steps", "race: all steps", *[f"model, m={q}" for q in qualities]], sim_rows)}

### What the race supports and what it does not

It measures, in real TRL GRPO with exact rewards, whether a strategy's learning signal turns
into faster or better learning for a small policy on a synthetic rubric task, with seeds as
the unit of replication and paired tests across strategies. It does not measure the paper's
setting: a 14B model on HealthBench graded by an LLM judge, with judge error, long free-text
answers and 1,000 steps. A difference here (or its absence) says how the strategies behave
when the rubric is exact and the policy tiny; it is evidence about the mechanism (how many
groups carry a signal, how fast the held-out score rises), not about the paper's headline
numbers. {findings}
"""
