"""ProcessPoolJudge: OpenAIJudge in worker processes, against a real loopback server.

Same verdicts as the in-process judge, work spread over the workers, one shared cache, failures
as ``met=None`` (also when a worker is killed mid-request), and a worker started again after.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading

import pytest

from heartgrpo.judge import OpenAIJudge, ProcessPoolJudge
from heartgrpo.io.loopback import LoopbackServer, Reply, grading_responder
from heartgrpo.rewards.trl import make_reward_func

CONV = [{"role": "user", "content": "I have crushing chest pain, what should I do?"}]
RUBRIC = [{"criterion": f"States heart fact number {i}", "points": 1 + i % 3} for i in range(5)]
ANSWERS = [f"Answer {i}: call emergency services, chew aspirin." for i in range(6)]


def _grade_all(judge, answers=ANSWERS, rubric=RUBRIC):
    async def go():
        return await asyncio.gather(*(judge.grade(CONV, a, rubric) for a in answers))

    return asyncio.run(go())


def _pool(server, workers=2, **kw):
    options = dict(model="judge-model", base_url=server.base_url, timeout=5, max_retries=0)
    options.update(kw)
    return ProcessPoolJudge(workers, **options)


def test_same_verdicts_spread_over_workers_and_one_shared_cache(tmp_path):
    with LoopbackServer(grading_responder()) as server:
        reference = OpenAIJudge("judge-model", base_url=server.base_url)

        async def ref():
            try:
                return await asyncio.gather(*(reference.grade(CONV, a, RUBRIC) for a in ANSWERS))
            finally:
                await reference.aclose()

        expected = [[v.met for v in vs] for vs in asyncio.run(ref())]
        sent_before = len(server.requests)
        with _pool(server, cache=tmp_path / "judge.sqlite") as pool:
            got = _grade_all(pool)
            assert [[v.met for v in vs] for vs in got] == expected
            assert len(server.requests) - sent_before == len(ANSWERS) * len(RUBRIC)
            per_worker = [snap.get("requests", 0) for snap in pool.worker_snapshots()]
            assert per_worker == [15, 15]  # calls go to the workers in turn
            assert pool.stats.requests == 30 and pool.stats.verdicts == 30 and pool.stats.failures == 0
            again = _grade_all(pool)
            assert len(server.requests) - sent_before == 30  # the re-run is served by the shared cache
            assert all(v.cached for vs in again for v in vs) and pool.stats.cache_hits == 30
            assert len(set(pool.worker_pids()) - {os.getpid(), None}) == 2


def test_server_errors_are_none_verdicts_through_the_workers():
    with LoopbackServer(lambda request, i: Reply(status=500, body={"error": {"message": "down"}})) as server:
        with _pool(server) as pool:
            got = _grade_all(pool, answers=ANSWERS[:2])
    assert all(v.met is None and "HTTP 500" in v.error for vs in got for v in vs)


def test_killed_worker_fails_its_calls_and_is_started_again():
    """Waits on events only: the server's answer never comes in the test's time (120 s), so only
    the noticed death of the worker ends the call; both requests are in the server when it dies."""
    slow = {"delay": 120.0}
    arrived = threading.Event()

    def respond(request, i):
        if i == 1:
            arrived.set()
        return Reply('{"explanation": "ok", "criteria_met": true}', delay=slow["delay"])

    with LoopbackServer(respond) as server:
        with _pool(server, workers=1, timeout=300) as pool:
            victim = pool.worker_pids()[0]

            async def killed_mid_request():
                task = asyncio.ensure_future(pool.grade(CONV, "answer", RUBRIC[:2]))
                assert await asyncio.get_running_loop().run_in_executor(None, arrived.wait, 60)
                os.kill(victim, signal.SIGKILL)
                return await asyncio.wait_for(task, timeout=60)  # far under the 120 s answer

            verdicts = asyncio.run(killed_mid_request())
            assert all(v.met is None and "exited" in v.error for v in verdicts), [v.error for v in verdicts]
            slow["delay"] = 0.0
            after = _grade_all(pool, answers=["another answer"], rubric=RUBRIC[:2])  # at once: no wait for the OS
            assert [v.met for v in after[0]] == [True, True], [v.error for v in after[0]]
            assert pool.worker_pids()[0] not in (None, victim)


def test_a_worker_unreachable_at_the_send_is_replaced_and_the_call_sent_again():
    """A worker whose pipe broke while its process still looks alive (a killed process closes its
    pipe before the OS reports it exited): the call goes to a fresh worker, graded once."""
    with LoopbackServer(grading_responder()) as server:
        with _pool(server, workers=1) as pool:
            stale = pool.worker_pids()[0]
            broken, far_end = multiprocessing.Pipe()
            far_end.close()
            pool._workers[0].conn = broken  # the real pipe stays open: the process and its reader look alive
            got = _grade_all(pool, answers=["an answer"], rubric=RUBRIC[:2])
            assert all(v.met is not None for v in got[0]), [v.error for v in got[0]]
            assert len(server.requests) == 2  # one request per criterion: sent once
            assert pool.worker_pids()[0] not in (None, stale)


def test_rate_and_reward_function_sync_path(tmp_path):
    with LoopbackServer(grading_responder()) as server:
        with _pool(server, cache=tmp_path / "judge.sqlite") as pool:
            rating = asyncio.run(pool.rate(CONV, "answer", RUBRIC))
            assert rating is not None and 1 <= rating <= 10
            func = make_reward_func(pool, "complexity", use_async=False)
            rewards = func(prompts=[CONV] * 3, completions=ANSWERS[:3], rubrics=[RUBRIC] * 3)
            assert len(rewards) == 3 and all(r is not None for r in rewards)


def test_bad_arguments_fail_in_the_parent_and_closed_pool_refuses():
    with pytest.raises(ValueError, match="mode"):
        ProcessPoolJudge(2, model="m", mode="nope")
    with pytest.raises(ValueError, match="workers"):
        ProcessPoolJudge(0, model="m")
    with pytest.raises(TypeError, match="file path"):
        ProcessPoolJudge(2, model="m", cache=object())
    pool = ProcessPoolJudge(1, model="m", base_url="http://127.0.0.1:9/v1")
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(pool.grade(CONV, "answer", RUBRIC))
