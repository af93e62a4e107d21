"""The judge side of the soak benchmark (``python -m benchmarks.soak --worker``): GRPO's reward
function over the judge GRPO builds, one call per step, every verdict accounted for.

The judge is ``build_judge`` of a ``judge:`` section (:func:`settings`) behind ``GuardedJudge``,
under ``make_reward_func(..., "complexity", num_generations=G)`` (async or not by the installed
TRL, as GRPO builds it), called as TRL calls it (:func:`trl_caller`) with a ``log_metric``. Per step, with ``N`` criteria and ``G`` completions:

* returned = ``N`` x completions whose reward is a number; each such reward must equal the
  reward of the correct verdicts (:func:`benchmarks.soak.truth`), else it counts as wrong;
* excluded = ``N`` x completions whose reward is ``None`` (TRL leaves them out), provided the
  step's ``judge_failure_rate`` counted at least one failed verdict for each of them;
* lost = asked - returned - excluded: a missing reward, an uncounted ``None``, a step that
  raised or hung.

The judge's own HTTP clients are watched (each ``post`` wrapped, the stack unchanged) to count the
faults the client saw, by kind. One line ``step <k>`` is printed per step (the benchmark kills
this process by it); the report is a JSON file.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

from heartgrpo.answer_format import extract_answer
from heartgrpo.config.judge import JudgeSettings
from heartgrpo.judge.cache import cache_key
from heartgrpo.judge.factory import judge_in_use
from heartgrpo.judge.guarded import GuardedJudge
from heartgrpo.judge.prompts import render
from heartgrpo.judge.types import as_messages
from heartgrpo.rewards import make_reward_func
from heartgrpo.rewards.strategies import score

MODEL = "soak-judge"
POINTS = (5.0, 3.0, -2.0, 4.0, -1.0, 2.0, 1.0)
STEP_LIMIT_S = 120.0


def rubric(n: int) -> list[dict]:
    return [{"criterion": f"criterion-{j}: states heart fact number {j}", "points": POINTS[j % len(POINTS)]} for j in range(n)]


def step_inputs(sizes: Any, step: int) -> tuple[list, list[str], list[list[dict]]]:
    """One GRPO step: one prompt, ``generations`` completions, the same rubric for each."""
    prompt = [{"role": "user", "content": f"Question {step}: I get chest pain when I climb stairs. What should I do?"}]
    completions = [f"<think>draft {step}.{i}</think>Answer-{step}-{i}: rest, and ask a cardiologist about an ECG."
                   for i in range(sizes.generations)]
    return [prompt] * sizes.generations, completions, [rubric(sizes.criteria)] * sizes.generations


def correct_met(step: int, i: int, n: int) -> list[bool]:
    from benchmarks.soak import truth

    return [truth(f"Answer-{step}-{i}", f"criterion-{j}") for j in range(n)]


def expected_keys(sizes: Any) -> dict[tuple[int, int, int], tuple[str, str, bool]]:
    """(step, completion, criterion) -> (batched cache key, per-criterion cache key, correct verdict)."""
    batched = render.load_template(render.BATCHED_TEMPLATE).identity
    single = render.load_template(render.GRADE_TEMPLATE).identity
    out = {}
    for step in range(sizes.steps):
        prompts, completions, rubrics = step_inputs(sizes, step)
        for i, (p, c, r) in enumerate(zip(prompts, completions, rubrics)):
            messages, answer = as_messages(p), extract_answer(c, True, False)
            met = correct_met(step, i, sizes.criteria)
            for j, crit in enumerate(r):
                key = {"criterion": crit["criterion"], "points": float(crit["points"])}
                out[(step, i, j)] = (cache_key(MODEL, batched, messages, answer, key),
                                     cache_key(MODEL, single, messages, answer, key), met[j])
    return out


def settings(sizes: Any, urls: list[str], cache: Path) -> JudgeSettings:
    """The ``judge:`` section of the soak (as a run config would give it)."""
    return JudgeSettings(kind="openai", model=MODEL, base_url=urls, api_key_env="SOAK_BENCH_KEY", mode=sizes.mode,
                         cache=cache, timeout=sizes.timeout, max_retries=3, max_concurrency=32,
                         requests_per_minute=sizes.rpm, replica_retry_after=sizes.retry_after)


def watch_clients(endpoint: Any, seen: Counter, timeout: float) -> None:
    """Wrap the ``post`` of the clients ``endpoint`` makes on each event loop to count what came back: HTTP errors by status, timeouts,
    resets, answers cut short, batched answers whose ids are not the ones asked."""
    import openai

    quiet: dict[int, float] = {}  # replica -> until when its last 429 asked the client to wait
    make_state = endpoint.state

    def state() -> Any:  # the clients of each event loop, wrapped once when the loop first uses them
        loop_state = make_state()
        if not getattr(loop_state, "watched", False):
            for k, client in enumerate(loop_state.clients):
                # the client's own post through a weak reference: a closure on the client that held
                # the client would make a cycle, and clients freed only by the cycle collector
                # (one set a step on the sync path) grow the RSS that this benchmark measures
                def post(path: str, *, _client: Any = weakref.ref(client), _k: int = k, **kwargs: Any) -> Any:
                    client = _client()
                    return _watched(type(client).post.__get__(client), path, kwargs, seen, timeout, openai, quiet, _k)

                client.post = post
            loop_state.watched = True
        return loop_state

    endpoint.state = state


async def _watched(post: Any, path: str, kwargs: dict, seen: Counter, timeout: float, openai: Any,
                   quiet: dict[int, float], replica: int) -> Any:
    t0 = time.monotonic()
    if t0 < quiet.get(replica, 0.0):
        seen["inside_retry_after"] += 1  # sent to a replica before the wait its 429 asked for was over
    try:
        raw = await post(path, **kwargs)
    except openai.APIStatusError as e:
        seen[f"http_{e.status_code}"] += 1
        wait = e.response.headers.get("retry-after")
        if e.status_code == 429 and wait:
            seen["retry_after_header"] += 1
            quiet[replica] = max(quiet.get(replica, 0.0), time.monotonic() + float(wait))
        raise
    except openai.APIConnectionError:  # the aiohttp transport names a reset a timeout too: tell them by the time
        seen["timeout" if time.monotonic() - t0 >= 0.9 * timeout else "connection"] += 1
        raise
    data = json.loads(await raw.aread())
    choice = data["choices"][0]
    asked = render_ids(kwargs["body"]["messages"][-1]["content"])
    try:
        answer = json.loads(choice["message"]["content"])
    except ValueError:
        seen["truncated_json"] += 1
        return raw
    if asked and sorted(v.get("id") for v in answer.get("verdicts", [])) != sorted(asked):
        seen["wrong_ids"] += 1
    return raw


def render_ids(prompt: str) -> list[str]:
    import re

    return re.findall(r"^\[(c\d+)\] ", prompt, flags=re.MULTILINE)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def memory() -> dict[str, float]:
    """Peak and current RSS (MiB) and open sockets of this process (Linux /proc)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if _readable(fd)]
    return {"peak": int(status["VmHWM"].split()[0]) / 1024, "rss": int(status["VmRSS"].split()[0]) / 1024,
            "sockets": sum(f.startswith("socket:") for f in fds)}


