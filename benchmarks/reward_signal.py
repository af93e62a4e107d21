"""Reward-signal study: how much GRPO learning signal each reward strategy keeps.

``python -m benchmarks.reward_signal [--quick] [--verdict-log PATH ...]``

(a) Verdict matrices drawn from the generative model of :mod:`heartgrpo.signal.study` over the
bundled RaR-Medicine sample rubrics, for a sweep of policy quality (the mean of the Beta that
prompt-level quality is drawn from), several seeds, groups of 6 completions as in the paper.
(b) Verdicts logged during real GRPO runs of the CPU demo (JSONL, see
:func:`heartgrpo.signal.study.load_verdict_log`), by default those written by
``benchmarks/learning_curve.py``.

Writes the ``reward_signal`` section of docs/benchmarks.md and four figures under
docs/figures/.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks import ROOT, figures_dir, fmt_ci, md_table, quick_mode, write_section
from heartgrpo.rewards import VERDICT_STRATEGIES, complexity_factor
from heartgrpo.signal.data import load_rar_rubrics, load_verdict_log
from heartgrpo.signal.study import (
    GROUP_SIZE,
    OutcomeModel,
    draw_groups,
    factor_effect,
    mean_ci,
    signal_measures,
    synthetic_rubrics,
)

SAMPLE_GLOB = "heartgrpo/data/sample/rar_medicine/*.jsonl"
LOG_GLOB = "runs/bench/learning_curve/verdicts/*.jsonl"
MEASURES = {
    "frac_zero_std": "fraction of groups with zero reward std",
    "mean_advantage_std": "mean within-group advantage std, scale_rewards=group",
    "mean_advantage_std_batch": "mean within-group advantage std, scale_rewards=batch (8 prompts/step)",
    "mean_norm_reward_std": "mean within-group reward std / reward range",
    "tau_healthbench": "Kendall tau-b with the HealthBench score (within group)",
    "tau_quality": "Kendall tau-b with the latent completion quality (within group)",
}
BOUNDS = {"frac_zero_std": (0.0, 1.0), "tau_healthbench": (-1.0, 1.0), "tau_quality": (-1.0, 1.0)}
FACTOR_SETTINGS = [  # (label, scale, prompts per step)
    ("group, 1 prompt/step (paper)", "group", 1),
    ("group, 8 prompts/step", "group", 8),
    ("batch, 1 prompt/step (paper)", "batch", 1),
    ("batch, 8 prompts/step", "batch", 8),
    ("none, 1 prompt/step", "none", 1),
    ("none, 8 prompts/step", "none", 8),
]


def ci(values: Sequence[float], measure: str) -> tuple[float, float, float]:
    """Mean over seeds with its 95% t-interval, clipped to the measure's range."""
    lo_b, hi_b = BOUNDS.get(measure, (0.0, math.inf))
    m, lo, hi = mean_ci(values)
    return m, max(lo, lo_b), min(hi, hi_b)


def load_rubrics() -> tuple[list, str]:
    paths = sorted(ROOT.glob(SAMPLE_GLOB))
    if paths:
        rubrics = load_rar_rubrics(paths)
        return rubrics, f"{len(rubrics)} rubrics of the bundled sample (`{SAMPLE_GLOB}`)"
    rubrics = synthetic_rubrics(40, np.random.default_rng(0))
    return rubrics, "40 synthetic RaR-style rubrics (the bundled sample was not found)"


def sweep(rubrics: list, qualities: Sequence[float], seeds: Sequence[int], n_groups: int) -> dict:
    """results[quality][strategy][measure] -> list over seeds."""
    out: dict = {}
    for q in qualities:
        model = OutcomeModel().with_mean_quality(q)
        per_seed = [signal_measures(draw_groups(rubrics, model, n_groups, seed=1000 * s + int(100 * q)))
                    for s in seeds]
        out[q] = {name: {m: [r[name][m] for r in per_seed] for m in MEASURES} for name in VERDICT_STRATEGIES}
    return out


