"""Judge prompt templates (versioned text files next to this module) and their rendering.

Template files are named ``<name>_v<N>.txt``. A template's identity, used in cache keys, is
``<name>_v<N>@<first 12 hex digits of sha256(text)>``: editing a file without bumping its
version still changes the key, so stale cached verdicts are never reused.

Graded material is fenced as data: the conversation and the response each sit between a
``BEGIN <LABEL> <tag>`` line and an ``END <LABEL> <tag>`` line, where ``tag`` is derived from
a hash of the fenced text itself. Text inside the fence therefore cannot contain its own
closing line, so a completion cannot step out of its fence and pose as prompt text.

Example:
    >>> block = fence("RESPONSE", "hello")
    >>> block.splitlines()[0].startswith("BEGIN RESPONSE "), block.splitlines()[1]
    (True, 'hello')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

__all__ = [
    "BATCHED_TEMPLATE",
    "GRADE_TEMPLATE",
    "RATE_TEMPLATE",
    "Template",
    "criterion_ids",
    "fence",
    "load_template",
    "render_conversation",
]

GRADE_TEMPLATE = "grade_v1"
BATCHED_TEMPLATE = "grade_batched_v1"
RATE_TEMPLATE = "rate_v1"

_SLOT = re.compile(r"\{(conversation|response|points|criterion|criteria)\}")


@dataclass(frozen=True)
class Template:
    name: str
    text: str

    @cached_property
    def identity(self) -> str:
        """``name@sha12``: the version that goes into cache keys."""
        return f"{self.name}@{hashlib.sha256(self.text.encode()).hexdigest()[:12]}"

    def render(self, **slots: str) -> str:
        """Fill ``{slot}`` placeholders in one pass (filled text is never re-scanned)."""
        missing = set(_SLOT.findall(self.text)) - set(slots)
        if missing:
            raise KeyError(f"template {self.name} needs slot(s) {sorted(missing)}")
        return _SLOT.sub(lambda m: slots[m.group(1)], self.text)


@lru_cache(maxsize=None)
def load_template(name: str) -> Template:
    """Read ``<name>.txt`` from this package."""
    path = resources.files(__package__).joinpath(f"{name}.txt")
    if not path.is_file():
        raise FileNotFoundError(f"no judge prompt template {name!r} in {__package__}")
    return Template(name, path.read_text(encoding="utf-8").strip() + "\n")


def _tag(label: str, text: str) -> str:
    return hashlib.sha256(f"{label}\0{text}".encode()).hexdigest()[:16]


def fence(label: str, text: str) -> str:
    """``text`` between ``BEGIN label tag`` and ``END label tag`` lines; tag = hash of (label, text)."""
    tag = _tag(label, text)
    return f"BEGIN {label} {tag}\n{text}\nEND {label} {tag}"


def fenced_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of every complete ``BEGIN X tag ... END X tag`` block in ``text``."""
    spans = []
    for m in re.finditer(r"BEGIN ([A-Z]+) ([0-9a-f]{16})\n", text):
        end = text.find(f"\nEND {m.group(1)} {m.group(2)}", m.end() - 1)
        if end >= 0:
            spans.append((m.start(), end + len(f"\nEND {m.group(1)} {m.group(2)}")))
    return spans


def _content(message: dict) -> str:
    content = message.get("content", "")
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def render_conversation(messages: Sequence[dict]) -> str:
    """Chat messages as ``role: content`` paragraphs."""
    return "\n\n".join(f"{m.get('role', 'user')}: {_content(m)}" for m in messages)


def criterion_ids(n: int) -> list[str]:
    """Stable ids for batched grading: ``c1 .. cn``."""
    return [f"c{i + 1}" for i in range(n)]


def _points(value: float) -> str:
    return f"{value:g}"


def grade_prompt(messages: Sequence[dict], response: str, criterion: dict) -> str:
    """The per-criterion grader prompt."""
    return load_template(GRADE_TEMPLATE).render(
        conversation=fence("CONVERSATION", render_conversation(messages)),
        response=fence("RESPONSE", response),
        points=_points(float(criterion["points"])),
        criterion=str(criterion["criterion"]),
    )


def batched_prompt(messages: Sequence[dict], response: str, criteria: Sequence[dict], ids: Sequence[str]) -> str:
    """The batched grader prompt: one line per criterion, ``[id] (points) text``."""
    lines = "\n".join(f"[{i}] ({_points(float(c['points']))} points) {c['criterion']}" for i, c in zip(ids, criteria))
    return load_template(BATCHED_TEMPLATE).render(
        conversation=fence("CONVERSATION", render_conversation(messages)),
        response=fence("RESPONSE", response),
        criteria=lines,
    )


def rate_prompt(messages: Sequence[dict], response: str, criteria: Sequence[dict]) -> str:
    """The holistic 1..10 rating prompt (RaR-Implicit)."""
    lines = "\n".join(f"- ({_points(float(c['points']))} points) {c['criterion']}" for c in criteria)
    return load_template(RATE_TEMPLATE).render(
        conversation=fence("CONVERSATION", render_conversation(messages)),
        response=fence("RESPONSE", response),
        criteria=lines,
    )
