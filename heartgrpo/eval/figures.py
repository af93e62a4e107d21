"""Report figures (matplotlib, Agg backend), each returned as PNG bytes.

* :func:`score_figure` — HealthBench score and the paper's accuracy per model, 95% CI bars;
* :func:`tag_figure` — per-tag scores (``theme:``, ``axis:``) per model with CI bars;
* :func:`reward_figure` — GRPO reward curves from per-step logs (``rewards/<name>/mean`` with a
  +-std band, the mean completion length ``completions/mean_length`` beside the ``reward`` with
  their correlation and the length-controlled change, and ``frac_reward_zero_std``), whatever of
  these columns exist, with the first- and last-quarter means of the training ``reward`` drawn as
  dashed segments;
* :func:`agreement_figure` — judge agreement (macro F1) overall and per category.

GRPO logs are read by :func:`load_log` from JSONL, CSV, or a TRL ``trainer_state.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.eval.jsonl import EvalInputError, read_eval_rows
from heartgrpo.eval.length import LENGTH_KEY, length_controlled_trend

__all__ = ["agreement_figure", "load_log", "reward_columns", "reward_figure", "score_figure", "tag_figure"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _err(agg: Mapping[str, Any], key: str = "score") -> tuple[float, float]:
    v, lo, hi = agg.get(key), agg.get("ci_low"), agg.get("ci_high")
    if v is None or lo is None or hi is None:
        return 0.0, 0.0
    return max(0.0, v - lo), max(0.0, hi - v)


def score_figure(summaries: Sequence[Mapping[str, Any]]) -> bytes:
    """Two panels: HealthBench score and paper accuracy, one bar per run, 95% CI whiskers."""
    plt = _plt()
    names = [s["name"] + (" †" if s["healthbench"].get("marked") else "") for s in summaries]
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.6 * len(names) + 3), 3.6))
    for ax, key, label, val in (
        (axes[0], "healthbench", "HealthBench score", "score"),
        (axes[1], "paper", "paper accuracy (pass rate)", "accuracy"),
    ):
        vals = [s[key].get(val) or 0.0 for s in summaries]
        errs = [_err(s[key], val) for s in summaries]
        ax.bar(range(len(names)), vals, yerr=list(zip(*errs)) if errs else None, capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(label)
    fig.suptitle("95% bootstrap CI; † = some criteria unjudged (those prompts excluded)", fontsize=8)
    return _png(fig)


def tag_figure(summaries: Sequence[Mapping[str, Any]], prefix: str) -> bytes | None:
    """Grouped horizontal bars for every tag starting with ``prefix``; None when no run has one."""
    tags = sorted({t for s in summaries for t in s["tags"] if t.startswith(prefix)})
    if not tags:
        return None
    plt = _plt()
    height = 0.8 / max(1, len(summaries))
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.35 * len(tags) * max(1, len(summaries))))
    for k, s in enumerate(summaries):
        ys = [i + k * height for i in range(len(tags))]
        aggs = [s["tags"].get(t, {}) for t in tags]
        vals = [a.get("score") or 0.0 for a in aggs]
        errs = [_err(a) for a in aggs]
        ax.barh(ys, vals, height=height, xerr=list(zip(*errs)), capsize=2, label=s["name"])
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(tags))], [t[len(prefix) :] for t in tags])
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title(f"score per {prefix.rstrip(':')} (95% CI)")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def load_log(path: str | Path) -> list[dict[str, Any]]:
    """Per-step log rows from ``.jsonl``, ``.csv`` or a TRL ``trainer_state.json`` (``log_history``)."""
    path = Path(path)
    if not path.exists():
        raise EvalInputError(f"{path}: GRPO log not found")
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            rows = []
            for row in csv.DictReader(fh):
                parsed = {}
                for k, v in row.items():
                    try:
                        parsed[k] = float(v)
                    except (TypeError, ValueError):
                        parsed[k] = v
                rows.append(parsed)
            return rows
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("log_history"), list):
            raise EvalInputError(f"{path}: expected a trainer_state.json with a 'log_history' list")
        return data["log_history"]
    return [row for _, row in read_eval_rows(path)]


def reward_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Reward names that have a ``rewards/<name>/mean`` column."""
    names = {k.split("/")[1] for r in rows for k in r if k.startswith("rewards/") and k.endswith("/mean")}
    return sorted(names)


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, r in enumerate(rows):
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(float(r.get("step", i)))
            ys.append(float(v))
    return xs, ys


