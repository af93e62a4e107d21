"""Judge replicas: least-busy routing, failover when a replica dies, rate limits on a fake clock,
cache keys that never see the replica URL. Real HTTP servers on 127.0.0.1 (the loopback server)."""

from __future__ import annotations

import asyncio
from typing import Any
import threading
import time

import openai
import pytest

from heartgrpo.io.chat import ChatClient
from heartgrpo.io.endpoint import Endpoint, EndpointError, EndpointPool, EndpointSettings, RateLimiter
from heartgrpo.eval.generators import OpenAIGenerator
from heartgrpo.judge import OpenAIJudge
from heartgrpo.io.loopback import LoopbackServer, Reply, grading_responder, prompt_of

RUBRIC = [{"criterion": f"Mentions fact {j} about the heart", "points": 3} for j in range(6)]
PROMPT = [{"role": "user", "content": "I have chest pain."}]


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, target)


def test_pick_prefers_least_busy_then_least_sent_and_skips_a_failed_replica_until_its_retry_time() -> None:
    clock = FakeClock()
    pool = EndpointPool(["http://a/v1", "http://b/v1", "http://c/v1"], retry_after=30, clock=clock)
    a, b, c = pool.replicas
    a.in_flight, b.in_flight, c.in_flight = 2, 1, 1
    b.sent, c.sent = 5, 3
    assert pool.pick() is c
    pool.mark_down(c, "connection refused")
    assert pool.pick() is b and pool.pick({b.index}) is a
    clock.now = 29.9
    assert pool.pick() is b
    clock.now = 30.0  # its retry time: healthy again
    assert pool.pick() is c
    for r in pool.replicas:
        pool.mark_down(r, "down")
    a.down_until, b.down_until, c.down_until = 50.0, 40.0, 45.0
    assert pool.pick() is b  # all out: the one due back first is still tried


def test_pool_rejects_an_empty_or_duplicated_list() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EndpointPool([])
    with pytest.raises(ValueError, match="listed twice"):
        EndpointPool(["http://a/v1", "http://a/v1"])


@pytest.mark.parametrize(("limits", "tokens"), [({"requests_per_minute": 60}, 0), ({"tokens_per_minute": 6000}, 100)])
def test_rate_limit_holds_within_5_percent_over_simulated_minutes(limits: dict, tokens: int) -> None:
    clock = FakeClock()
    pool = EndpointPool(["http://a/v1", "http://b/v1"], clock=clock, sleep=clock.sleep, **limits)
    starts: list[float] = []

    async def send(replica):
        starts.append(clock.now)
        return replica.url

    async def main() -> None:
        await asyncio.gather(*(pool.call(send, tokens=tokens) for _ in range(300)))

    t0 = time.perf_counter()
    asyncio.run(main())
    assert time.perf_counter() - t0 < 5  # five simulated minutes, not five real ones
    assert len(starts) == 300
    for minute in range(4):
        n = sum(minute * 60 <= t < (minute + 1) * 60 for t in starts)
        assert 57 <= n <= 63, (minute, n)
    # and no sliding 60 s window ever holds more than the limit (+1 at the closed edge)
    assert max(sum(s <= t < s + 60 for t in starts) for s in starts) <= 60


def test_limiter_without_limits_never_waits() -> None:
    limiter = RateLimiter()
    assert not limiter.active and limiter.reserve(10_000) == 0.0


def _judge(urls, **kw) -> OpenAIJudge:
    return OpenAIJudge("judge", base_url=urls, timeout=5, backoff_base=0.01, backoff_max=0.02, **kw)


def test_requests_spread_over_replicas_and_a_replica_killed_mid_run_loses_no_verdict() -> None:
    servers = [LoopbackServer(grading_responder(0.05)).start() for _ in range(3)]
    victim = servers[1]
    try:
        judge = _judge([s.base_url for s in servers], max_retries=0)  # only failover can save a verdict

        def kill_when_busy() -> None:
            deadline = time.monotonic() + 20
            while len(victim.requests) < 8 and time.monotonic() < deadline:
                time.sleep(0.005)
            victim.stop()

        killer = threading.Thread(target=kill_when_busy)
        killer.start()

        async def main():
            out = await asyncio.gather(*(judge.grade(PROMPT, f"answer {i}", RUBRIC) for i in range(40)))
            await judge.aclose()
            return out

        results = asyncio.run(main())
        killer.join()
        verdicts = [v for vs in results for v in vs]
        assert len(verdicts) == 240 and all(v.met is not None for v in verdicts), [v.error for v in verdicts if v.met is None][:3]
        snap = judge.endpoints.snapshot()
        assert snap[1]["failures"] >= 1 and snap[1]["down"]  # the killed replica was taken out
        assert len(servers[0].requests) > 40 and len(servers[2].requests) > 40  # the others took the rest
        answered_elsewhere = len(servers[0].requests) + len(servers[2].requests)
        assert answered_elsewhere >= 240 - len(victim.requests)
    finally:
        for s in (servers[0], servers[2]):
            s.stop()


