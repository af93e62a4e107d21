"""Quality checks for a rubric (generated or not), per rubric and per file, as JSON and markdown.

Per rubric, :func:`assess_rubric` reports (every check is a transparent rule, not a model):

* ``n_items`` and whether it lies in RaR-Medicine's 7..20;
* the category mix and its total-variation distance to RaR-Medicine's
  (:data:`RAR_MIX`: Essential 31%, Important 34%, Optional 22%, Pitfall 13%):
  ``tvd = 0.5 * sum_c |share_c - rar_c|``;
* ``near_duplicates``: item pairs whose content-word stems overlap with Jaccard >= 0.7
  (the stems of :class:`heartgrpo.judge.LexicalJudge`);
* ``polarity``: a pitfall written as an avoidance ("Does not suggest ...", "Avoids ...": "true"
  would then mean good behaviour; :func:`heartgrpo.rubrics.is_avoidance_pitfall`, which leaves
  omission forms such as "Does not mention red flags" alone), or a positive item written as a
  mistake ("Fails to ...");
* ``ungrounded`` (only with a reference answer): positive items of which under 25% of the
  content stems occur in the reference (a lexical proxy; pitfalls are exempt, they name errors);
* ``uncheckable``: items a grader cannot decide from the answer alone (the patient's later
  behaviour or outcome, the responder's beliefs, records outside the conversation) or too vague
  to decide ("is helpful", no content word at all).

``blocking`` problems make a generated rubric be regenerated: item count out of range, no
Essential item, a polarity error, a near-duplicate pair, or a failed validation
(:func:`heartgrpo.rubrics.parse_rar_rubric`). The rest are ``warnings``.

Example:
    >>> q = assess_rubric([{"title": "t", "description": "Pitfall Criteria: Does not recommend aspirin.", "weight": -1}])
    >>> sorted(q["blocking"])[1:]
    ['no essential item', 'pitfall written as avoidance: #0', 'too few items (1 < 7)']
    >>> q["validation_error"]
    "rubric, field 'rubrics': no criterion has positive points, so no score can be normalised"
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.judge.offline import content_stems
from heartgrpo.rubrics import CATEGORIES, STANDARD_PREFIX_RE, RubricError, category_from_points, is_avoidance_pitfall, parse_rar_rubric

__all__ = [
    "MAX_ITEMS",
    "MIN_ITEMS",
    "RAR_MIX",
    "assess_rubric",
    "category_mix",
    "check_rubric_file",
    "file_report",
    "lexical_similarity",
    "write_quality_report",
]

MIN_ITEMS, MAX_ITEMS = 7, 20
RAR_MIX: dict[str, float] = {"essential": 0.31, "important": 0.34, "optional": 0.22, "pitfall": 0.13}
NEAR_DUPLICATE_JACCARD = 0.7
GROUNDED_SHARE = 0.25
MIX_TVD_WARN = 0.35

_MISTAKE = re.compile(r"^(fails?\s+to|incorrectly|wrongly|falsely|omits|neglects)\b", re.IGNORECASE)
_UNCHECKABLE = re.compile(
    r"\b(the\s+(patient|user)\s+(later|eventually|subsequently|then|will|follows?|adheres?|recovers?|improves?)|"
    r"(patient|user)'s\s+(outcome|adherence|recovery)|follow[- ]up\s+visit\s+shows|"
    r"(believes|knows|intends|is\s+aware)\b|medical\s+records?|the\s+chart\b|"
    r"after\s+the\s+conversation|in\s+real\s+life)", re.IGNORECASE)
_VAGUE = re.compile(r"\b(is|are)\s+(helpful|good|great|appropriate|high[- ]quality|correct)\s*\.?$", re.IGNORECASE)
_PREFIX = STANDARD_PREFIX_RE


def lexical_similarity(a: str, b: str) -> float:
    """Jaccard of content-word stems (0 when either has none).

    >>> lexical_similarity("Recommends an urgent ECG.", "Advises an ECG urgently.")
    1.0
    """
    sa, sb = content_stems(a), content_stems(b)
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


def _category(item: Mapping[str, Any]) -> str:
    m = _PREFIX.match(str(item.get("description", "")))
    if m:
        return m.group(1).lower()
    return category_from_points(float(item.get("weight", 0)))


def _text(item: Mapping[str, Any]) -> str:
    return _PREFIX.sub("", str(item.get("description", ""))).strip()


def category_mix(items: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Share of items per category (every category present, summing to 1 when items exist)."""
    counts = Counter(_category(i) for i in items)
    n = max(1, len(items))
    return {c: counts.get(c, 0) / n for c in CATEGORIES}


