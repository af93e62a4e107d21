"""Robust parsing of a model's rubric answer into RaR-Medicine items ``{title, description, weight}``.

What a model sends back is often not clean JSON. :func:`parse_rubric_answer` accepts:

* a JSON object ``{"rubric": [...]}`` or a bare JSON array of items, alone or inside a fenced
  block (```` ```json ... ``` ````), with prose around it, after a ``<think>`` section;
* a *partial* answer (cut off mid-item): every complete item object is salvaged, the cut one
  is dropped (``notes["salvaged"]``);
* items with the category in a ``category`` field instead of the description prefix, weights
  as strings, pitfalls with positive weights;
* duplicated items (same description up to case and spacing): the first is kept, the others
  counted in ``notes["duplicates_removed"]``.

Weights follow RaR-Medicine's convention per category (:data:`heartgrpo.rubrics.RAR_CATEGORY_POINTS`): a weight out
of its category's range is moved to the nearest allowed value and counted in
``notes["weights_fixed"]``. With ``scale="healthbench"`` (the ORBIT-style prompt) items carry integer ``points`` on
HealthBench's -10..10 scale instead, snapped into :data:`HEALTHBENCH_POINTS` of their category,
and keep a HealthBench ``axis`` when they name one of :data:`AXES`. Nothing usable raises ``ValueError`` (so
:class:`heartgrpo.io.chat.ChatClient` re-asks and never caches it).

Example:
    >>> items, notes = parse_rubric_answer('```json\\n{"rubric": [{"title": "Dx", '
    ...     '"description": "Essential Criteria: Names atrial fibrillation.", "weight": 5}, '
    ...     '{"title": "Dx", "description": "essential criteria: names atrial fibrillation.", "weight": 5}]}\\n```')
    >>> [i["weight"] for i in items], notes["duplicates_removed"]
    ([5], 1)
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from heartgrpo.rubrics import CATEGORY_PREFIXES, RAR_CATEGORY_POINTS, STANDARD_PREFIX_RE

__all__ = ["AXES", "HEALTHBENCH_POINTS", "MAX_ANSWER_CHARS", "PREFIX_OF", "RubricScale", "parse_rubric_answer", "normalise_item"]

#: HealthBench-scale points per category, (low, high), and the value used when none is given
HEALTHBENCH_POINTS: dict[str, tuple[int, int, int]] = {
    "essential": (7, 10, 8),
    "important": (4, 6, 5),
    "optional": (1, 3, 2),
    "pitfall": (-10, -1, -5),
}
#: HealthBench's five rubric axes (tags ``axis:<name>``)
AXES = ("accuracy", "completeness", "communication_quality", "context_awareness", "instruction_following")
#: the weight convention of a parsed answer: RaR-Medicine's weights or HealthBench's points
RubricScale = Literal["rar", "healthbench"]
#: category -> description prefix, e.g. ``"pitfall" -> "Pitfall Criteria"``.
PREFIX_OF: dict[str, str] = {cat: key.title() for key, cat in CATEGORY_PREFIXES.items()}

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|$)", re.DOTALL)
_PREFIX = STANDARD_PREFIX_RE
_OBJECT_START = re.compile(r'\{\s*"')  # where an object with keys can begin
#: the longest answer parsed, in characters: a rubric is a few thousand, and salvaging a partial
#: answer tries a JSON parse at each object start, each failure costing a count of lines before it
MAX_ANSWER_CHARS = 200_000


def _candidates(text: str) -> list[str]:
    """Texts to try, best first: fenced blocks, then the answer from its first bracket."""
    text = _THINK.sub("", text)
    out = [m.group(1) for m in _FENCE.finditer(text) if m.group(1).strip()]
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if starts:
        out.append(text[min(starts):])
    return out


def _items_of(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ("rubric", "rubrics", "criteria", "items"):
            if isinstance(value.get(key), list):
                return value[key]
        if "description" in value:
            return [value]
    return None


def _salvage(text: str) -> list[dict[str, Any]]:
    """Every complete JSON object with a ``description`` found in ``text`` (a partial answer)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    end = 0
    for start in _OBJECT_START.finditer(text):
        if start.start() < end:  # inside an item already found
            continue
        try:
            obj, stop = decoder.raw_decode(text, start.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "description" in obj:
            found.append(obj)
            end = stop
    return found


def _weight(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _healthbench_points(category: str, weight: float | None) -> tuple[int, bool]:
    low, high, default = HEALTHBENCH_POINTS[category]
    if weight is None:
        return default, True
    value = -abs(weight) if category == "pitfall" else weight
    snapped = int(min(high, max(low, round(value))))
    return snapped, snapped != weight


def normalise_item(item: Any, scale: RubricScale = "rar") -> tuple[dict[str, Any] | None, bool]:
    """One raw item -> ``({title, description, weight}, weight_was_fixed)``; ``None`` if unusable.

    The category comes from the description prefix, else a ``category`` field, else the sign
    and size of the weight (RaR's convention). The weight is snapped into the category's range.

    >>> normalise_item({"description": "Recommends stopping aspirin.", "category": "pitfall", "weight": 2})
    ({'title': 'Recommends stopping aspirin', 'description': 'Pitfall Criteria: Recommends stopping aspirin.', 'weight': -2}, True)
    """
    if not isinstance(item, dict):
        return None, False
    description = item.get("description", item.get("criterion"))
    if not isinstance(description, str) or not description.strip():
        return None, False
    description = " ".join(description.split())
    weight = _weight(item.get("weight", item.get("points")))
    match = _PREFIX.match(description)
    category = match.group(1).lower() if match else None
    text = description[match.end():].strip() if match else description
    if not text:
        return None, False
    if category is None and isinstance(item.get("category"), str):
        raw = item["category"].strip().lower().removesuffix(" criteria")
        category = raw if raw in RAR_CATEGORY_POINTS else None
    if category is None:
        if weight is None:
            return None, False
        cut = (7, 4) if scale == "healthbench" else (5, 3)
        category = "pitfall" if weight < 0 else "essential" if weight >= cut[0] else "important" if weight >= cut[1] else "optional"
    title = item.get("title")
    title = " ".join(title.split()) if isinstance(title, str) and title.strip() else " ".join(text.rstrip(".").split()[:6])
    if scale == "healthbench":
        points, fixed = _healthbench_points(category, weight)
        out = {"title": title, "description": f"{PREFIX_OF[category]}: {text}", "weight": points}
        axis = str(item.get("axis", "")).strip().lower().removeprefix("axis:").replace(" ", "_")
        if axis in AXES:
            out["axis"] = axis
        return out, fixed
    allowed = RAR_CATEGORY_POINTS[category]
    if weight is not None and weight in allowed:
        fixed_weight, fixed = int(weight), False
    elif weight is None:
        fixed_weight, fixed = allowed[0], True
    else:
        fixed_weight, fixed = min(allowed, key=lambda w: (abs(abs(w) - abs(weight)), allowed.index(w))), True
    return {"title": title, "description": f"{PREFIX_OF[category]}: {text}", "weight": fixed_weight}, fixed


def parse_rubric_answer(text: str, scale: RubricScale = "rar") -> tuple[list[dict[str, Any]], dict[str, int]]:
    """A model's answer -> (RaR items, notes); raises ``ValueError`` when no item is usable.
    ``scale``: RaR-Medicine weights (default) or HealthBench points (module docstring).

    ``notes``: ``duplicates_removed``, ``weights_fixed``, ``dropped`` (items without usable
    text or category), ``salvaged`` (1 when items were recovered from a partial answer). An answer
    over :data:`MAX_ANSWER_CHARS` is refused.
    """
    if len(text) > MAX_ANSWER_CHARS:
        raise ValueError(f"the answer is {len(text)} characters, over the limit of {MAX_ANSWER_CHARS}")
    raw_items: list[Any] | None = None
    salvaged = 0
    for candidate in _candidates(text):
        try:
            raw_items = _items_of(json.loads(candidate))
        except json.JSONDecodeError:
            try:
                raw_items = _items_of(json.JSONDecoder().raw_decode(candidate)[0])
            except json.JSONDecodeError:
                raw_items = None
        if raw_items:
            break
    if not raw_items:
        raw_items = _salvage(_THINK.sub("", text))
        salvaged = int(bool(raw_items))
    if not raw_items:
        raise ValueError(f"no rubric items in the answer: {text[:120]!r}")
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    notes = {"duplicates_removed": 0, "weights_fixed": 0, "dropped": 0, "salvaged": salvaged}
    for raw in raw_items:
        item, fixed = normalise_item(raw, scale)
        if item is None:
            notes["dropped"] += 1
            continue
        key = " ".join(_PREFIX.sub("", item["description"]).lower().split()).rstrip(".")
        if key in seen:
            notes["duplicates_removed"] += 1
            continue
        seen.add(key)
        notes["weights_fixed"] += int(fixed)
        items.append(item)
    if not items:
        raise ValueError(f"no usable rubric item in the answer ({notes['dropped']} dropped): {text[:120]!r}")
    return items, notes
