"""heartgrpo.io.asyncs: run_sync from plain and running-loop code; gather_staggered's start order,
result order, error and cancellation handling."""

from __future__ import annotations

import asyncio
import inspect
import warnings

import pytest

from heartgrpo.io.asyncs import gather_staggered, run_sync


async def _write_after_build(i: int, log: list[str]) -> int:
    """Mimics an HTTP request whose body write is scheduled for the next loop turn."""
    log.append(f"build {i}")
    await asyncio.sleep(0)
    log.append(f"write {i}")
    await asyncio.sleep(0.01)
    return i * i


def test_staggered_puts_each_request_on_the_wire_before_the_last_is_built():
    log: list[str] = []
    results = run_sync(gather_staggered(_write_after_build(i, log) for i in range(6)))
    assert results == [0, 1, 4, 9, 16, 25]
    assert log.index("write 0") < log.index("build 5")
    assert log.index("write 3") < log.index("build 5")

    plain: list[str] = []

    async def with_gather() -> list[int]:
        return list(await asyncio.gather(*(_write_after_build(i, plain) for i in range(6))))

    assert run_sync(with_gather()) == results
    assert plain.index("write 0") > plain.index("build 5")  # what the staggered start avoids


def test_staggered_keeps_input_order_when_later_tasks_finish_first():
    async def after(i: int) -> int:
        await asyncio.sleep(0.02 * (5 - i))
        return i

    assert run_sync(gather_staggered([after(i) for i in range(5)])) == [0, 1, 2, 3, 4]


async def _slow(i: int, started: list[int], cancelled: list[int]) -> int:
    """A request that waits long enough to be cancelled; records its start and its cancellation."""
    started.append(i)
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        cancelled.append(i)
        raise
    return i


async def _cancel_when(aws: list, ready) -> None:
    """Run gather_staggered(aws) and cancel it from outside once ``ready()``."""
    outer = asyncio.ensure_future(gather_staggered(aws))
    while not ready():
        await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer


def test_staggered_error_cancels_started_tasks_and_closes_the_rest():
    started: list[int] = []
    cancelled: list[int] = []

    async def boom() -> int:
        raise ValueError("judge exploded")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine never awaited would warn
        with pytest.raises(ValueError, match="exploded"):
            run_sync(gather_staggered([_slow(0, started, cancelled), _slow(1, started, cancelled), boom(),
                                       _slow(3, started, cancelled)]))
    assert sorted(cancelled) == [0, 1, 3]


def test_staggered_cancelled_from_outside_cancels_its_tasks():
    started: list[int] = []
    cancelled: list[int] = []
    run_sync(_cancel_when([_slow(i, started, cancelled) for i in range(4)], lambda: len(started) == 4))
    assert sorted(cancelled) == [0, 1, 2, 3]


def test_staggered_cancelled_while_starting_closes_the_unstarted():
    started: list[int] = []
    coros = [_slow(i, started, []) for i in range(5)]
    run_sync(_cancel_when(coros, lambda: bool(started)))
    assert 0 < len(started) < 5
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CLOSED for c in coros)


def test_staggered_empty_input():
    assert run_sync(gather_staggered([])) == []


def test_run_sync_inside_a_running_loop_raises_the_inner_error():
    async def fails() -> None:
        raise KeyError("inner")

    async def notebook_cell() -> None:
        with pytest.raises(KeyError, match="inner"):
            run_sync(fails)

    asyncio.run(notebook_cell())
