"""Rubric types and parsing of the two rubric formats the project reads.

Canonical form (HealthBench naming, DESIGN.md §3): a rubric is a list of criteria
``{"criterion": str, "points": float, "tags": [str, ...]}``. Negative points mark a pitfall:
for such a criterion a judge verdict ``met=True`` means the undesirable behaviour IS present.

Two input formats are parsed into it:

* RaR-Medicine: ``{"title", "description", "weight"}`` where ``description`` starts with a
  category prefix ("Essential Criteria:", "Important Criteria:", "Optional Criteria:",
  "Pitfall Criteria:"). The prefix becomes the tag ``category:<name>``; ``weight`` becomes
  ``points`` (pitfalls negative, whatever sign the source used). Misspelled or nonstandard
  prefixes of the real rows ("Esssential", "Importance", "Option", "Mandatory", "Universal")
  are mapped (:func:`map_category_prefix`), tagged ``prefix:<as written>`` and warned about.
  Avoidance-form pitfalls ("Pitfall Criteria: Does not suggest delaying fluids", true = good)
  are detected (:func:`is_avoidance_pitfall`), tagged ``pitfall_form:avoidance`` and kept,
  flipped or dropped (``avoidance=``).
* HealthBench: ``{"criterion", "points", "tags"}``, kept as is after validation.

Example:
    >>> crit = parse_rubric([{"title": "Dx", "description": "Essential Criteria: Names MI.", "weight": 5}])
    >>> crit[0].criterion, crit[0].points, crit[0].category
    ('Names MI.', 5.0, 'essential')

This module imports only the standard library and pydantic.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from difflib import get_close_matches
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AvoidancePolicy",
    "CATEGORIES",
    "CATEGORY_PREFIXES",
    "RAR_CATEGORY_POINTS",
    "STANDARD_PREFIX_RE",
    "Criterion",
    "PREFIX_ALIASES",
    "RubricError",
    "RubricWarning",
    "category_from_points",
    "is_avoidance_pitfall",
    "is_finite_number",
    "map_category_prefix",
    "parse_healthbench_rubric",
    "parse_rar_rubric",
    "parse_rubric",
    "repeated_criteria",
    "rubric_points",
    "validate_rubric",
]

CATEGORIES: tuple[str, ...] = ("essential", "important", "optional", "pitfall")
CATEGORY_PREFIXES: dict[str, str] = {
    "essential criteria": "essential",
    "important criteria": "important",
    "optional criteria": "optional",
    "pitfall criteria": "pitfall",
}
#: a standard category prefix at the start of a RaR description ("Pitfall Criteria: ..."), the category in group 1
STANDARD_PREFIX_RE = re.compile(r"^\s*(essential|important|optional|pitfall)\s+criteri(?:a|on)\s*[:\-]\s*", re.IGNORECASE)
#: RaR-Medicine's points per category, in order of preference (the rule :func:`category_from_points` inverts)
RAR_CATEGORY_POINTS: dict[str, tuple[int, ...]] = {
    "essential": (5,),
    "important": (4, 3),
    "optional": (2, 1),
    "pitfall": (-1, -2),
}
_PREFIX_RE = re.compile(r"^\s*([A-Za-z][A-Za-z ]{0,40}?)\s*[:\-]\s*", re.UNICODE)
#: Nonstandard category words of real RaR-Medicine rows -> category (None: follow the weight).
PREFIX_ALIASES: dict[str, str | None] = {
    "importance": "important", "option": "optional", "optionals": "optional", "pitfalls": "pitfall",
    "mandatory": "essential", "required": "essential", "critical": "essential", "core": "essential",
    "recommended": "important", "universal": None, "general": None,
}
_CRITERIA_WORD = re.compile(r"\s*\b(criteria|criterias|criterion|criterions|items?)\s*$", re.IGNORECASE)

AvoidancePolicy = Literal["keep", "flip", "drop"]
_OMISSION_VERBS = (
    r"mention|include|ask|address|explain|identify|consider|discuss|provide|note|acknowledge|recogni[sz]e|specify"
    r"|describe|cover|emphasi[sz]e|highlight|list|warn|refer|offer|give|clarify|define|inquire|outline|detail"
    r"|distinguish|differentiate|assess|evaluate|screen|check|reference|cite|counsel|educate|inform|tell|state the"
    r"|advise (seeking|consulting|seeing|contacting|calling|following|monitoring)"
    r"|(recommend|suggest|encourage) (seeking|consulting|seeing|contacting|calling|following|monitoring|a |an |that the (patient|user) (seek|see|consult|contact|call))"
)
_AVOIDANCE_RE = re.compile(
    r"^\s*(avoids|refrains from|steers clear of|"
    rf"(does not|doesn't|doesnt|do not|never|should not|must not)\s+(?!(?:{_OMISSION_VERBS})\b))",
    re.IGNORECASE,
)


class RubricError(ValueError):
    """A rubric that cannot be used; the message names the row and the field."""


class RubricWarning(UserWarning):
    """A rubric that is usable but suspicious (for example an unknown category prefix)."""


class Criterion(BaseModel):
    """One rubric item in canonical form.

    ``points`` > 0: desirable behaviour worth that many points when present.
    ``points`` < 0: a pitfall; ``met=True`` from a judge means the pitfall was triggered.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    criterion: str
    points: float
    tags: tuple[str, ...] = Field(default_factory=tuple)

    @property
    def category(self) -> str | None:
        """The ``category:`` tag value (``essential|important|optional|pitfall``), if any."""
        for tag in self.tags:
            if tag.startswith("category:"):
                return tag.split(":", 1)[1]
        return None

    @property
    def is_pitfall(self) -> bool:
        return self.points < 0

    def to_dict(self) -> dict[str, Any]:
        """The canonical dict form stored in dataset rows."""
        return {"criterion": self.criterion, "points": self.points, "tags": list(self.tags)}


