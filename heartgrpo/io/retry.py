"""When to retry a call to an OpenAI-compatible endpoint, and how long to wait first.

One policy for every client of the package (the rubric judge, the data-side LLM calls):

* retried: timeouts and connection errors, HTTP 408, 409, 429 and 5xx, and answers that do
  not parse (``ValueError``, which the judge's ``ParseError`` is);
* not retried: other 4xx (a wrong key, model or URL will not fix itself) and anything else;
* wait before retry ``k`` (0-based): ``min(cap, base * 2**k) * uniform(0.5, 1)`` seconds:
  exponential backoff with jitter, so clients that failed together do not retry together;
* a server that says how long to wait (``Retry-After``: seconds or an HTTP date, or
  ``retry-after-ms``, on a 429 or 503) is obeyed: :func:`retry_after_seconds`, at most
  :data:`RETRY_AFTER_CAP` seconds; the endpoint pool sends that replica nothing until then.

Example:
    >>> retryable_status(429), retryable_status(503), retryable_status(401)
    (True, True, False)
    >>> 0.5 <= backoff_delay(0, base=1.0, cap=8.0) <= 1.0
    True
    >>> 4.0 <= backoff_delay(5, base=1.0, cap=8.0) <= 8.0
    True
    >>> retry_after_seconds({"Retry-After": "2"}), retry_after_seconds({"retry-after-ms": "250"})
    (2.0, 0.25)
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["RETRYABLE_STATUSES", "RETRY_AFTER_CAP", "backoff_delay", "is_retryable", "retry_after_seconds", "retryable_status"]

RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: the longest ``Retry-After`` obeyed, seconds (a longer one is cut to this)
RETRY_AFTER_CAP = 60.0


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


def retry_after_seconds(source: Any, now: float | None = None) -> float | None:
    """Seconds a server asked the client to wait, from an error's HTTP response (or a header
    mapping): ``retry-after-ms``, else ``Retry-After`` as seconds or an HTTP date; at most
    :data:`RETRY_AFTER_CAP`. None when it said nothing usable. ``now``: the wall clock (for a date).

    >>> retry_after_seconds({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, now=90.0)
    10.0
    >>> retry_after_seconds({"Retry-After": "soon"}) is None, retry_after_seconds({"Retry-After": "3600"})
    (True, 60.0)
    """
    headers = source if isinstance(source, Mapping) else getattr(getattr(source, "response", None), "headers", None)
    if headers is None:
        return None
    lowered = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    seconds: float | None = None
    try:
        if "retry-after-ms" in lowered:
            seconds = float(lowered["retry-after-ms"]) / 1000
        elif "retry-after" in lowered:
            value = lowered["retry-after"]
            try:
                seconds = float(value)
            except ValueError:
                seconds = parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if seconds is None or seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)
