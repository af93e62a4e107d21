"""Evaluation report: one markdown file and one self-contained HTML page.

Contents: score per model with 95% CIs, judge failure counts next to every score (a score
computed while some criteria were unjudged is marked †; those prompts are excluded), the
paper's accuracy and F1 (with the 2a/(1+a) note), per-theme and per-axis scores, paired
comparisons against the first run (bootstrap difference, McNemar), GRPO reward curves with the
mean completion length beside them (and whether a reward rise survives controlling for length), judge
agreement with physicians, and every excluded prompt with its reason.

The report is rendered from a list of blocks, once as markdown (figures saved as PNG files
next to it) and once as HTML (the same figures embedded as base64 PNG).

Example:
    >>> paths = write_report([summarize_run("runs/eval/base")], "runs/report")  # doctest: +SKIP
    >>> paths["html"]                                                          # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.eval import figures
from heartgrpo.eval.metrics import F1_NOTE

__all__ = ["fmt_ci", "judge_label", "length_text", "paired_text", "trend_text", "write_report"]

Block = tuple  # ("h", level, text) | ("p", text) | ("table", headers, rows) | ("img", name, png, alt)


def fmt_ci(agg: Mapping[str, Any], key: str = "score") -> str:
    """``0.512 [0.470, 0.555]``; ``—`` without a value."""
    v = agg.get(key)
    if v is None:
        return "—"
    if agg.get("ci_low") is None:
        return f"{v:.3f}"
    return f"{v:.3f} [{agg['ci_low']:.3f}, {agg['ci_high']:.3f}]"


def generation_label(summary: Mapping[str, Any]) -> str:
    """Which generator wrote a run's answers, and how: ``backend`` (transformers, vllm, openai,
    ...) and its sampling settings, from the settings saved with the answers.

    >>> generation_label({"settings": {"backend": "transformers", "temperature": 0.0, "top_p": 1.0, "seed": 3}})
    'backend=transformers, temperature=0.0, top_p=1.0'
    >>> generation_label({})
    'unknown'
    """
    st = summary.get("settings") or {}
    keys = ("backend", "temperature", "top_p", "max_new_tokens")
    return ", ".join(f"{k}={st[k]}" for k in keys if k in st) or "unknown"


def judge_label(summary: Mapping[str, Any]) -> str:
    """Judge id(s) of a run, with ``(approximate)`` for an offline approximate judge whose id
    does not say so already (the verifier's names it, with its eval kappa).

    >>> judge_label({"judge": [{"id": "LexicalJudge", "approximate": True}]})
    'LexicalJudge (approximate)'
    >>> judge_label({"judge": [{"id": "verifier (approximate; eval kappa 0.48)", "approximate": True}]})
    'verifier (approximate; eval kappa 0.48)'
    """
    def one(j: Mapping[str, Any]) -> str:
        name = str(j.get("id", "?"))
        return name + (" (approximate)" if j.get("approximate") and "approximate" not in name else "")

    return ", ".join(one(j) for j in summary.get("judge", []))


def trend_text(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """One sentence on whether the GRPO training reward rose (:func:`heartgrpo.eval.trend.reward_trend`),
    followed by :func:`length_text` when the log carries the mean completion length."""
    from heartgrpo.eval.trend import reward_trend

    t = reward_trend(rows)
    if t is None:
        return None
    verdict = ("rose" if t["ci_low"] > 0 else "fell") if t["excludes_zero"] else "did not change measurably"
    text = (f"Training reward (TRL's `reward`, mean over each step's completions): first quarter of steps "
            f"({t['first_steps'][0]}-{t['first_steps'][1]}) {t['first']:.3f}, last quarter ({t['last_steps'][0]}-"
            f"{t['last_steps'][1]}) {t['last']:.3f}; change {t['diff']:+.3f} [95% CI {t['ci_low']:+.3f}, {t['ci_high']:+.3f}] "
            f"(bootstrap over steps, each quarter resampled on its own): the training reward {verdict}.")
    beside = length_text(rows)
    return text if beside is None else f"{text} {beside}"


def length_text(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """One sentence on the training reward beside the mean completion length, and whether the
    reward's rise survives controlling for length (:func:`heartgrpo.eval.length.length_controlled_trend`);
    None when fewer than 4 steps log both.

    >>> rows = [{"step": i, "reward": 0.1 + 0.01 * i, "completions/mean_length": 40.0} for i in range(1, 13)]
    >>> length_text(rows).split(": ")[-1]
    'the rise survives controlling for length.'
    """
    from heartgrpo.eval.length import length_controlled_trend

    t = length_controlled_trend(rows)
    if t is None:
        return None
    rw, ln, res, c = t["reward"], t["length"], t["residual"], t["correlation"]

    def moved(q: Mapping[str, Any]) -> str:
        return ("rose" if q["diff"] > 0 else "fell") if q["excludes_zero"] else "did not change measurably"

    constant = (f"undefined (mean length {t['length_min']:.1f} tokens at every step, so length cannot explain "
                "a change)" if t["length_min"] == t["length_max"] else "undefined (constant reward)")
    corr = (constant if c["r"] is None else
            f"{c['r']:+.2f}" + ("" if c["ci_low"] is None else f" [95% CI {c['ci_low']:+.2f}, {c['ci_high']:+.2f}]"))
    if t["survives"] is None:
        verdict = "the reward did not change measurably, so there is no rise to control for length"
    else:
        change = "rise" if rw["diff"] > 0 else "fall"
        verdict = f"the {change} {'survives' if t['survives'] else 'does not survive'} controlling for length"
    return (f"Beside completion length (TRL's `{t['length_key']}`, tokens, {t['n']} steps): reward {moved(rw)} "
            f"{rw['diff']:+.3f} [95% CI {rw['ci_low']:+.3f}, {rw['ci_high']:+.3f}]; mean length {moved(ln)} "
            f"{ln['diff']:+.1f} tokens ({ln['first']:.1f} to {ln['last']:.1f}) [95% CI {ln['ci_low']:+.1f}, {ln['ci_high']:+.1f}]; "
            f"Pearson correlation of step reward with step mean length {corr} (bootstrap over steps); length-controlled change (last minus first "
            f"quarter of the residual of reward on its least-squares line in length, {t['slope']:+.4f} per token) "
            f"{res['diff']:+.3f} [95% CI {res['ci_low']:+.3f}, {res['ci_high']:+.3f}]: {verdict}.")


def paired_text(c: Mapping[str, Any]) -> str:
    """One sentence on a paired comparison of two runs on the same held-out prompts
    (:func:`heartgrpo.eval.summary.compare_runs`)."""
    hb = c["healthbench"]
    if hb.get("diff") is None:
        return f"Held-out score, {c['a']} − {c['b']}: no paired prompt."
    verdict = "differ measurably" if hb["ci_low"] > 0 or hb["ci_high"] < 0 else "do not differ measurably"
    return (f"Held-out score, {c['a']} − {c['b']}: {hb['diff']:+.3f} [95% CI {hb['ci_low']:+.3f}, {hb['ci_high']:+.3f}] "
            f"over {c['n']} paired prompts (paired bootstrap over prompts, p = {hb['p_value']:.3f}): the two "
            f"{verdict}.")


def _failures(s: Mapping[str, Any]) -> str:
    f = s["failures"]
    return f"{f['criteria_unjudged']}/{f['criteria_total']} criteria, {f['examples_unjudged']} prompts"


def _score_rows(summaries: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for s in summaries:
        mark = " †" if s["healthbench"].get("marked") else ""
        rows.append([
            s["name"],
            fmt_ci(s["healthbench"]) + mark,
            str(s["n_scored"]),
            str(len(s["exclusions"])),
            _failures(s),
            fmt_ci(s["paper"], "accuracy"),
            "—" if s["paper"]["f1"] is None else f"{s['paper']['f1']:.3f}",
            judge_label(s),
            str(s.get("hardware") or "unknown"),
            generation_label(s),
        ])
    return rows


def _tag_blocks(summaries: Sequence[Mapping[str, Any]], prefix: str, title: str) -> list[Block]:
    tags = sorted({t for s in summaries for t in s["tags"] if t.startswith(prefix)})
    if not tags:
        return []
    rows = []
    for t in tags:
        row = [t[len(prefix) :]]
        for s in summaries:
            agg = s["tags"].get(t)
            if agg is None:
                row.append("—")
            else:
                unj = f", {agg['unjudged']} unjudged †" if agg.get("unjudged") else ""
                row.append(f"{fmt_ci(agg)} (n={agg['n']}{unj})")
        rows.append(row)
    blocks: list[Block] = [("h", 2, title), ("table", [prefix.rstrip(":")] + [s["name"] for s in summaries], rows)]
    png = figures.tag_figure(summaries, prefix)
    if png:
        blocks.append(("img", f"tags_{prefix.rstrip(':')}.png", png, title))
    return blocks


def _blocks(
    summaries: Sequence[Mapping[str, Any]],
    comparisons: Sequence[Mapping[str, Any]],
    logs: Mapping[str, Sequence[Mapping[str, Any]]],
    agreement: Mapping[str, Any] | None,
    title: str,
    notes: Sequence[str] = (),
) -> list[Block]:
    b: list[Block] = [("h", 1, title)]
    b.append(("p", "HealthBench score: per prompt sum(points of met criteria)/sum(positive points), mean clipped "
                   "to [0, 1], 95% percentile-bootstrap CI. Every criterion is judged by the LLM judge named in "
                   "the table. † marks a score computed while some criteria were unjudged: those prompts are "
                   "excluded and counted in the failures column and listed under Exclusions."))
    b.append(("h", 2, "Scores"))
    b.append(("table", ["run", "HealthBench score [95% CI]", "scored", "excluded", "judge failures",
                        "paper accuracy [95% CI]", "paper F1", "judge", "hardware", "generation"], _score_rows(summaries)))
    b.append(("p", "Paper accuracy: pass = (total - min)/(max - min) > 0.5 over all criteria. " + F1_NOTE))
    b.append(("img", "scores.png", figures.score_figure(summaries), "scores per run"))
    b += _tag_blocks(summaries, "theme:", "Per theme (HealthBench example tag)")
    b += _tag_blocks(summaries, "heart_theme:", "Per heart theme")
    b += _tag_blocks(summaries, "physician_agreed_category:", "Per physician-agreed category (HealthBench example tag)")
    b += _tag_blocks(summaries, "axis:", "Per axis (criteria with that tag)")
    b += _tag_blocks(summaries, "level:", "Per level (criteria with that tag)")
    b += _tag_blocks(summaries, "cluster:", "Per cluster (criteria with that tag)")
    if comparisons:
        rows = []
        for c in comparisons:
            hb, mc = c["healthbench"], c["mcnemar"]
            rows.append([f"{c['a']} − {c['b']}", str(c["n"]), fmt_ci(hb, "diff"), f"{hb['p_value']:.4f}",
                         f"b={mc['b']}, c={mc['c']}", f"{mc['p_value']:.4f} ({mc['method']})", str(len(c["exclusions"]))])
        b += [("h", 2, "Paired comparisons"),
              ("table", ["difference", "paired prompts", "score difference [95% CI]", "bootstrap p",
                         "McNemar discordant", "McNemar p", "unpaired prompts"], rows)]
    b += [("p", note) for note in notes]
    for name, rows in logs.items():
        png = figures.reward_figure(rows, title=name)
        b.append(("h", 2, f"GRPO reward curves: {name}"))
        slug = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        b.append(("img", f"rewards_{slug}.png", png, name) if png else ("p", "no reward columns in this log"))
        text = trend_text(rows)
        if text:
            b.append(("p", text))
    if agreement is not None:
        ex = agreement.get("excluded", {})
        b.append(("h", 2, "Judge agreement with physicians"))
        b.append(("p", f"Judge {agreement.get('judge', {}).get('id', '?')}: macro F1 "
                       f"{'—' if agreement.get('macro_f1') is None else format(agreement['macro_f1'], '.3f')} over "
                       f"{agreement.get('n', 0)} criteria (ground truth: physician majority; excluded: "
                       f"{ex.get('physician_tie', 0)} ties, {ex.get('judge_failure', 0)} judge failures)."))
        png = figures.agreement_figure(agreement)
        if png:
            b.append(("img", "agreement.png", png, "judge agreement"))
    b.append(("h", 2, "Exclusions"))
    any_excl = False
    for s in summaries:
        if not s["exclusions"]:
            continue
        any_excl = True
        reasons = Counter(e["reason"].split(" (")[0].split(":")[0] for e in s["exclusions"])
        b.append(("p", f"{s['name']}: " + "; ".join(f"{n} × {r}" for r, n in reasons.most_common())))
        b.append(("table", ["prompt id", "reason"], [[e["id"], e["reason"]] for e in s["exclusions"]]))
    for c in comparisons:
        if c["exclusions"]:
            any_excl = True
            b.append(("p", f"{c['a']} vs {c['b']}: {len(c['exclusions'])} prompts not paired"))
            b.append(("table", ["prompt id", "reason"], [[e["id"], e["reason"]] for e in c["exclusions"]]))
    if not any_excl:
        b.append(("p", "Nothing was excluded."))
    empties = [f"{s['name']}: {s['failures']['empty_answers']}" for s in summaries if s["failures"]["empty_answers"]]
    if empties:
        b.append(("p", "Empty answers (scored as meeting no criterion, not excluded): " + ", ".join(empties)))
    return b


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _to_markdown(blocks: Sequence[Block], fig_dir: Path, rel: str) -> str:
    out = []
    for blk in blocks:
        if blk[0] == "h":
            out.append("#" * blk[1] + " " + blk[2])
        elif blk[0] == "p":
            out.append(blk[1])
        elif blk[0] == "table":
            out.append("| " + " | ".join(_md_cell(h) for h in blk[1]) + " |")
            out.append("|" + "---|" * len(blk[1]))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in blk[2]]
        elif blk[0] == "img":
            (fig_dir / blk[1]).write_bytes(blk[2])
            out.append(f"![{blk[3]}]({rel}/{blk[1]})")
        out.append("")
    return "\n".join(out)


def _to_html(blocks: Sequence[Block], title: str) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "th{background:#f3f3f3}img{max-width:100%}</style></head><body>"]
    for blk in blocks:
        if blk[0] == "h":
            parts.append(f"<h{blk[1]}>{e(blk[2])}</h{blk[1]}>")
        elif blk[0] == "p":
            parts.append(f"<p>{e(blk[1])}</p>")
        elif blk[0] == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in blk[1])
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in blk[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif blk[0] == "img":
            data = base64.b64encode(blk[2]).decode("ascii")
            parts.append(f"<img alt='{e(blk[3])}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    summaries: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    comparisons: Sequence[Mapping[str, Any]] = (),
    grpo_logs: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    agreement: Mapping[str, Any] | None = None,
    title: str = "heartgrpo evaluation",
    notes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``report.md`` (+ ``figures/*.png``) and a self-contained ``report.html``."""
    if not summaries:
        raise ValueError("no run summaries to report")
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    blocks = _blocks(summaries, list(comparisons), dict(grpo_logs or {}), agreement, title, notes)
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(_to_markdown(blocks, fig_dir, "figures"), encoding="utf-8")
    page.write_text(_to_html(blocks, title), encoding="utf-8")
    return {"md": md, "html": page, "figures": fig_dir}