def _readable(fd: str) -> bool:
    try:
        os.readlink(f"/proc/self/fd/{fd}")
        return True
    except OSError:
        return False


def trl_caller(func: Any, judge: Any) -> tuple[Any, Any]:
    """``(call, close)`` as TRL calls ``func``: an async reward function on an event loop in a daemon
    thread (``run_coroutine_threadsafe(...).result()``, TRL >= 0.27), a sync one directly (it runs
    its own loop per call and closes its clients with it)."""
    if not func.is_async:
        return (lambda **kw: func(**kw)), (lambda: None)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(**kw: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(func(**kw), loop)
        try:
            return future.result(STEP_LIMIT_S)
        finally:
            future.cancel()  # a hung step: stop it (no-op when done)

    def close() -> None:
        asyncio.run_coroutine_threadsafe(judge.aclose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()

    return call, close


def run(sizes: Any, urls: list[str], cache: Path, progress: bool = True) -> dict:
    seen: Counter = Counter()
    tally = Counter()
    times: list[float] = []
    warm: dict | None = None
    with judge_in_use(settings(sizes, urls, cache)) as judge:
        # as build_reward_funcs makes it: async or not by the installed TRL
        func = make_reward_func(GuardedJudge(judge), "complexity", num_generations=sizes.generations)
        watch_clients(judge.endpoint, seen, sizes.timeout)
        call, close = trl_caller(func, judge)
        networked = 0
        for step in range(sizes.steps):
            prompts, completions, rubrics = step_inputs(sizes, step)
            metrics: dict[str, float] = {}
            asked = sizes.generations * sizes.criteria
            sent_before = judge.stats.requests
            t0 = time.perf_counter()
            try:
                rewards = call(prompts=prompts, completions=completions, rubrics=rubrics, log_metric=metrics.__setitem__)
            except Exception as e:  # a step that raised or hung: every verdict of it is lost
                print(f"step {step} failed: {type(e).__name__}: {e}", flush=True)
                tally.update(asked=asked, lost=asked)
                continue
            times.append(time.perf_counter() - t0)
            failed = round(metrics.get(f"{func.__name__}/judge_failure_rate", 0.0) * asked)
            none = [i for i, r in enumerate(rewards) if r is None]
            counted = len(none) if failed >= len(none) else 0  # each None needs a failed verdict behind it
            returned = 0
            for i, r in enumerate(rewards):
                if r is None:
                    continue
                returned += sizes.criteria
                want = score(func.strategy, [c["points"] for c in rubrics[i]], correct_met(step, i, sizes.criteria))
                tally["wrong_rewards"] += abs(r - want) > 1e-9
            excluded = counted * sizes.criteria
            tally.update(asked=asked, returned=returned, excluded=excluded, failed_verdicts=failed,
                         lost=asked - returned - excluded)
            networked += judge.stats.requests > sent_before
            if warm is None and networked >= max(1, sizes.steps // 10):
                warm = memory()
            if progress:
                print(f"step {step}", flush=True)
        end = memory()
        close()
        closed = memory()
        warm = warm or end
        return {**tally, "stats": judge.stats.snapshot(), "seen": dict(seen), "async": func.is_async,
                "failovers": sum(r["failures"] for r in judge.endpoints.snapshot()),
                "step_ms": {"p50": 1000 * percentile(times, 0.5), "p99": 1000 * percentile(times, 0.99)} if times else {},
                "rss": {"start": warm["peak"], "end": end["peak"], "rss_start": warm["rss"], "rss_end": end["rss"]},
                "sockets": {"start": warm["sockets"], "end": end["sockets"], "closed": closed["sockets"]}}


def worker_main(sizes: Any, urls: list[str], cache: Path, out: Path) -> None:
    report = run(sizes, urls, cache)
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")