def reward_figure(rows: Sequence[Mapping[str, Any]], title: str = "GRPO") -> bytes | None:
    """Reward mean (+-std band) per reward function, the mean completion length beside the reward
    (a panel of its own, reward on its second axis) and ``frac_reward_zero_std`` over steps."""
    names = reward_columns(rows)
    has_zero = any("frac_reward_zero_std" in r for r in rows)
    has_reward = any("reward" in r for r in rows)
    has_len = bool(_series(rows, LENGTH_KEY)[1])
    if not names and not has_zero and not has_reward:
        return None
    plt = _plt()
    panels = 1 + has_len + has_zero
    fig, axes = plt.subplots(1, panels, figsize=(6 + 5 * (panels - 1), 3.4), squeeze=False)
    fig.subplots_adjust(wspace=0.4)
    ax = axes[0][0]
    for name in names:
        xs, ys = _series(rows, f"rewards/{name}/mean")
        line = ax.plot(xs, ys, label=name)[0]
        sx, sd = _series(rows, f"rewards/{name}/std")
        if sx == xs and sd:
            ax.fill_between(xs, [y - d for y, d in zip(ys, sd)], [y + d for y, d in zip(ys, sd)], alpha=0.2, color=line.get_color())
    if not names and has_reward:
        ax.plot(*_series(rows, "reward"), label="reward")
    xs, ys = _series(rows, "reward")
    subtitle = ""
    if len(ys) >= 4:  # first- and last-quarter means of the training reward, and their change's CI
        from heartgrpo.eval.trend import reward_trend

        q = len(ys) // 4
        for part, label in ((slice(0, q), "first quarter mean"), (slice(len(ys) - q, len(ys)), "last quarter mean")):
            mean = sum(ys[part]) / q
            ax.hlines(mean, xs[part][0], xs[part][-1], colors="k", linestyles="--", lw=1.2)
            ax.annotate(f"{label} {mean:.3f}", (xs[part][0], mean), fontsize=6, textcoords="offset points", xytext=(0, 4))
        t = reward_trend(rows)
        if t is not None:
            subtitle = f"\nlast - first quarter {t['diff']:+.3f} [95% CI {t['ci_low']:+.3f}, {t['ci_high']:+.3f}]"
    ax.set_xlabel("step")
    ax.set_title(f"{title}: reward mean ± std{subtitle}", fontsize=9)
    ax.legend(fontsize=7)
    if has_len:
        _length_panel(axes[0][1], rows)
    if has_zero:
        ax2 = axes[0][-1]
        ax2.plot(*_series(rows, "frac_reward_zero_std"), color="#c44e52")
        ax2.set_ylim(0, 1)
        ax2.set_xlabel("step")
        ax2.set_title("fraction of groups with zero reward std")
    return _png(fig)


def _length_panel(ax, rows: Sequence[Mapping[str, Any]]) -> None:
    """Mean completion length (tokens) per step, the reward on a second axis, and in the title the
    correlation and the length-controlled change of :func:`heartgrpo.eval.length.length_controlled_trend`."""
    ax.plot(*_series(rows, LENGTH_KEY), color="#55a868", label="mean length")
    ax.set_xlabel("step")
    ax.set_ylabel("mean completion length (tokens)", fontsize=8)
    twin = ax.twinx()
    twin.plot(*_series(rows, "reward"), color="k", lw=0.8, alpha=0.6, label="reward")
    twin.set_ylabel("reward", fontsize=8)
    t = length_controlled_trend(rows)
    sub = ""
    if t is not None:
        c, res = t["correlation"], t["residual"]
        corr = "r undefined" if c["r"] is None else f"r {c['r']:+.2f}" + (
            "" if c["ci_low"] is None else f" [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]")
        sub = f"\nreward vs length {corr}\nlength-controlled change {res['diff']:+.3f} [{res['ci_low']:+.3f}, {res['ci_high']:+.3f}]"
    ax.set_title(f"mean completion length beside reward{sub}", fontsize=9)
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7)


def agreement_figure(result: Mapping[str, Any]) -> bytes | None:
    """Macro F1 of a judge against physicians: overall and per category."""
    if result.get("macro_f1") is None:
        return None
    plt = _plt()
    cats = list(result.get("by_category", {}))
    labels = ["overall"] + cats
    vals = [result["macro_f1"]] + [result["by_category"][c]["macro_f1"] for c in cats]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.35 * len(labels)))
    ax.barh(range(len(labels)), vals, color=["#55a868"] + ["#8c8c8c"] * len(cats))
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    judge = result.get("judge", {}).get("id", "judge")
    ax.set_title(f"{judge} vs physician majority: macro F1 (n={result['n']})")
    return _png(fig)
