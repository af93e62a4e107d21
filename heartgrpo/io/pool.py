"""Client-side routing over replicas of one OpenAI-compatible endpoint, with optional rate limits
(the transport under :class:`heartgrpo.io.endpoint.Endpoint`).

A judge served by several replicas (``vllm serve`` on several GPUs or machines, or several API
keys' endpoints) is one :class:`EndpointPool`. Each request goes to the *least busy* healthy
replica: fewest requests in flight, then fewest sent, then list order. A request that fails with a
replica fault (the caller says which errors are: connection errors, timeouts, 5xx) takes that
replica out for ``retry_after`` seconds and is sent again, at once, to another replica, so one
replica dying loses no answer. When every replica has failed for this request the last error is
raised (the caller's own retry with backoff then runs); when every replica is out, the one due back
first is tried, so a pool of one URL behaves exactly like that URL alone. A replica whose answer
said how long to wait (``Retry-After``, :func:`heartgrpo.io.retry.retry_after_seconds`) is out for
at least that long and is sent nothing before then: a request routed to it waits.

Rate limits (``requests_per_minute``, ``tokens_per_minute``) are optional and apply to every
request the pool sends, on whichever replica. They are kept by spacing: request k may start no
earlier than ``max(now, t_r, t_t)`` where ``t_r`` advances by ``60 / rpm`` per request and ``t_t``
by ``60 * tokens / tpm`` (:class:`heartgrpo.io.endpoint.Endpoint` counts a request as ``characters
/ 4 + max_tokens`` tokens, the way providers count it before it runs); so over any minute at
most ``rpm`` requests (and ``tpm`` tokens, one request of slack) start, evenly, with no burst at
the start of a minute for the server to reject.
``clock`` and ``sleep`` are injectable, so tests run a simulated minute in milliseconds.

    >>> pool = EndpointPool(["http://a/v1", "http://b/v1"])
    >>> [r.url for r in pool.replicas]
    ['http://a/v1', 'http://b/v1']
    >>> pool.pick().url                 # nothing in flight: the first
    'http://a/v1'
    >>> pool.replicas[0].in_flight = 3
    >>> pool.pick().url                 # least busy
    'http://b/v1'
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from heartgrpo.io.retry import retry_after_seconds

__all__ = ["EndpointPool", "RateLimiter", "Replica", "replica_fault"]

T = TypeVar("T")


@dataclass
class Replica:
    """One replica's URL and counters. ``down_until`` is the clock time it is tried again;
    ``wait_until`` the clock time before which it is sent nothing (its ``Retry-After``)."""

    url: str | None
    index: int
    in_flight: int = 0
    sent: int = 0
    failures: int = 0
    down_until: float | None = None
    last_error: str | None = None
    wait_until: float | None = None

    def snapshot(self) -> dict:
        return {"url": self.url, "sent": self.sent, "in_flight": self.in_flight, "failures": self.failures,
                "down": self.down_until is not None, "last_error": self.last_error}


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits kept by spacing (see the module docstring).

    >>> now = [0.0]
    >>> limiter = RateLimiter(requests_per_minute=60, clock=lambda: now[0])
    >>> [limiter.reserve() for _ in range(3)]     # seconds each must wait, reserved in order
    [0.0, 1.0, 2.0]
    """

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value!r}")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.clock = clock
        self.sleep = sleep
        self._next_request = float("-inf")
        self._next_token = float("-inf")
        self._lock = threading.Lock()  # judges may run on several event loops in several threads

    @property
    def active(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None

    def reserve(self, tokens: int = 0) -> float:
        """Reserve the next start time for a request of ``tokens``; returns the seconds to wait."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next_request, self._next_token)
            if self.requests_per_minute is not None:
                self._next_request = start + 60.0 / self.requests_per_minute
            if self.tokens_per_minute is not None:
                self._next_token = start + 60.0 * max(int(tokens), 0) / self.tokens_per_minute
            return start - now

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until a request of ``tokens`` may start (returns at once without limits)."""
        if not self.active:
            return
        wait = self.reserve(tokens)
        if wait > 0:
            await self.sleep(wait)


def replica_fault(error: BaseException) -> bool:
    """Errors that say the replica, not the request, is at fault: no connection, a timeout, 429, 5xx."""
    import openai

    if isinstance(error, (openai.APIConnectionError, ConnectionError, TimeoutError)):
        return True
    return isinstance(error, openai.APIStatusError) and (error.status_code == 429 or error.status_code >= 500)


def _back_at(replica: Replica) -> float:
    """The clock time ``replica`` may be sent a request again (-inf: now)."""
    times = [t for t in (replica.down_until, replica.wait_until) if t is not None]
    return max(times, default=float("-inf"))


class EndpointPool:
    """Replicas of one endpoint behind least-busy routing, failover and optional rate limits."""

    def __init__(self, urls: Sequence[str | None] | str | None, *, retry_after: float = 30.0,
                 requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        urls = [urls] if urls is None or isinstance(urls, str) else list(urls)
        if not urls:
            raise ValueError("an endpoint pool needs at least one base URL")
        dup = sorted({u for u in urls if urls.count(u) > 1 and u is not None})
        if dup:
            raise ValueError(f"base URL listed twice: {', '.join(dup)}")
        if not retry_after > 0:
            raise ValueError(f"retry_after must be > 0, got {retry_after!r}")
        self.replicas = [Replica(u, i) for i, u in enumerate(urls)]
        self.retry_after = retry_after
        self.clock = clock
        self.sleep = sleep
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute, clock=clock, sleep=sleep)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.replicas)

    def pick(self, exclude: set[int] | frozenset[int] = frozenset()) -> Replica:
        """The least busy healthy replica not in ``exclude``; when all of those are out, the one
        due back first. A replica whose ``down_until`` and ``wait_until`` have passed counts as
        healthy again."""
        now = self.clock()
        candidates = [r for r in self.replicas if r.index not in exclude] or list(self.replicas)
        healthy = [r for r in candidates if _back_at(r) <= now]
        if healthy:
            return min(healthy, key=lambda r: (r.in_flight, r.sent, r.index))
        return min(candidates, key=lambda r: (_back_at(r), r.index))

    def mark_down(self, replica: Replica, error: BaseException | str) -> None:
        """Take ``replica`` out for ``retry_after`` seconds; when the error's answer said how long
        to wait (``Retry-After``), it is also sent nothing until that is over."""
        wait = None if isinstance(error, str) else retry_after_seconds(error)
        with self._lock:
            now = self.clock()
            replica.failures += 1
            if wait:
                replica.wait_until = max(replica.wait_until or now, now + wait)
            replica.down_until = now + self.retry_after
            replica.last_error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"[:200]

    def mark_up(self, replica: Replica) -> None:
        with self._lock:
            replica.down_until = None

    async def call(self, send: Callable[[Replica], Awaitable[T]], *, tokens: int = 0,
                   is_fault: Callable[[BaseException], bool] = lambda e: isinstance(e, (ConnectionError, TimeoutError))) -> T:
        """``await send(replica)`` on the least busy replica; on a replica fault take it out and
        send again to the next one not yet tried for this call. Raises the last fault once every
        replica has failed this call, and any other exception at once."""
        tried: set[int] = set()
        while True:
            replica = self.pick(tried)
            await self.limiter.acquire(tokens)
            wait = (replica.wait_until or 0.0) - self.clock()
            if wait > 0:  # it asked for a pause (no other replica is up, or it asked while we waited): keep to it
                await self.sleep(wait)
            with self._lock:
                replica.in_flight += 1
                replica.sent += 1
            try:
                result = await send(replica)
            except BaseException as error:
                if not isinstance(error, Exception) or not is_fault(error):
                    raise
                self.mark_down(replica, error)
                tried.add(replica.index)
                if len(tried) >= len(self.replicas):
                    raise
                continue
            finally:
                with self._lock:
                    replica.in_flight -= 1
            if replica.down_until is not None:
                self.mark_up(replica)
            return result

    def snapshot(self) -> list[dict]:
        """Each replica's counters (for logs and benchmarks)."""
        return [r.snapshot() for r in self.replicas]
