"""Read the one JSON object a model was asked to reply with (fenced or with text around it).

A reply with no complete JSON object (a truncated one included) raises ``ValueError``, which
the chat client counts as a failed attempt and asks again.

Example:
    >>> json_object('Sure: ```json\\n{"query": "Is my pulse ok?"}\\n```')
    {'query': 'Is my pulse ok?'}
    >>> json_object('{"query": "cut off')
    Traceback (most recent call last):
    ...
    ValueError: no complete JSON object in the reply (truncated or not JSON)
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_object", "text_field"]


def json_object(text: str) -> dict[str, Any]:
    """The first complete JSON object in ``text``."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise ValueError("no complete JSON object in the reply (truncated or not JSON)")


def text_field(obj: dict[str, Any], key: str, min_chars: int = 1) -> str:
    """``obj[key]`` stripped; ``ValueError`` when missing, not a string or shorter than ``min_chars``.

    >>> text_field({"answer": " Rest. "}, "answer")
    'Rest.'
    """
    value = obj.get(key)
    if not isinstance(value, str) or len(value.strip()) < min_chars:
        raise ValueError(f"field {key!r} missing, not text or shorter than {min_chars} characters")
    return value.strip()
