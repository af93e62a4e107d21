"""One model step with re-asks: the chat client's retries, then new attempts that quote the fault.

:func:`ask_step` calls ``chat.complete(build(feedback, attempt), parse)`` up to ``max_attempts``
times. The chat client already re-asks a transport error or a reply that ``parse`` rejects
(``max_retries`` times, same messages); when it gives up, the next attempt sends the messages
again with the fault quoted (``feedback``), a new request with its own cache key. An error no
retry can fix (a wrong key, model or URL) is raised at once: no later query could succeed.
After the last attempt :class:`StepFailed` says which step failed and why.

Example:
    >>> str(StepFailed("critique", "ValueError: facet 'safety' is missing or not an object", 3))
    "critique failed after 3 attempt(s): ValueError: facet 'safety' is missing or not an object"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from heartgrpo.io.retry import is_retryable

__all__ = ["StepFailed", "ask_step"]

T = TypeVar("T")


class StepFailed(Exception):
    """A step that still failed after its last attempt; ``stage`` and ``reason`` go to the failure file."""

    def __init__(self, stage: str, reason: str, attempts: int) -> None:
        super().__init__(f"{stage} failed after {attempts} attempt(s): {reason}")
        self.stage, self.reason, self.attempts = stage, reason, attempts


async def ask_step(chat: Any, stage: str, build: Callable[[str | None, int], list[dict[str, str]]],
                   parse: Callable[[str], T], max_attempts: int) -> T:
    """The parsed reply of the first attempt that succeeds (see the module docstring)."""
    feedback: str | None = None
    reason = ""
    for attempt in range(1, max_attempts + 1):
        try:
            return await chat.complete(build(feedback, attempt), parse)
        except Exception as exc:  # noqa: BLE001 - sorted into retryable (next attempt) and fatal (raised)
            if not is_retryable(exc):
                raise
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
            feedback = f"attempt {attempt}: {str(exc)[:200]}" if isinstance(exc, ValueError) else None
    raise StepFailed(stage, reason, max_attempts)