def test_cache_keys_are_the_same_for_one_url_or_several(tmp_path) -> None:
    with LoopbackServer(grading_responder()) as one, LoopbackServer(grading_responder()) as two:
        single = _judge(one.base_url, cache=tmp_path / "v.sqlite")
        pooled = _judge([two.base_url, one.base_url], cache=tmp_path / "v.sqlite")
        messages = [{"role": "user", "content": "q"}]
        assert single._key("grade_v1", messages, "r", RUBRIC[0]) == pooled._key("grade_v1", messages, "r", RUBRIC[0])

        async def main():
            first = await single.grade(PROMPT, "cached answer", RUBRIC)
            again = await pooled.grade(PROMPT, "cached answer", RUBRIC)
            await single.aclose()
            await pooled.aclose()
            return first, again

        first, again = asyncio.run(main())
        assert [v.met for v in first] == [v.met for v in again]
        assert len(two.requests) == 0 and pooled.stats.cache_hits == len(RUBRIC)


# ------------------------------------------------------------------ the client layer (heartgrpo.io.endpoint.Endpoint)


def _echo(latency: float = 0.0):
    return lambda request, index: Reply(f"echo {prompt_of(request)}", delay=latency)


def test_endpoint_holds_60_requests_per_minute_over_measured_minutes_against_loopback_servers() -> None:
    clock = FakeClock()
    starts: list[float] = []

    def count(requests: int = 0, **_: int) -> None:
        starts.extend([clock.now] * requests)

    with LoopbackServer(_echo()) as a, LoopbackServer(_echo()) as b:
        endpoint = Endpoint("m", [a.base_url, b.base_url], requests_per_minute=60, max_concurrency=16,
                            clock=clock, sleep=clock.sleep, count=count)

        async def main() -> list[str]:
            try:
                return await asyncio.gather(*(endpoint.ask([{"role": "user", "content": f"q{i}"}], str) for i in range(150)))
            finally:
                await endpoint.aclose()

        t0 = time.perf_counter()
        answers = asyncio.run(main())
        assert time.perf_counter() - t0 < 15  # simulated minutes, not real ones
        assert answers == [f"echo q{i}" for i in range(150)]
        assert len(a.requests) > 30 and len(b.requests) > 30  # both replicas served
    assert len(starts) == 150
    for minute in range(2):
        n = sum(minute * 60 <= t < (minute + 1) * 60 for t in starts)
        assert 57 <= n <= 63, (minute, n)


@pytest.mark.parametrize("user", ["chat_client", "generator"])
def test_data_llm_and_generator_lose_no_answer_when_a_replica_is_killed_mid_run(user: str) -> None:
    servers = [LoopbackServer(_echo(0.05)).start() for _ in range(3)]
    victim = servers[1]
    urls = [s.base_url for s in servers]
    prompts = [f"question {i}" for i in range(45)]
    try:
        killer = threading.Thread(target=_kill_when_busy, args=(victim, 5))
        killer.start()
        if user == "chat_client":
            chat = ChatClient("m", urls, namespace="t", prompt_version="v1", max_retries=0, max_concurrency=16)

            async def main() -> list:
                try:
                    return await chat.map(prompts, lambda p: chat.complete([{"role": "user", "content": p}], str))
                finally:
                    await chat.aclose()

            answers = asyncio.run(main())
            endpoint = chat.endpoint
        else:
            gen = OpenAIGenerator("m", base_url=urls, max_retries=0, concurrency=16)
            answers = gen.generate([[{"role": "user", "content": p}] for p in prompts])
            endpoint = gen.endpoint
        killer.join()
        assert answers == [f"echo {p}" for p in prompts]  # no exception among them: nothing lost
        assert endpoint.pool.snapshot()[1]["failures"] >= 1
        assert len(servers[0].requests) + len(servers[2].requests) >= len(prompts) - len(victim.requests)
    finally:
        for s in (servers[0], servers[2]):
            s.stop()


def _kill_when_busy(victim: LoopbackServer, n: int) -> None:
    deadline = time.monotonic() + 20
    while len(victim.requests) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    victim.stop()


