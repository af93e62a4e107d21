"""When to retry a call to an OpenAI-compatible endpoint, and how long to wait first.

One policy for every client of the package (the rubric judge, the data-side LLM calls):

* retried: timeouts and connection errors, HTTP 408, 409, 429 and 5xx, and answers that do
  not parse (``ValueError``, which the judge's ``ParseError`` is);
* not retried: other 4xx (a wrong key, model or URL will not fix itself) and anything else;
* wait before retry ``k`` (0-based): ``min(cap, base * 2**k) * uniform(0.5, 1)`` seconds:
  exponential backoff with jitter, so clients that failed together do not retry together.

Example:
    >>> retryable_status(429), retryable_status(503), retryable_status(401)
    (True, True, False)
    >>> 0.5 <= backoff_delay(0, base=1.0, cap=8.0) <= 1.0
    True
    >>> 4.0 <= backoff_delay(5, base=1.0, cap=8.0) <= 8.0
    True
"""

from __future__ import annotations

import random

__all__ = ["RETRYABLE_STATUSES", "backoff_delay", "is_retryable", "retryable_status"]

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def retryable_status(status: int) -> bool:
    """True for 408, 409, 429 and every 5xx."""
    return status in RETRYABLE_STATUSES or status >= 500


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 20.0) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): ``min(cap, base * 2**attempt) * U(0.5, 1)``."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt could succeed after ``error`` (see the module docstring)."""
    import openai

    if isinstance(error, openai.APIConnectionError):  # timeouts included
        return True
    if isinstance(error, openai.APIStatusError):
        return retryable_status(error.status_code)
    return isinstance(error, ValueError)
