"""The report (``report.json`` / ``report.md``) and the data card (``DATA_CARD.md``) of a refine run.

Both are written from the one report dict that :func:`heartgrpo.refine.pipeline.run_refine`
builds (counts, failures per stage, attribute coverage, provenance, requests).

Example:
    >>> import tempfile, pathlib
    >>> from heartgrpo.refine.sampler import coverage, sample_profiles
    >>> from heartgrpo.refine.attributes import load_attributes
    >>> spec = load_attributes(); cov = coverage(sample_profiles(spec, 10), spec)
    >>> r = {"counts": {"profiles": 10, "rows": 8, "failed": 2}, "failures_by_stage": {"critique": 2},
    ...      "facets_changed": {}, "eval_sources": {}, "coverage_profiles": cov, "coverage_rows": cov,
    ...      "requests": {}, "provenance": {"models": {}, "prompts": {}, "attributes": spec.identity,
    ...      "facets": [], "distilled": False, "sft_format": "paper", "seed": 1}, "seconds": 0.1}
    >>> "critique" in card_markdown(r)
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heartgrpo.refine.sampler import coverage_markdown

__all__ = ["card_markdown", "report_markdown", "write_card", "write_report"]


def report_markdown(report: dict[str, Any]) -> str:
    """The run report as Markdown."""
    c = report["counts"]
    lines = ["# Refine run report", "", "| count | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in c.items()]
    lines += ["", "Failures by stage: " + (", ".join(f"{k} {v}" for k, v in report["failures_by_stage"].items()) or "none"),
              "Facets the critique asked to change: " + (", ".join(f"{k} {v}" for k, v in report["facets_changed"].items()) or "none"),
              "Contamination sources (rows read): " + (", ".join(f"{k}: {v}" for k, v in report["eval_sources"].items()) or "none"),
              "", "Requests / cache hits per step: "
              + ", ".join(f"{k} {v.get('requests', 0)}/{v.get('cache_hits', 0)}" for k, v in report["requests"].items()),
              f"Seconds: {report['seconds']}", "", "## Coverage of the sampled profiles", "",
              coverage_markdown(report["coverage_profiles"]), "## Coverage of the dataset rows", "",
              coverage_markdown(report["coverage_rows"])]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """``report.json`` and ``report.md`` in ``out``."""
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report_markdown(report), encoding="utf-8")
    return {"json": out / "report.json", "md": out / "report.md"}


def card_markdown(report: dict[str, Any]) -> str:
    """The data card: what the rows are, how they were made, what was dropped and why, the limits."""
    c, p = report["counts"], report["provenance"]
    uncovered = report["coverage_rows"]["uncovered"]
    return "\n".join([
        "# Data card: self-refined SFT answers", "",
        "Synthetic heart-health questions written by a model in the voice of sampled asker profiles "
        "(seven attributes), each answered, critiqued per facet and refined by a model. Rows are "
        "prompt-completion pairs in the SFT output format; select them with `sft.data: <this folder>/sft_refined.jsonl`.", "",
        f"- rows: {c.get('rows')} of {c.get('profiles')} sampled profiles; failed or dropped: {c.get('failed')} "
        f"(by stage: {', '.join(f'{k} {v}' for k, v in report['failures_by_stage'].items()) or 'none'}; reasons in failed.jsonl)",
        f"- near-duplicates dropped: {c.get('dropped_near_duplicate', 0)}; too close to an evaluation prompt: "
        f"{c.get('dropped_contaminated', 0)} (checked against {c.get('eval_prompts_checked', 0)} prompts)",
        f"- models: {', '.join(f'{k}: {v}' for k, v in p['models'].items())}; distilled first answer: {p['distilled']}",
        f"- critique facets: {', '.join(p['facets']) or 'none (no critique: the first answers are the rows)'}",
        f"- prompts: {', '.join(p['prompts'].values())}; attributes: {p['attributes']}; seed {p['seed']}; format {p['sft_format']}",
        f"- attribute values with no row: {', '.join(uncovered) or 'none'}", "",
        "Limits: the answers are model-written and unreviewed by clinicians; their quality is only "
        "known from `heartgrpo refine --measure` with a capable judge. Not medical advice.", ""])


def write_card(report: dict[str, Any], out: Path) -> Path:
    """``DATA_CARD.md`` in ``out``."""
    path = out / "DATA_CARD.md"
    path.write_text(card_markdown(report), encoding="utf-8")
    return path