def assess_rubric(items: Sequence[Mapping[str, Any]], reference_answer: str | None = None,
                  row_id: str | None = None) -> dict[str, Any]:
    """Quality of one rubric of RaR items ``{title, description, weight}``; see the module docstring."""
    blocking: list[str] = []
    warnings: list[str] = []
    n = len(items)
    if n < MIN_ITEMS:
        blocking.append(f"too few items ({n} < {MIN_ITEMS})")
    if n > MAX_ITEMS:
        blocking.append(f"too many items ({n} > {MAX_ITEMS})")
    try:
        parse_rar_rubric(list(items), row_id)
        valid, validation_error = True, None
    except RubricError as exc:
        valid, validation_error = False, str(exc)
        blocking.append(f"fails validation: {exc}")
    cats = [_category(i) for i in items]
    texts = [_text(i) for i in items]
    mix = category_mix(items)
    tvd = 0.5 * sum(abs(mix[c] - RAR_MIX[c]) for c in CATEGORIES)
    if "essential" not in cats:
        blocking.append("no essential item")
    if n and tvd > MIX_TVD_WARN:
        warnings.append(f"category mix far from RaR-Medicine's (tvd {tvd:.2f} > {MIX_TVD_WARN})")
    if n and "pitfall" not in cats:
        warnings.append("no pitfall item")
    near = [
        {"a": i, "b": k, "similarity": round(s, 3)}
        for i in range(n) for k in range(i + 1, n)
        if (s := lexical_similarity(texts[i], texts[k])) >= NEAR_DUPLICATE_JACCARD
    ]
    if near:
        blocking.append("near-duplicate items: " + ", ".join(f"#{d['a']}~#{d['b']}" for d in near))
    polarity = [i for i, (c, t) in enumerate(zip(cats, texts))
                if (c == "pitfall" and is_avoidance_pitfall(t)) or (c != "pitfall" and _MISTAKE.match(t))]
    for i in polarity:
        kind = "pitfall written as avoidance" if cats[i] == "pitfall" else "positive item written as a mistake"
        blocking.append(f"{kind}: #{i}")
    ungrounded: list[int] = []
    if reference_answer:
        ref = content_stems(reference_answer)
        for i, (c, t) in enumerate(zip(cats, texts)):
            stems = content_stems(t)
            if c != "pitfall" and stems and len(stems & ref) / len(stems) < GROUNDED_SHARE:
                ungrounded.append(i)
        if ungrounded:
            warnings.append("items not grounded in the reference answer: " + ", ".join(f"#{i}" for i in ungrounded))
    uncheckable = [i for i, t in enumerate(texts) if _UNCHECKABLE.search(t) or _VAGUE.search(t) or not content_stems(t)]
    if uncheckable:
        warnings.append("items not checkable from the answer alone: " + ", ".join(f"#{i}" for i in uncheckable))
    return {
        "n_items": n,
        "valid": valid,
        "validation_error": validation_error,
        "category_counts": dict(Counter(cats)),
        "category_mix": {c: round(v, 4) for c, v in mix.items()},
        "mix_tvd": round(tvd, 4),
        "near_duplicates": near,
        "polarity": polarity,
        "ungrounded": ungrounded if reference_answer else None,
        "uncheckable": uncheckable,
        "blocking": blocking,
        "warnings": warnings,
        "ok": not blocking,
    }


