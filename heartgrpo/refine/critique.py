"""The critique: one JSON entry per facet (decision_making, communication, safety).

Each requested facet maps to ``{"wrong", "missing", "change"}``, three strings ("" when nothing
is wrong or missing). :func:`parse_critique` rejects a reply without every requested facet, a
facet that is not an object, a field that is not a string, or a facet that names a fault
(``wrong`` or ``missing``) without saying what to ``change``; the rejection is a ``ValueError``,
so the model is asked again. Facets that were not requested are dropped.

Example:
    >>> c = parse_critique('{"safety": {"wrong": "", "missing": "red flags", "change": "add when to call 911"}}', ["safety"])
    >>> c["safety"]["change"], facets_to_change(c)
    ('add when to call 911', ['safety'])
    >>> parse_critique('{"safety": {"wrong": "x"}}', ["safety"])
    Traceback (most recent call last):
    ...
    ValueError: facet 'safety': field 'missing' is missing or not text
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heartgrpo.refine.jsonreply import json_object
from heartgrpo.refine.prompts import prompt_text

__all__ = ["CRITIQUE_FIELDS", "FACETS", "critique_messages", "facets_to_change", "parse_critique"]

FACETS: tuple[str, ...] = ("decision_making", "communication", "safety")
CRITIQUE_FIELDS: tuple[str, ...] = ("wrong", "missing", "change")


def critique_messages(query: str, profile: dict[str, str], answer: str, facets: Sequence[str],
                      feedback: str | None = None) -> list[dict[str, str]]:
    """System prompt + profile, question, answer and the facets to review."""
    parts = ["Asker profile:\n" + "\n".join(f"- {k}: {v}" for k, v in profile.items()),
             f"Question:\n{query}", f"Answer to review:\n{answer}",
             "Review these facets only: " + ", ".join(facets)]
    if feedback:
        parts.append(f"Your previous critique could not be used: {feedback}. Reply with the JSON object only.")
    return [{"role": "system", "content": prompt_text("critique_v1")}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_critique(text: str, facets: Sequence[str]) -> dict[str, dict[str, str]]:
    """The validated critique of the requested ``facets`` (see the module docstring)."""
    raw = json_object(text)
    out: dict[str, dict[str, str]] = {}
    for facet in facets:
        entry = raw.get(facet)
        if not isinstance(entry, dict):
            raise ValueError(f"facet {facet!r} is missing or not an object")
        clean = {}
        for field in CRITIQUE_FIELDS:
            value = entry.get(field)
            if not isinstance(value, str):
                raise ValueError(f"facet {facet!r}: field {field!r} is missing or not text")
            clean[field] = value.strip()
        if (clean["wrong"] or clean["missing"]) and not clean["change"]:
            raise ValueError(f"facet {facet!r} names a fault but no change")
        out[facet] = clean
    return out


def facets_to_change(critique: dict[str, dict[str, str]]) -> list[str]:
    """The facets whose critique asks for a change, in :data:`FACETS` order."""
    return [f for f in FACETS if f in critique and critique[f]["change"]]
