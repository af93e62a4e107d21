"""Query generation messages and checks, near-duplicate removal and the contamination guard.

A query item is ``{"id", "prompt": [{"role": "user", "content": query}], "attributes": profile}``.

* :func:`query_messages` asks for one message in the voice of an attribute profile
  (``prompts/query_v1.txt``); :func:`parse_query` accepts ``{"query": "<at least 20 characters>"}``.
* :func:`drop_near_duplicates`: word n-gram containment (:mod:`heartgrpo.data.contamination`)
  between the queries themselves; of a flagged pair the later one is dropped.
* :func:`drop_eval_overlaps`: the same guard against evaluation prompts (HealthBench files, the
  bundled sample); a query too close to any of them is dropped.

Example:
    >>> items = [query_item("a", "my heart races every night after coffee and I feel dizzy", {}),
    ...          query_item("b", "my heart races every night after coffee and I feel dizzy too", {})]
    >>> kept, dropped = drop_near_duplicates(items, n=5, threshold=0.6)
    >>> [i["id"] for i in kept], dropped[0]["reason"]
    (['a'], 'near_duplicate of a (containment 1.00)')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.data.contamination import drop_contaminated, find_overlaps
from heartgrpo.io.jsonl import BadRowReport, read_jsonl
from heartgrpo.refine.jsonreply import json_object, text_field
from heartgrpo.refine.prompts import prompt_text

__all__ = ["drop_eval_overlaps", "drop_near_duplicates", "load_eval_prompts", "parse_query", "query_item", "query_messages"]

MIN_QUERY_CHARS = 20


def query_messages(profile: dict[str, str], variant: str, feedback: str | None = None) -> list[dict[str, str]]:
    """System prompt + the profile; ``variant`` makes two equal profiles two distinct requests."""
    lines = ["Profile:"] + [f"- {k}: {v}" for k, v in profile.items()] + [f"Variation: {variant}"]
    if feedback:
        lines.append(f"Your previous reply could not be used ({feedback}). Reply with the JSON object only.")
    return [{"role": "system", "content": prompt_text("query_v1")}, {"role": "user", "content": "\n".join(lines)}]


def parse_query(text: str) -> str:
    """The query of a ``{"query": ...}`` reply; ``ValueError`` when malformed or too short."""
    return text_field(json_object(text), "query", MIN_QUERY_CHARS)


def query_item(item_id: str, query: str, profile: dict[str, str]) -> dict[str, Any]:
    """One query item (see the module docstring)."""
    return {"id": item_id, "prompt": [{"role": "user", "content": query}], "attributes": dict(profile)}


def drop_near_duplicates(items: Sequence[dict[str, Any]], n: int = 5, threshold: float = 0.6) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items without near-duplicates of an earlier kept item, and ``{"id", "reason"}`` per dropped one."""
    position = {it["id"]: i for i, it in enumerate(items)}
    partners: dict[str, list[tuple[str, float]]] = {}
    for o in find_overlaps(items, items, n, threshold):
        if position[o.eval_id] < position[o.train_id]:
            partners.setdefault(o.train_id, []).append((o.eval_id, o.containment))
    kept_ids: set[str] = set()
    kept, dropped = [], []
    for it in items:
        hit = next(((p, c) for p, c in partners.get(it["id"], []) if p in kept_ids), None)
        if hit is None:
            kept_ids.add(it["id"])
            kept.append(it)
        else:
            dropped.append({"id": it["id"], "reason": f"near_duplicate of {hit[0]} (containment {hit[1]:.2f})"})
    return kept, dropped


def drop_eval_overlaps(items: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]], n: int = 8,
                       threshold: float = 0.5) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Items not too close to any evaluation prompt, and ``{"id", "reason"}`` per dropped one."""
    kept, overlaps = drop_contaminated(items, evals, n, threshold)
    first: dict[str, Any] = {}
    for o in overlaps:
        first.setdefault(o.train_id, o)
    dropped = [{"id": i, "reason": f"contaminated: close to eval prompt {o.eval_id} (containment {o.containment:.2f})"}
               for i, o in first.items()]
    return kept, dropped


def _rows_of(path: Path) -> list[dict[str, Any]]:
    out = []
    for k, row in enumerate(read_jsonl(path, on_bad_row="skip", report=BadRowReport())):  # only the prompts are read
        prompt = row.get("prompt")
        if isinstance(prompt, list) and prompt:
            out.append({"id": f"{path.name}:{row.get('prompt_id') or row.get('id') or k}", "prompt": prompt})
    return out


def load_eval_prompts(sources: Sequence[str | Path], sample_file: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Evaluation prompts ``{"id", "prompt"}`` from HealthBench-format JSONL files or folders of them
    (``*.jsonl``), ``"sample"`` naming the bundled sample; and per source the rows read, or
    ``"absent"`` for a path that does not exist (reported, not an error)."""
    from heartgrpo.data.prepare import SAMPLE_DIR

    rows: list[dict[str, Any]] = []
    found: dict[str, Any] = {}
    for source in sources:
        path = (sample_file or SAMPLE_DIR / "healthbench" / "heart_sample.jsonl") if str(source) == "sample" else Path(source)
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path] if path.is_file() else []
        if not files:
            found[str(source)] = "absent"
            continue
        got = [r for f in files for r in _rows_of(f)]
        found[str(source)] = len(got)
        rows += got
    return rows, found
