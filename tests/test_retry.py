"""heartgrpo.io.retry (one retry policy) and the data-side ChatClient that follows it, against a real
loopback server."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from data_fixtures import ChatServer
from heartgrpo.io.chat import ChatClient
from heartgrpo.io.retry import backoff_delay, is_retryable, retryable_status


@pytest.mark.parametrize(("status", "retry"), [(400, False), (401, False), (403, False), (404, False), (422, False),
                                               (408, True), (409, True), (429, True), (500, True), (503, True)])
def test_retryable_status(status, retry):
    assert retryable_status(status) is retry


def test_backoff_doubles_with_jitter_and_is_capped():
    for attempt, (low, high) in enumerate([(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)]):
        delays = [backoff_delay(attempt, base=0.5, cap=5.0) for _ in range(200)]
        assert low <= min(delays) and max(delays) <= high
        assert max(delays) - min(delays) > 0.1 * (high - low)  # jittered, not a constant
    with pytest.raises(ValueError):
        backoff_delay(-1)


def test_is_retryable_on_real_openai_errors():
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")

    def status_error(code: int) -> openai.APIStatusError:
        return openai.APIStatusError("x", response=httpx.Response(code, request=request), body=None)

    assert is_retryable(openai.APITimeoutError(request=request))
    assert is_retryable(openai.APIConnectionError(request=request))
    assert is_retryable(status_error(429)) and is_retryable(status_error(502))
    assert not is_retryable(status_error(401)) and not is_retryable(status_error(404))
    assert is_retryable(json.JSONDecodeError("bad", "doc", 0))  # a malformed answer is asked again
    assert not is_retryable(RuntimeError("a bug"))


def _chat(server: ChatServer, **kw) -> ChatClient:
    return ChatClient("m", base_url=server.base_url, namespace="t", prompt_version="v1", backoff_base=0.01, **kw)


def test_chat_client_does_not_retry_a_wrong_key():
    with ChatServer(lambda body: 401) as server:
        chat = _chat(server, max_retries=3)
        with pytest.raises(openai.AuthenticationError):
            asyncio.run(chat.complete([{"role": "user", "content": "hi"}], str))
        assert len(server.requests) == 1 and chat.stats["failures"] == 1


def test_chat_client_retries_429_and_malformed_then_caches(tmp_path):
    script = iter([429, "not json", json.dumps({"ok": True})])
    with ChatServer(lambda body: next(script)) as server:
        chat = _chat(server, max_retries=2, cache=tmp_path / "c.sqlite")
        assert asyncio.run(chat.complete([{"role": "user", "content": "hi"}], json.loads)) == {"ok": True}
        assert len(server.requests) == 3
        again = _chat(server, cache=tmp_path / "c.sqlite")
        assert asyncio.run(again.complete([{"role": "user", "content": "hi"}], json.loads)) == {"ok": True}
        assert len(server.requests) == 3 and again.stats["cache_hits"] == 1


def test_retry_after_is_read_as_seconds_milliseconds_or_a_date_and_capped():
    from heartgrpo.io.retry import RETRY_AFTER_CAP, retry_after_seconds

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    error = openai.RateLimitError("slow down", response=httpx.Response(429, request=request, headers={"Retry-After": "1.5"}), body=None)
    assert retry_after_seconds(error) == 1.5
    assert retry_after_seconds({"retry-after-ms": "200", "Retry-After": "9"}) == 0.2  # the finer one wins
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 1970 00:00:30 GMT"}, now=20.0) == 10.0
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 1970 00:00:30 GMT"}, now=40.0) == 0.0  # already past
    assert retry_after_seconds({"Retry-After": "86400"}) == RETRY_AFTER_CAP
    assert retry_after_seconds({"Retry-After": "later"}) is None and retry_after_seconds({}) is None
    assert retry_after_seconds(RuntimeError("no response")) is None