def test_endpoint_retry_policy_and_error_texts() -> None:
    script = {"401": [Reply(status=401)], "503": [Reply(status=503), Reply(status=503), Reply("fine")],
              "closed": [Reply(close=True), Reply(close=True)], "garbled": [Reply(body="not json"), Reply("fine")]}
    outcomes = {}
    for name, replies in script.items():
        with LoopbackServer(lambda request, index, r=replies: r[min(index, len(r) - 1)]) as server:
            counts: dict[str, int] = {}
            endpoint = Endpoint("m", server.base_url, max_retries=2 if name != "closed" else 1, backoff_base=0.001,
                                backoff_max=0.002, count=lambda **n: [counts.__setitem__(k, counts.get(k, 0) + v) for k, v in n.items()])

            async def main():
                try:
                    return await endpoint.ask([{"role": "user", "content": "q"}], str)
                except EndpointError as e:
                    return e
                finally:
                    await endpoint.aclose()

            outcomes[name] = (asyncio.run(main()), len(server.requests), counts)
    err, sent, _ = outcomes["401"]
    assert isinstance(err, EndpointError) and str(err).startswith("HTTP 401") and str(err).endswith("(1 attempt)") and sent == 1
    assert isinstance(err.error, openai.AuthenticationError)
    answer, sent, counts = outcomes["503"]
    assert answer == "fine" and sent == 3 and counts["retries"] == 2 and counts["requests"] == 3
    err, sent, _ = outcomes["closed"]
    assert isinstance(err, EndpointError) and str(err).startswith("connection error") and str(err).endswith("(2 attempts)")
    answer, sent, counts = outcomes["garbled"]
    assert answer == "fine" and counts["parse_errors"] == 1


def test_judge_and_data_settings_share_endpoint_settings() -> None:
    from heartgrpo.config.judge import JudgeSettings
    from heartgrpo.config.data import LLMSettings, RubricGenSettings

    assert issubclass(JudgeSettings, EndpointSettings) and issubclass(LLMSettings, EndpointSettings)
    shared = {"model", "base_url", "api_key_env", "cache", "max_concurrency", "timeout", "max_retries"}
    assert shared <= set(JudgeSettings.model_fields) & set(LLMSettings.model_fields)
    llm = RubricGenSettings(model="m", base_url=["http://a/v1", "http://b/v1"], requests_per_minute=30)
    chat = Endpoint.from_settings(llm)
    assert [r.url for r in chat.pool.replicas] == ["http://a/v1", "http://b/v1"] and chat.pool.limiter.requests_per_minute == 30
    with pytest.raises(ValueError, match="distinct URLs"):
        LLMSettings(model="m", base_url=["http://a/v1", "http://a/v1"])


def test_a_replica_that_answers_retry_after_is_sent_nothing_until_the_wait_is_over() -> None:
    """One URL: the retry waits for the server's Retry-After (not the short backoff). Two URLs whose
    first answers 429 with Retry-After 0.5 s while replicas are otherwise out for 0.05 s: the other
    takes every request until the 0.5 s are over."""
    arrivals: dict[str, list[float]] = {"one": [], "a": [], "b": []}

    def limited(name: str, first: Reply) -> Any:
        def respond(request: dict, index: int) -> Reply:
            arrivals[name].append(time.monotonic())
            return first if index == 0 else Reply('{"criteria_met": true}')
        return respond

    pause = Reply(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "0.5"})
    with LoopbackServer(limited("one", pause)) as one:
        endpoint = Endpoint("m", one.base_url, max_retries=2, backoff_base=0.001, backoff_max=0.002)
        assert asyncio.run(endpoint.ask([{"role": "user", "content": "q"}], str)) == '{"criteria_met": true}'
        assert arrivals["one"][1] - arrivals["one"][0] >= 0.45

    with LoopbackServer(limited("a", pause)) as a, LoopbackServer(limited("b", Reply("ok"))) as b:
        endpoint = Endpoint("m", [a.base_url, b.base_url], max_retries=0, replica_retry_after=0.05)

        async def main() -> list[str]:
            out = []
            for k in range(30):  # one at a time: least-busy routing alone would alternate a and b
                out.append(await endpoint.ask([{"role": "user", "content": f"q{k}"}], str))
                await asyncio.sleep(0.02)
            await endpoint.aclose()
            return out

        answers = asyncio.run(main())
        assert len(answers) == 30
        first_429 = arrivals["a"][0]
        assert arrivals["a"][1:], "the replica is used again once its wait is over"
        assert min(arrivals["a"][1:]) - first_429 >= 0.45
        assert sum(first_429 < t < min(arrivals["a"][1:]) for t in arrivals["b"]) >= 5  # b took them meanwhile


def test_a_loop_that_ends_takes_its_clients_out_of_the_endpoint() -> None:
    """``asyncio.run`` of a request without ``aclose``: the loop's shutdown closes the clients and
    drops them from the endpoint, so the dead loop and its clients are freed."""
    import gc
    import weakref

    loops: list[weakref.ref] = []
    with LoopbackServer(grading_responder()) as server:
        endpoint = Endpoint("m", server.base_url, max_retries=0)

        async def one(k: int) -> str:
            loops.append(weakref.ref(asyncio.get_running_loop()))
            return await endpoint.ask([{"role": "user", "content": f"q{k}"}], str)

        answers = [asyncio.run(one(k)) for k in range(3)]
    gc.collect()
    assert all('"criteria_met"' in a for a in answers)
    assert len(endpoint._loops) == 0 and all(ref() is None for ref in loops)
