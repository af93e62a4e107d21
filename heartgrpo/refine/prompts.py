"""The versioned prompts of the refine stage (``prompts/<name>.txt``) and their identities.

The identity ``<name>@<sha12 of the file>`` is part of every cache key and of every row's
provenance, so an edited prompt is never served stale answers and a dataset names what wrote it.

Example:
    >>> prompt_identity("critique_v1").startswith("critique_v1@")
    True
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

__all__ = ["PROMPT_NAMES", "prompt_identity", "prompt_text"]

#: stage -> prompt file name (without ``.txt``)
PROMPT_NAMES: dict[str, str] = {"query": "query_v1", "answer": "answer_v1", "critique": "critique_v1", "refine": "refine_v1"}


@lru_cache(maxsize=None)
def _load(name: str) -> tuple[str, str]:
    text = resources.files("heartgrpo.refine").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8").strip() + "\n"
    return text, f"{name}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def prompt_text(name: str) -> str:
    """The text of ``prompts/<name>.txt``."""
    return _load(name)[0]


def prompt_identity(name: str) -> str:
    """``<name>@<sha12>`` of ``prompts/<name>.txt``."""
    return _load(name)[1]
