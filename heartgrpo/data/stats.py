"""Dataset statistics, a printable summary, a markdown data card and a figure.

``dataset_stats(records)`` on canonical records (or GRPO rows) gives::

    {"n", "n_heart", "themes": {theme: count}, "rubric_size": {min, median, mean, max},
     "categories": {tag: count}, "axes": {tag: count}, "pitfall_share",
     "prompt_words": {min, median, p90, max}, "turns": {n_turns: count},
     "repeated_criteria": items repeating an earlier item's text, "rows_with_repeats",
     "nonstandard_prefixes": {prefix as written: count}, "avoidance_pitfalls", "flipped_pitfalls",
     "dropped_criteria"}

Example:
    >>> s = dataset_stats([{"prompt": [{"role": "user", "content": "a b c"}], "heart": True,
    ...     "heart_theme": "Chest Pain", "rubrics": [{"criterion": "x", "points": 5, "tags": ["category:essential"]}]}])
    >>> s["themes"], s["rubric_size"]["max"], s["prompt_words"]["max"]
    ({'Chest Pain': 1}, 1, 3)
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.data.builders import quantile
from heartgrpo.rubrics import repeated_criteria

__all__ = ["dataset_stats", "format_stats", "plot_stats", "write_data_card"]


def _summary(values: Sequence[float], p90: bool = False) -> dict[str, float]:
    if not values:
        return {}
    out = {"min": min(values), "median": statistics.median(values), "mean": round(statistics.fmean(values), 2),
           "max": max(values)}
    if p90:
        out["p90"] = quantile(values, 0.9)
    return out


def dataset_stats(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per theme, rubric sizes, category/axis mix, pitfall share and prompt lengths."""
    themes: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    axes: Counter[str] = Counter()
    turns: Counter[int] = Counter()
    sizes, words = [], []
    n_crit = n_pit = n_repeated = rows_repeating = n_avoid = n_flipped = n_dropped = 0
    prefixes: Counter[str] = Counter()
    for rec in records:
        if rec.get("heart_theme"):
            themes[rec["heart_theme"]] += 1
        rubrics = rec.get("rubrics") or []
        sizes.append(len(rubrics))
        n_dropped += int(rec.get("dropped_criteria") or 0)
        repeats = repeated_criteria(rubrics)
        n_repeated += repeats
        rows_repeating += repeats > 0
        for c in rubrics:
            n_crit += 1
            n_pit += c["points"] < 0
            for tag in c.get("tags") or []:
                if tag.startswith("category:"):
                    categories[tag.split(":", 1)[1]] += 1
                elif tag.startswith("axis:"):
                    axes[tag.split(":", 1)[1]] += 1
                elif tag.startswith("prefix:"):
                    prefixes[tag.split(":", 1)[1]] += 1
                n_avoid += tag == "pitfall_form:avoidance"
                n_flipped += tag == "flipped:pitfall"
        prompt = [m for m in rec["prompt"] if m["role"] != "system"]
        turns[len(prompt)] += 1
        words.append(sum(len(m["content"].split()) for m in prompt))
    return {
        "n": len(records),
        "n_heart": sum(bool(r.get("heart", True)) for r in records),
        "themes": dict(sorted(themes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "rubric_size": _summary(sizes),
        "categories": dict(categories.most_common()),
        "axes": dict(axes.most_common()),
        "pitfall_share": round(n_pit / n_crit, 3) if n_crit else 0.0,
        "prompt_words": _summary(words, p90=True),
        "turns": dict(sorted(turns.items())),
        "repeated_criteria": n_repeated,
        "rows_with_repeats": rows_repeating,
        "nonstandard_prefixes": dict(prefixes.most_common()),
        "avoidance_pitfalls": n_avoid,
        "flipped_pitfalls": n_flipped,
        "dropped_criteria": n_dropped,
    }


def _fmt_summary(s: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in s.items()) if s else "-"


def format_stats(all_stats: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text summary, one block per dataset (what ``heartgrpo prep`` prints)."""
    lines = []
    for name, s in all_stats.items():
        lines.append(f"[{name}] n={s['n']} heart={s['n_heart']} pitfall_share={s['pitfall_share']}")
        lines.append(f"  rubric size: {_fmt_summary(s['rubric_size'])}")
        lines.append(f"  prompt words: {_fmt_summary(s['prompt_words'])}")
        if s.get("nonstandard_prefixes"):
            lines.append("  nonstandard category prefixes (mapped): " + ", ".join(f"{k!r}={v}" for k, v in s["nonstandard_prefixes"].items()))
        if s.get("avoidance_pitfalls") or s.get("dropped_criteria"):
            lines.append(f"  avoidance-form pitfalls: {s.get('avoidance_pitfalls', 0)} kept ({s.get('flipped_pitfalls', 0)} flipped), "
                         f"{s.get('dropped_criteria', 0)} dropped")
        if s.get("repeated_criteria"):
            lines.append(f"  repeated criteria (kept, scored): {s['repeated_criteria']} in {s['rows_with_repeats']} rows")
        if s["categories"]:
            lines.append("  categories: " + ", ".join(f"{k}={v}" for k, v in s["categories"].items()))
        if s["axes"]:
            lines.append("  axes: " + ", ".join(f"{k}={v}" for k, v in s["axes"].items()))
        if s["themes"]:
            lines.append("  themes: " + ", ".join(f"{k}={v}" for k, v in s["themes"].items()))
    return "\n".join(lines)


def plot_stats(all_stats: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Save a figure: theme counts per dataset (left) and rubric category mix (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    themes = sorted({t for s in all_stats.values() for t in s["themes"]})
    names = list(all_stats)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [2, 1]})
    height = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        counts = [all_stats[name]["themes"].get(t, 0) for t in themes]
        ax1.barh([i + k * height for i in range(len(themes))], counts, height=height, label=name)
    ax1.set_yticks([i + 0.4 - height / 2 for i in range(len(themes))], themes, fontsize=8)
    ax1.set_xlabel("records")
    ax1.set_title("Heart themes per dataset")
    ax1.legend(fontsize=8)
    mixes = {name: s["categories"] or s["axes"] for name, s in all_stats.items()}
    labels = sorted({k for m in mixes.values() for k in m})
    bottom = [0.0] * len(names)
    for label in labels:
        shares = [mixes[n].get(label, 0) / max(sum(mixes[n].values()), 1) for n in names]
        ax2.bar(names, shares, bottom=bottom, label=label)
        bottom = [b + s for b, s in zip(bottom, shares)]
    ax2.set_ylabel("share of criteria")
    ax2.set_title("Rubric category / axis mix")
    ax2.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_data_card(path: str | Path, all_stats: Mapping[str, Mapping[str, Any]], *, settings: Mapping[str, Any],
                    counts: Mapping[str, int], skipped: Sequence[Mapping[str, str]], overlaps: Sequence[Mapping[str, Any]],
                    figure: str | None = None, notes: Sequence[str] = (),
                    sections: Sequence[Sequence[str]] = ()) -> Path:
    """Write the data card of one preparation run as markdown (``sections``: extra blocks of lines)."""
    path = Path(path)
    out = ["# Data card: prepared datasets", ""]
    out += [f"- {note}" for note in notes]
    out += ["", "## Settings", "", "```"]
    out += [f"{k}: {v}" for k, v in settings.items()]
    out += ["```", "", "## Datasets", "", "| dataset | rows |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in counts.items()]
    for name, s in all_stats.items():
        out += ["", f"### {name}", "", f"- rows: {s['n']} (heart: {s['n_heart']})",
                f"- rubric size: {_fmt_summary(s['rubric_size'])}", f"- pitfall share of criteria: {s['pitfall_share']}",
                f"- prompt words: {_fmt_summary(s['prompt_words'])}",
                "- conversation turns: " + ", ".join(f"{k} turn(s): {v}" for k, v in s["turns"].items()),
                f"- repeated criteria (kept and scored as HealthBench does): {s.get('repeated_criteria', 0)} items "
                f"in {s.get('rows_with_repeats', 0)} rows"]
        if s.get("nonstandard_prefixes"):
            out.append("- nonstandard category prefixes (mapped, warned): "
                       + ", ".join(f"'{k}' {v}" for k, v in s["nonstandard_prefixes"].items()))
        if "avoidance_pitfalls" in s:
            out.append(f"- avoidance-form pitfalls (true = good): {s['avoidance_pitfalls']} in the rubrics "
                       f"({s['flipped_pitfalls']} flipped to desirable criteria), {s['dropped_criteria']} dropped")
        mix = s["categories"] or s["axes"]
        if mix:
            out.append("- criteria by " + ("category" if s["categories"] else "axis") + ": "
                       + ", ".join(f"{k} {v}" for k, v in mix.items()))
        if s["themes"]:
            out += ["", "| theme | rows |", "|---|---|"] + [f"| {t} | {c} |" for t, c in s["themes"].items()]
    for section in sections:
        out += ["", *section]
    out += ["", "## Skipped rows", ""]
    out += [f"- `{r['where']}`: {r['reason']}" for r in skipped] or ["None."]
    out += ["", "## Contamination (training items dropped for overlap with eval conversations)", ""]
    out += [f"- {o['train_id']} ~ {o['eval_id']}: containment {o['containment']:.2f}, jaccard {o['jaccard']:.2f}"
            for o in overlaps] or ["None found."]
    if figure:
        out += ["", f"![dataset statistics]({figure})"]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
