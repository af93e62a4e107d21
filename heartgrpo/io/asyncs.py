"""Async helpers: run a coroutine from synchronous code (also inside Jupyter's running event
loop), and start many requests so that each is on the wire before the next is built.

``run_sync`` is the one helper for every sync entry point of the package (reward functions on
older TRL, grading, generation through an endpoint, the data-side LLM calls);
``gather_staggered`` is how the judge starts its concurrent requests.

Example:
    >>> async def two(): return 2
    >>> run_sync(two())
    2
    >>> run_sync(lambda: two())
    2
    >>> async def double(x): return 2 * x
    >>> run_sync(gather_staggered(double(i) for i in range(3)))
    [0, 2, 4]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

__all__ = ["gather_staggered", "run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T] | Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run`` of ``coro`` (a coroutine, or a function that makes one); when a loop is
    already running in this thread (a notebook), it runs to completion on a fresh loop in a
    worker thread instead, and its exception is raised here."""
    make = coro if callable(coro) else (lambda: coro)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def gather_staggered(aws: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` of coroutines that starts one task per event-loop turn, results in
    input order.

    ``gather`` starts all its tasks in the same loop turn: with an HTTP client whose body write
    is a task of its own (aiohttp), each task builds its request, then every write waits until
    all requests are built, so the first request leaves as late as the last and all the answers
    come back in one burst. Yielding to the loop after starting each task puts every request on
    the wire while the next is being built, and answers are handled as they arrive. On error or
    cancellation the tasks already started are cancelled and the awaitables not yet started
    are closed.
    """
    pending = list(aws)
    tasks: list[asyncio.Future[T]] = []
    try:
        for aw in pending:
            tasks.append(asyncio.ensure_future(aw))
            await asyncio.sleep(0)
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        for aw in pending[len(tasks):]:  # started in input order: the rest never ran
            if hasattr(aw, "close"):
                aw.close()  # a coroutine never started: no "never awaited" warning
        raise
