"""An :class:`OpenAIJudge` spread over worker processes, for steps whose grading is limited by
the client's own CPU.

Each request through the openai client costs the sending process about a millisecond of CPU
(building it in the SDK, httpx and aiohttp), one request after another on one core. With a fast
judge and many criteria (a GRPO step of 6 completions x 20 criteria is 120 requests; larger
batches are thousands) that time adds to every step. ``ProcessPoolJudge(workers=k, ...)`` runs
``k`` judges in ``k`` processes (started with ``spawn``, so they are safe next to CUDA) and sends
each ``grade``/``rate`` call to the next worker in turn; each worker grades its calls
concurrently on its own event loop, with its own connections.

Contract: the same as :class:`OpenAIJudge` (same arguments, same verdicts, same SQLite cache
file, shared safely between the workers). A worker that dies fails the calls it held with
``Verdict(met=None, error="judge worker ...")`` (``None`` from ``rate``), never an exception and
never ``False``; it is started again on the next call. ``stats`` sums the workers' counters.
The workers start on the first call (a second or two) or on :meth:`start`; :meth:`close` stops
them. As with any ``spawn`` process, a plain script that starts the workers must do so under
``if __name__ == "__main__":`` (the workers re-import the main script); notebooks, the
``heartgrpo`` command and ``python -m`` entry points need nothing.

Example (against a local vLLM)::

    judge = ProcessPoolJudge(2, model="openai/gpt-oss-120b", base_url="http://127.0.0.1:8000/v1",
                             cache="runs/judge.sqlite")
    verdicts = await judge.grade([{"role": "user", "content": "..."}], "answer", rubric)
    judge.close()
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import threading
from collections.abc import Sequence
from typing import Any

from heartgrpo.judge.types import JudgeStats, Verdict, as_messages

__all__ = ["ProcessPoolJudge"]


def _plain_criterion(c: Any) -> dict:
    """A picklable criterion dict (``Criterion`` objects and dicts alike)."""
    return dict(c.to_dict() if hasattr(c, "to_dict") else c)


class _Worker:
    """One worker process, its pipe and the thread that reads its answers."""

    def __init__(self, pool: ProcessPoolJudge, index: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, pool.judge_kwargs), daemon=True,
                                   name=f"heartgrpo-judge-{index}")
        self.process.start()
        child.close()
        self.send_lock = threading.Lock()
        self.snapshot: dict[str, int] = {}
        #: set by the reader when the pipe ends: a killed process closes its pipe before the OS
        #: reports it exited, and a call in that window must start a fresh worker, not send here
        self.gone = threading.Event()
        try:
            ready = self.conn.recv()  # the worker has built its judge (or reports why not)
        except (EOFError, OSError):
            self.process.join(timeout=5)
            ready = ("error", f"exited with code {self.process.exitcode}")
        if ready[0] != "ready":
            self.process.join(timeout=5)
            self.conn.close()
            raise RuntimeError(f"judge worker failed to start: {ready[1]}")
        self.reader = threading.Thread(target=pool._read, args=(self,), daemon=True, name=f"heartgrpo-judge-reader-{index}")
        self.reader.start()

    def alive(self) -> bool:
        return not self.gone.is_set() and self.process.is_alive() and self.reader.is_alive()


class ProcessPoolJudge:
    """``workers`` :class:`OpenAIJudge` processes behind the Judge protocol; see the module docstring."""

    def __init__(self, workers: int = 2, **judge_kwargs: Any) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        cache = judge_kwargs.get("cache")
        if cache is not None and not isinstance(cache, (str, os.PathLike)):
            raise TypeError("ProcessPoolJudge needs cache as a file path (each worker opens it), not an object")
        if "model" not in judge_kwargs:
            raise TypeError("ProcessPoolJudge needs model=... (and the other OpenAIJudge arguments by keyword)")
        from heartgrpo.judge.openai_judge import OpenAIJudge

        OpenAIJudge(**{**judge_kwargs, "cache": None})  # bad arguments fail here, not in a worker
        self.workers = workers
        self.judge_kwargs = {**judge_kwargs, "cache": None if cache is None else os.fspath(cache)}
        self.model = judge_kwargs["model"]
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._workers: list[_Worker | None] = [None] * workers
        self._retired: list[dict[str, int]] = []  # counters of workers that died
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future, _Worker, Any]] = {}
        self._ids = itertools.count()
        self._closed = False

    def __repr__(self) -> str:  # never shows the key
        return f"ProcessPoolJudge(workers={self.workers}, model={self.model!r}, base_url={self.judge_kwargs.get('base_url')!r})"

    # ---------------------------------------------------------------------------------------
    # workers
    # ---------------------------------------------------------------------------------------

    def start(self) -> ProcessPoolJudge:
        """Start every worker now and wait until each has built its judge."""
        for i in range(self.workers):
            self._worker(i)
        return self

    def _worker(self, i: int, broken: _Worker | None = None) -> _Worker:
        """Worker ``i``, started (again) when it is not running or is ``broken`` (unreachable)."""
        with self._start_lock:  # starting takes seconds: never under the lock the readers need
            if self._closed:
                raise RuntimeError("this ProcessPoolJudge is closed")
            worker = self._workers[i]
            if worker is not None and worker is broken:
                worker.gone.set()
            if worker is None or not worker.alive():
                if worker is not None and worker.process.is_alive():  # its reader is gone: replace it whole
                    worker.process.kill()
                    worker.process.join(timeout=5)
                fresh = _Worker(self, i)
                with self._lock:
                    if worker is not None:
                        self._retired.append(worker.snapshot)
                    self._workers[i] = worker = fresh
            return worker

    def _read(self, worker: _Worker) -> None:
        """Reader thread: hand each answer to the event loop that waits for it; on EOF fail the
        calls the worker still held."""
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                worker.gone.set()
                break
            _, rid, result, snapshot = message
            worker.snapshot = snapshot
            with self._lock:
                entry = self._pending.pop(rid, None)
            if entry is not None:
                _deliver(entry[0], entry[1], result)
        with self._lock:
            lost = [(rid, e) for rid, e in self._pending.items() if e[2] is worker]
            for rid, _ in lost:
                del self._pending[rid]
        code = worker.process.exitcode
        for _, (loop, future, _, failed) in lost:
            _deliver(loop, future, failed(f"judge worker {worker.process.name} exited (code {code})"))

    async def _call(self, kind: str, args: tuple, failed: Any) -> Any:
        """Send the call to worker ``rid % workers``; a worker found unreachable at the send (it
        died after the check) is replaced and the call sent once more (it was never sent, so it
        cannot be graded twice); a second failure is the call's failed result."""
        rid = next(self._ids)
        index = rid % self.workers
        loop = asyncio.get_running_loop()
        worker = self._workers[index]
        if worker is None or not worker.alive():
            worker = await loop.run_in_executor(None, self._worker, index)
        future, error = self._send(worker, rid, kind, args, failed, loop)
        if error is not None:
            worker = await loop.run_in_executor(None, self._worker, index, worker)
            future, error = self._send(worker, rid, kind, args, failed, loop)
        return failed(f"judge worker {worker.process.name} unreachable: {error}") if error is not None else await future

    def _send(self, worker: _Worker, rid: int, kind: str, args: tuple, failed: Any,
              loop: asyncio.AbstractEventLoop) -> tuple[asyncio.Future, Exception | None]:
        """Register the call and send it to ``worker``; the send's error (nothing was sent) or None."""
        future = loop.create_future()
        with self._lock:
            self._pending[rid] = (loop, future, worker, failed)
        try:
            with worker.send_lock:
                worker.conn.send((kind, rid, args))
        except (OSError, ValueError) as e:  # the worker went away between the check and the send
            with self._lock:
                self._pending.pop(rid, None)
            return future, e
        return future, None

    # ---------------------------------------------------------------------------------------
    # Judge protocol
    # ---------------------------------------------------------------------------------------

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        """One verdict per criterion, in order, graded by the next worker."""
        criteria = [_plain_criterion(c) for c in rubrics]
        return await self._call("grade", (as_messages(prompt), response, criteria),
                                lambda error: [Verdict.failed(error) for _ in criteria])

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        """Holistic 1..10 rating by the next worker, or None."""
        criteria = [_plain_criterion(c) for c in rubrics]
        return await self._call("rate", (as_messages(prompt), response, criteria), lambda error: None)

    @property
    def stats(self) -> JudgeStats:
        """The workers' counters summed (live workers and the ones that died)."""
        total = JudgeStats()
        with self._lock:
            snapshots = [w.snapshot for w in self._workers if w is not None] + list(self._retired)
        for snapshot in snapshots:
            total.add(**snapshot)
        return total

    def worker_pids(self) -> list[int | None]:
        """Process ids of the workers (None for one not started)."""
        return [w.process.pid if w is not None else None for w in self._workers]

    def worker_snapshots(self) -> list[dict[str, int]]:
        """Each live worker's counters (how the work was spread)."""
        return [dict(w.snapshot) if w is not None else {} for w in self._workers]

    def close(self) -> None:
        """Stop the workers (their HTTP clients close; the cache is already on disk)."""
        with self._start_lock, self._lock:
            self._closed = True
            workers, self._workers = self._workers, [None] * self.workers
        for w in workers:
            if w is None:
                continue
            try:
                with w.send_lock:
                    w.conn.send(None)
            except (OSError, ValueError):
                pass
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            w.conn.close()

    def __enter__(self) -> ProcessPoolJudge:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _resolve(future: asyncio.Future, result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future, result: Any) -> None:
    """Hand ``result`` to ``future`` on its loop; a loop that has closed meanwhile has no one waiting."""
    try:
        loop.call_soon_threadsafe(_resolve, future, result)
    except RuntimeError:
        pass


def _worker_main(conn: Any, judge_kwargs: dict) -> None:
    """Worker process: build the judge, then grade every call concurrently on one event loop."""
    try:
        from heartgrpo.judge.openai_judge import OpenAIJudge

        judge = OpenAIJudge(**judge_kwargs)
    except BaseException as e:  # reported to the parent, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    loop = asyncio.new_event_loop()
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            conn.send(message)

    async def handle(kind: str, rid: int, args: tuple) -> None:
        try:
            result = await (judge.grade(*args) if kind == "grade" else judge.rate(*args))
        except Exception as e:  # a bug, not a transport fault (those are verdicts already)
            error = f"judge worker error: {type(e).__name__}: {e}"
            result = [Verdict.failed(error) for _ in args[2]] if kind == "grade" else None
        send(("done", rid, result, judge.stats.snapshot()))

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    conn.send(("ready", os.getpid()))
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            asyncio.run_coroutine_threadsafe(handle(*message), loop)
    finally:
        asyncio.run_coroutine_threadsafe(judge.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