def category_from_points(points: float) -> str:
    """RaR-Medicine's weight convention: >=5 essential, 3..4 important, 1..2 optional, <0 pitfall.

    >>> [category_from_points(p) for p in (5, 4, 2, -1)]
    ['essential', 'important', 'optional', 'pitfall']
    """
    if points < 0:
        return "pitfall"
    if points >= 5:
        return "essential"
    if points >= 3:
        return "important"
    return "optional"


def _where(row_id: str | None, index: int | None = None, field: str | None = None) -> str:
    parts = [f"row {row_id!r}" if row_id is not None else "rubric"]
    if index is not None:
        parts.append(f"criterion #{index}")
    if field is not None:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def is_finite_number(value: Any) -> bool:
    """True for an int or float (not a bool) that is finite as a float: what rubric points may be.

    >>> [is_finite_number(v) for v in (5, -2.5, True, float("nan"), float("inf"), 10**400, "5")]
    [True, True, False, False, False, False, False]
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _points(value: Any, row_id: str | None, index: int, field: str) -> float:
    if isinstance(value, bool) or value is None:
        raise RubricError(f"{_where(row_id, index, field)}: expected a finite number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RubricError(
            f"{_where(row_id, index, field)}: expected a finite number, got {value!r}"
        ) from None
    if not math.isfinite(number):
        raise RubricError(f"{_where(row_id, index, field)}: expected a finite number, got {value!r}")
    return number


def _text(value: Any, row_id: str | None, index: int, field: str) -> str:
    if not isinstance(value, str):
        raise RubricError(f"{_where(row_id, index, field)}: expected text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise RubricError(f"{_where(row_id, index, field)}: criterion text is empty")
    return text


def map_category_prefix(prefix: str) -> tuple[str | None, bool] | None:
    """``(category or None = by weight, nonstandard)`` for a description prefix, ``None`` if not one.

    Standard: "Essential Criteria" etc. Nonstandard but mapped: a known alias ("Importance",
    "Option", "Mandatory"; "Universal" follows the weight) or a near miss of a category word
    ("Esssential Criteria"), with or without the word "Criteria".

    >>> [map_category_prefix(p) for p in ("Essential Criteria", "Esssential Criteria", "Importance", "Universal", "Mentions")]
    [('essential', False), ('essential', True), ('important', True), (None, True), None]
    """
    key = " ".join(prefix.lower().split())
    if key in CATEGORY_PREFIXES:
        return CATEGORY_PREFIXES[key], False
    stem = _CRITERIA_WORD.sub("", key).strip()
    if stem in CATEGORIES:
        return stem, True
    if stem in PREFIX_ALIASES:
        return PREFIX_ALIASES[stem], True
    close = get_close_matches(stem, list(CATEGORIES) + list(PREFIX_ALIASES), n=1, cutoff=0.8) if stem != key else []
    if close:  # a near miss counts only where the writer marked a category ("... Criteria")
        return (close[0], True) if close[0] in CATEGORIES else (PREFIX_ALIASES[close[0]], True)
    return None


def is_avoidance_pitfall(text: str) -> bool:
    """True for a pitfall written as the behaviour to avoid, so that true = good.

    "Does not suggest delaying fluids", "Avoids recommending aspirin to children" are avoidance
    forms; "Does not mention red flags" / "Fails to ask about allergies" are omission forms
    (true = the problem is present, HealthBench's meaning) and are not.

    >>> is_avoidance_pitfall("Does not suggest delaying fluids"), is_avoidance_pitfall("Does not mention red flags")
    (True, False)
    """
    return bool(_AVOIDANCE_RE.match(text))


def _split_category(description: str, row_id: str | None, index: int) -> tuple[str | None, str, str | None]:
    """Return (category, text without prefix, nonstandard prefix as written); unknown prefixes warn."""
    match = _PREFIX_RE.match(description)
    if match:
        raw = match.group(1).strip()
        mapped = map_category_prefix(raw)
        if mapped is not None:
            category, nonstandard = mapped
            return category, description[match.end():].strip(), raw if nonstandard else None
        if raw.lower().endswith("criteria"):
            warnings.warn(
                f"{_where(row_id, index, 'description')}: unknown category prefix "
                f"{match.group(1)!r}; kept without a category tag",
                RubricWarning,
                stacklevel=3,
            )
    return None, description.strip(), None


def parse_rar_rubric(items: Sequence[Mapping[str, Any]], row_id: str | None = None,
                     avoidance: AvoidancePolicy = "keep") -> list[Criterion]:
    """Parse RaR-Medicine items ``{title, description, weight}`` into validated criteria.

    The category prefix of ``description`` becomes ``category:<name>``; without a known prefix
    the category follows the weight convention (:func:`category_from_points`). Pitfalls always
    carry negative points. The criterion text is the description without its prefix (the title
    is kept as a ``title:`` tag). A nonstandard prefix is mapped, tagged ``prefix:<as written>``
    and reported in one :class:`RubricWarning` per row.

    Avoidance-form pitfalls (:func:`is_avoidance_pitfall`) are tagged ``pitfall_form:avoidance``;
    ``avoidance`` says what to do with them: ``keep`` as published (negative points: a judge's
    true then costs points for good behaviour), ``flip`` (score the item as what it says, a
    desirable behaviour: points ``+|weight|``, category from the weight convention of ``|weight|``,
    tag ``flipped:pitfall``) or ``drop`` the item.
    """
    if avoidance not in ("keep", "flip", "drop"):
        raise ValueError(f"avoidance must be 'keep', 'flip' or 'drop', got {avoidance!r}")
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise RubricError(f"{_where(row_id, field='rubric')}: expected a list of criteria")
    out: list[Criterion] = []
    mapped: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise RubricError(f"{_where(row_id, i)}: expected an object, got {type(item).__name__}")
        if "description" not in item:
            raise RubricError(f"{_where(row_id, i, 'description')}: missing")
        if "weight" not in item:
            raise RubricError(f"{_where(row_id, i, 'weight')}: missing")
        description = _text(item["description"], row_id, i, "description")
        weight = _points(item["weight"], row_id, i, "weight")
        category, text, nonstandard = _split_category(description, row_id, i)
        if not text:
            raise RubricError(f"{_where(row_id, i, 'description')}: criterion text is empty after the prefix")
        if category is None:
            category = category_from_points(weight)
        tags = [f"category:{category}"]
        if nonstandard is not None:
            tags.append(f"prefix:{nonstandard}")
            mapped.append(f"{nonstandard!r} -> {category}")
        points = -abs(weight) if category == "pitfall" else weight
        if category == "pitfall" and is_avoidance_pitfall(text):
            if avoidance == "drop":
                continue
            tags.append("pitfall_form:avoidance")
            if avoidance == "flip":
                points = abs(weight)
                tags[0] = f"category:{category_from_points(points)}"
                tags.append("flipped:pitfall")
        title = item.get("title")
        if isinstance(title, str) and title.strip():
            tags.append(f"title:{title.strip()}")
        out.append(Criterion(criterion=text, points=points, tags=tuple(tags)))
    if mapped:
        warnings.warn(f"{_where(row_id, field='description')}: {len(mapped)} nonstandard category prefix(es) mapped: "
                      + ", ".join(mapped), RubricWarning, stacklevel=2)
    return validate_rubric(out, row_id)


def parse_healthbench_rubric(items: Sequence[Mapping[str, Any]], row_id: str | None = None) -> list[Criterion]:
    """Parse HealthBench items ``{criterion, points, tags}`` into validated criteria."""
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise RubricError(f"{_where(row_id, field='rubrics')}: expected a list of criteria")
    out: list[Criterion] = []
    for i, item in enumerate(items):
        if isinstance(item, Criterion):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            raise RubricError(f"{_where(row_id, i)}: expected an object, got {type(item).__name__}")
        if "criterion" not in item:
            raise RubricError(f"{_where(row_id, i, 'criterion')}: missing")
        if "points" not in item:
            raise RubricError(f"{_where(row_id, i, 'points')}: missing")
        text = _text(item["criterion"], row_id, i, "criterion")
        points = _points(item["points"], row_id, i, "points")
        raw_tags = item.get("tags") or []
        if not isinstance(raw_tags, Sequence) or isinstance(raw_tags, (str, bytes)):
            raise RubricError(f"{_where(row_id, i, 'tags')}: expected a list of strings")
        if not all(isinstance(t, str) for t in raw_tags):
            raise RubricError(f"{_where(row_id, i, 'tags')}: expected a list of strings")
        out.append(Criterion(criterion=text, points=points, tags=tuple(raw_tags)))
    return validate_rubric(out, row_id)


def parse_rubric(items: Sequence[Mapping[str, Any]], row_id: str | None = None) -> list[Criterion]:
    """Parse either format, detected from the first item's keys.

    >>> [c.points for c in parse_rubric([{"criterion": "Advises ECG", "points": 5}])]
    [5.0]
    """
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)) or len(items) == 0:
        raise RubricError(f"{_where(row_id, field='rubrics')}: rubric is empty")
    first = items[0]
    if isinstance(first, Mapping) and "description" in first and "criterion" not in first:
        return parse_rar_rubric(items, row_id)
    return parse_healthbench_rubric(items, row_id)


def _text_key(text: str) -> str:
    return " ".join(text.lower().split())


def repeated_criteria(criteria: Iterable[Criterion | Mapping[str, Any]]) -> int:
    """How many items repeat the text of an earlier item (case and spacing ignored).

    Real HealthBench rubrics repeat criteria (the same text twice, or once with positive and once
    with negative points); every item is kept and scored, this only counts them.

    >>> repeated_criteria([{"criterion": "test", "points": p} for p in (7, 5, 10, -6)])
    3
    """
    seen: set[str] = set()
    repeats = 0
    for c in criteria:
        key = _text_key(c.criterion if isinstance(c, Criterion) else c["criterion"])
        repeats += key in seen
        seen.add(key)
    return repeats


def validate_rubric(criteria: Sequence[Criterion], row_id: str | None = None) -> list[Criterion]:
    """Check a parsed rubric can be scored: not empty, some positive points.

    Repeated criterion text is valid content (HealthBench scores every item): it is kept, and
    counted by :func:`repeated_criteria`, never rejected.
    """
    if len(criteria) == 0:
        raise RubricError(f"{_where(row_id, field='rubrics')}: rubric is empty")
    if not any(c.points > 0 for c in criteria):
        raise RubricError(
            f"{_where(row_id, field='rubrics')}: no criterion has positive points, "
            "so no score can be normalised"
        )
    return list(criteria)


def rubric_points(rubric: Iterable[Criterion | Mapping[str, Any]]) -> list[float]:
    """The points of each criterion, from Criterion objects or canonical dicts."""
    return [float(c.points if isinstance(c, Criterion) else c["points"]) for c in rubric]