def factor_rows(rubrics: list, seeds: Sequence[int], n_groups: int) -> list[list[str]]:
    rows = []
    for label, scale, pps in FACTOR_SETTINGS:
        effects = [factor_effect(draw_groups(rubrics, OutcomeModel(), n_groups, seed=s), scale, pps) for s in seeds]
        rel = [e["relative"] for e in effects]
        rows.append([label, f"{statistics.median(rel):.2e}", f"{max(rel):.2e}",
                     f"{max(e['max_abs'] for e in effects):.2e}",
                     "cancels (up to eps)" if max(rel) < 1e-3 else "does not cancel"])
    return rows


def plot_measure(results: dict, measures: Sequence[str], path: Path, ylabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qualities = sorted(results)
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.2), squeeze=False)
    for ax, measure in zip(axes[0], measures):
        for name in VERDICT_STRATEGIES:
            stats = [ci(results[q][name][measure], measure) for q in qualities]
            mean = [s[0] for s in stats]
            ax.plot(qualities, mean, marker="o", ms=3, label=name)
            ax.fill_between(qualities, [s[1] for s in stats], [s[2] for s in stats], alpha=0.15)
        ax.set_title(MEASURES[measure], fontsize=8)
        ax.set_xlabel("mean policy quality (Beta mean)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_factor(rows: list[list[str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.8))
    values = [max(float(r[1]), 1e-8) for r in rows]
    ax.barh([r[0] for r in rows], values, color=["tab:green" if v < 1e-3 else "tab:red" for v in values])
    ax.set_xscale("log")
    ax.set_xlabel("relative change of advantages by the factor (median over seeds)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def logged_section(paths: list[Path]) -> str:
    if not paths:
        return (
            "No verdict log of a real GRPO run was found (looked for "
            f"`{LOG_GLOB}` with the `manifest.json` that a finished `python -m benchmarks.learning_curve` "
            "run writes, and any "
            "`--verdict-log PATH`). The loader reads JSONL rows "
            '`{"prompt_id", "points", "verdicts": [[true, false, null, ...] per completion]}` or one '
            'row per completion with `"step"`.'
        )
    groups = [g for p in paths for g in load_verdict_log(p)]
    manifest = paths[0].parent / "manifest.json"
    source = "real GRPO runs of the CPU demo with the offline approximate judge"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        source = (f"real GRPO runs ({m['model']}, {m['judge']} judge, {m['num_generations']} generations per "
                  f"prompt, {m['steps']} steps x seeds {m['seeds']} per strategy)")
    report = signal_measures(groups)
    keys = ["frac_zero_std", "mean_advantage_std", "mean_advantage_std_batch", "mean_norm_reward_std", "tau_healthbench"]
    rows = [[name, *("n/a" if math.isnan(r[k]) else r[k] for k in keys)] for name, r in report.items()]
    names = ", ".join(sorted({f"`{p.parent.relative_to(ROOT) if p.is_relative_to(ROOT) else p.parent}/`" for p in paths}))
    return (
        f"{len(groups)} groups ({sum(len(g.met) for g in groups)} completions) logged by {source}, "
        f"from {names}. All six strategies are re-scored on the same logged verdicts (whichever "
        "strategy trained the run). The latent quality is unknown here, so only the HealthBench rank "
        "agreement is reported.\n\n"
        + md_table(["strategy", "zero-std groups", "adv. std (group)", "adv. std (batch)",
                    "reward std / range", "tau-b vs HealthBench"], rows)
    )


RACE_RESULTS = "runs/bench/strategy_race/results.json"


def race_section(simulated: dict, path: Path | None = None) -> str:
    """Zero-std shares measured in the strategy race (real GRPO, exact rewards) next to this
    study's simulated ones at m = 0.5 (``simulated[strategy]``: list over seeds)."""
    path = path or ROOT / RACE_RESULTS
    if not path.is_file():
        return (f"No strategy-race results found (`{RACE_RESULTS}`; written by "
                "`python -m benchmarks --only strategy_race`).")
    data = json.loads(path.read_text())
    if "summary" not in data:
        return (f"`{RACE_RESULTS}` holds the runs of a strategy race that has not finished (no summary yet); "
                "rerun this study once it has.")
    table = data["summary"]["table"]
    sim_race = {float(k): v for k, v in data.get("simulated", {}).items()}
    rows = []
    for name in VERDICT_STRATEGIES:
        row = [name, fmt_ci(*ci(simulated[name], "frac_zero_std"))]
        row += [f"{sim_race[0.5][name]:.3f}" if 0.5 in sim_race else "n/a"]
        for scale in ("group", "batch"):
            t = table.get(scale, {}).get(name)
            row += ["n/a", "n/a"] if t is None else [fmt_ci(m, max(0.0, lo), min(1.0, hi))
                                                    for m, lo, hi in (t["zero_std_early_ci"], t["zero_std_ci"])]
        rows.append(row)
    meta = data["meta"]
    return (
        f"Measured in `{meta['command']}` ({meta['steps']} GRPO steps per run, seeds {meta['seeds']}, groups of "
        f"{meta['grpo']['num_generations']}): TRL's `frac_reward_zero_std` over the first 20% of steps and over the "
        "whole run, mean over seeds with a 95% t-interval, next to this study's model at m = 0.5 on the bundled "
        "rubrics (groups of 6) and on the race's own rubrics. See the strategy-race section for the setup.\n\n"
        + md_table(["strategy", "model, bundled rubrics", "model, race rubrics", "race group: first 20%",
                    "race group: all steps", "race batch: first 20%", "race batch: all steps"], rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reward_signal", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--verdict-log", type=Path, nargs="+", default=None, help="JSONL verdict logs (default: the learning-curve runs)")
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    t0 = time.perf_counter()

    rubrics, rubric_note = load_rubrics()
    qualities = [0.2, 0.5, 0.8] if quick else [0.1, 0.3, 0.5, 0.7, 0.9]
    seeds = list(range(2 if quick else 5))
    n_groups = 30 if quick else 200
    results = sweep(rubrics, qualities, seeds, n_groups)
    factors = factor_rows(rubrics, seeds, n_groups)

    figs = figures_dir()
    plot_measure(results, ["frac_zero_std"], figs / "reward_signal_zero_std.png", "fraction of groups")
    plot_measure(results, ["mean_advantage_std", "mean_advantage_std_batch"],
                 figs / "reward_signal_advantage_std.png", "mean std of advantages")
    plot_measure(results, ["tau_healthbench", "tau_quality"], figs / "reward_signal_kendall_tau.png", "mean tau-b")
    plot_factor(factors, figs / "reward_signal_complexity_factor.png")

    mid = 0.5
    main_rows = [[name] + [fmt_ci(*ci(results[mid][name][m], m)) for m in MEASURES] for name in VERDICT_STRATEGIES]
    zero_rows = [[name] + [fmt_ci(*ci(results[q][name]["frac_zero_std"], "frac_zero_std")) for q in qualities]
                 for name in VERDICT_STRATEGIES]
    sizes = sorted(len(r) for r in rubrics)
    n_cs = sorted({sizes[0], sizes[len(sizes) // 2], sizes[-1]})
    factor_sizes = [[n, f"{complexity_factor(n):.4f}", f"{complexity_factor(n) / complexity_factor(n_cs[0]):.4f}"]
                    for n in n_cs]
    # default logs count only once their run finished (learning_curve writes the manifest last)
    default_done = (ROOT / LOG_GLOB).parent.joinpath("manifest.json").is_file()
    log_paths = args.verdict_log if args.verdict_log else (sorted(ROOT.glob(LOG_GLOB)) if default_done else [])
    key = "; ".join(f"`{m}`: {d}" for m, d in MEASURES.items())
    model = OutcomeModel()
    cmd = "python -m benchmarks --only reward_signal" + (" --quick" if quick else "")
    body = f"""## Reward-signal study

Command: `{cmd}` ({time.perf_counter() - t0:.0f} s{'; quick run, small sizes' if quick else ''}).
Code: `benchmarks/reward_signal.py`, model and measures in `heartgrpo/signal/study.py`.

### (a) Verdicts drawn from a generative model of judge outcomes

Rubrics: {rubric_note}. Per group ({GROUP_SIZE} completions, as in the paper): prompt quality
mu ~ Beta(m k, (1 - m) k) with k = 8 and mean m swept over {qualities}; completion quality
q_i = clip(mu + {model.spread} z_i, 0, 1); per criterion a difficulty d_j ~ N(mean by category
{dict(model.difficulty_mean)}, {model.difficulty_sd}); P(met) = sigmoid({model.slope} (q_i - d_j)) for
positive criteria and P(triggered) = sigmoid({model.slope} (d_j - q_i)) for pitfalls; each verdict
flipped with probability {model.judge_flip} (judge error). {n_groups} groups per seed,
{len(seeds)} seeds; cells are the mean over seeds with a 95% t-interval.

Measures at mean policy quality m = {mid} ({key}):

{md_table(["strategy", *MEASURES], main_rows)}

Fraction of groups with zero reward std (no learning signal) across policy quality:

{md_table(["strategy", *[f"m={q}" for q in qualities]], zero_rows)}

Under `scale_rewards="group"` every group with any reward spread is scaled to unit std, so the
advantage std is 1 - (zero-std fraction) up to eps: what matters is how many groups are flat.
Under batch scaling the advantage std is the within-group share of the step's reward spread.
Kendall tau-b is computed per group between the strategy's rewards and the HealthBench score
(or the latent quality) and averaged over the groups where it is defined.

![zero-std groups](figures/reward_signal_zero_std.png)
![advantage std](figures/reward_signal_advantage_std.png)
![Kendall tau](figures/reward_signal_kendall_tau.png)

### The complexity factor cancels under group scaling

`complexity` = min(25, 20 max(0, s - 0.5 rho)^1.2 c(n_c)) with c(n_c) = 1 + 0.2 ln(1 + n_c)/ln 26.
The table compares GRPO advantages A of `complexity` with the advantages A' of the same reward
divided by c(n_c) (`heartgrpo.signal.study.factor_effect`, which uses
`heartgrpo.rewards.diagnostics.advantages` and `factor_cancellation`), groups cut into steps of 1
or 8 prompts, over {len(seeds)} seeds of {n_groups} groups. Relative change = sum |A - A'| /
sum |A'|; "cancels" means below 1e-3 (TRL adds eps = 1e-4 to the std, so groups with a tiny
std keep a trace of the factor: that is the max-abs column under group scaling).

{md_table(["scale_rewards, prompts per step", "relative change (median)", "relative change (max)", "max abs diff", "verdict"], factors)}

With the paper's setup (one prompt per step, TRL's default `scale_rewards="group"`) the factor
has no effect on training; only the exponent 1.2 and the clip differ from a plain
s - 0.5 rho. Without scaling it multiplies a prompt's advantages by c(n_c); with batch
scaling over several prompts it re-weights prompts by rubric size. Factor over the rubric
sizes here (smallest, median, largest):

{md_table(["n_c", "c(n_c)", "relative to smallest"], factor_sizes)}

![complexity factor](figures/reward_signal_complexity_factor.png)

### (b) Verdicts logged during real GRPO runs

{logged_section(log_paths)}

### (c) Zero-std shares measured in the strategy race

{race_section({name: results[mid][name]["frac_zero_std"] for name in VERDICT_STRATEGIES})}
"""
    path = write_section("reward_signal", body)
    print(f"wrote section reward_signal of {path} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