def file_report(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate per-rubric entries ``{id, status, attempts, quality}`` over a file.

    ``status`` is ``accepted`` or ``failed`` (kept and reported after the last attempt).
    """
    accepted = [r for r in rows if r["status"] == "accepted"]
    qualities = [r["quality"] for r in rows if r.get("quality")]
    counts: Counter[str] = Counter()
    for q in qualities:
        counts.update(q["category_counts"])
    total = sum(counts.values())
    mix = {c: (counts.get(c, 0) / total if total else 0.0) for c in CATEGORIES}
    sizes = [q["n_items"] for q in qualities]

    def share(pred) -> float:
        return round(sum(1 for q in qualities if pred(q)) / len(qualities), 4) if qualities else 0.0

    return {
        "n_rubrics": len(rows),
        "n_accepted": len(accepted),
        "n_failed": len(rows) - len(accepted),
        "failed_ids": [r["id"] for r in rows if r["status"] != "accepted"],
        "attempts_mean": round(sum(r.get("attempts", 1) for r in rows) / len(rows), 3) if rows else 0.0,
        "items_mean": round(sum(sizes) / len(sizes), 2) if sizes else 0.0,
        "items_min": min(sizes) if sizes else 0,
        "items_max": max(sizes) if sizes else 0,
        "category_mix": {c: round(v, 4) for c, v in mix.items()},
        "rar_mix": RAR_MIX,
        "mix_tvd": round(0.5 * sum(abs(mix[c] - RAR_MIX[c]) for c in CATEGORIES), 4) if total else None,
        "share_with_near_duplicates": share(lambda q: bool(q["near_duplicates"])),
        "share_with_polarity_errors": share(lambda q: bool(q["polarity"])),
        "share_with_ungrounded_items": share(lambda q: bool(q["ungrounded"])),
        "share_with_uncheckable_items": share(lambda q: bool(q["uncheckable"])),
        "share_invalid": share(lambda q: not q["valid"]),
    }


def _markdown(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], title: str) -> str:
    s = summary
    head = (f"{s['n_rubrics']} rubrics: {s['n_accepted']} accepted, {s['n_failed']} failed after their last attempt "
            f"(mean attempts {s['attempts_mean']})." if s["attempts_mean"] else
            f"{s['n_rubrics']} rubrics checked: {s['n_accepted']} pass every blocking check, {s['n_failed']} do not.")
    lines = [f"# {title}", "", head, "",
             f"Items per rubric: mean {s['items_mean']}, min {s['items_min']}, max {s['items_max']} (RaR-Medicine: 7..20).", "",
             "| category | this file | RaR-Medicine |", "|---|---|---|"]
    lines += [f"| {c} | {s['category_mix'][c]:.1%} | {RAR_MIX[c]:.0%} |" for c in CATEGORIES]
    lines += ["", f"Total-variation distance to RaR-Medicine's mix: {s['mix_tvd']}", "",
              "| check | share of rubrics flagged |", "|---|---|",
              f"| near-duplicate items | {s['share_with_near_duplicates']:.1%} |",
              f"| pitfall polarity | {s['share_with_polarity_errors']:.1%} |",
              f"| items not grounded in the reference (lexical) | {s['share_with_ungrounded_items']:.1%} |",
              f"| items not checkable from the answer alone | {s['share_with_uncheckable_items']:.1%} |",
              f"| fails validation | {s['share_invalid']:.1%} |", "", "## Per rubric", "",
              "| id | status | attempts | items | problems |", "|---|---|---|---|---|"]
    for r in rows:
        q = r.get("quality") or {}
        problems = "; ".join((q.get("blocking") or []) + (q.get("warnings") or []) + ([r["error"]] if r.get("error") else []))
        lines.append(f"| {r['id']} | {r['status']} | {r.get('attempts', '')} | {q.get('n_items', '')} | {problems.replace('|', '/') or '—'} |")
    return "\n".join(lines) + "\n"


def write_quality_report(rows: Sequence[Mapping[str, Any]], out_dir: str | Path,
                         title: str = "Rubric quality report") -> dict[str, Path]:
    """Write ``quality.json`` (summary + per rubric) and ``quality.md``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = file_report(rows)
    json_path, md_path = out / "quality.json", out / "quality.md"
    json_path.write_text(json.dumps({"summary": summary, "rubrics": list(rows)}, indent=2, ensure_ascii=False), encoding="utf-8")
    md_path.write_text(_markdown(summary, rows, title), encoding="utf-8")
    return {"json": json_path, "md": md_path}


def check_rubric_file(path: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Check every rubric of a RaR-Medicine-format JSONL (``question``, ``reference_answer``,
    ``rubric``); write ``quality.json``/``quality.md`` to ``out_dir`` when given; return the summary.

    Rows are ``accepted`` when they pass every blocking check, else ``failed``; ids are the
    row's ``id`` or ``line-<n>``.
    """
    from heartgrpo.io.jsonl import iter_rows

    rows = []
    for line_no, row in iter_rows(path):
        rid = str(row.get("id", f"line-{line_no}"))
        items = row.get("rubric")
        if not isinstance(items, list):
            rows.append({"id": rid, "status": "failed", "attempts": 0, "quality": None,
                         "error": f"{path}:{line_no}: field 'rubric': expected a list of {{title, description, weight}}"})
            continue
        quality = assess_rubric(items, row.get("reference_answer"), rid)
        rows.append({"id": rid, "status": "accepted" if quality["ok"] else "failed", "attempts": 0, "quality": quality, "error": None})
    if out_dir is not None:
        write_quality_report(rows, out_dir, title=f"Rubric quality report: {Path(path).name}")
    return {"summary": file_report(rows), "rubrics": rows}
