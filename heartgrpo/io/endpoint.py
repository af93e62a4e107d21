"""The one async OpenAI-compatible client layer: the judge (:class:`heartgrpo.judge.OpenAIJudge`),
the data-side LLM (:class:`heartgrpo.io.chat.ChatClient`) and the endpoint generator
(:class:`heartgrpo.eval.generators.OpenAIGenerator`) all send their chat completions through an
:class:`Endpoint`.

Per event loop an :class:`Endpoint` holds one ``AsyncOpenAI`` client per replica and a semaphore
of ``max_concurrency`` requests (clients and semaphores are bound to the loop they were made on).
Each request goes through an :class:`~heartgrpo.io.pool.EndpointPool`: least-busy routing
over the replicas of ``base_url`` (one URL or a list), a replica that fails (no connection,
timeout, 429, 5xx) taken out for ``replica_retry_after`` seconds and the request sent again at
once to another (a replica that answered ``Retry-After`` is sent nothing until that wait is over),
and the optional ``requests_per_minute`` / ``tokens_per_minute`` limits (a
request counts ``characters / 4 + max_tokens`` tokens).

Retries (:meth:`Endpoint.ask`): the client's own retries are off; timeouts, connection errors,
408/409/429, 5xx and answers that do not parse (``parse`` raising ``ValueError``) are asked again
up to ``max_retries`` times, waiting ``min(backoff_max, backoff_base * 2**k) * uniform(0.5, 1)``
before retry ``k`` (:mod:`heartgrpo.io.retry`); other errors (a wrong key, model or URL) end at
once. The last failure raises :class:`EndpointError`: its text names the cause and the attempts
(``"timeout after 60 s (4 attempts)"``, ``"HTTP 401: ... (1 attempt)"``), its ``error`` is the
last exception. A ``response_format`` that the server answers 400 to is dropped for the
endpoint's life (``structured_output`` turns False) and the request is sent again at once.

The API key is read from the environment variable ``api_key_env`` when a loop's clients are made;
it is never logged or stored on the object beyond the clients.

Example (against a local vLLM)::

    endpoint = Endpoint("openai/gpt-oss-120b", ["http://gpu0:8000/v1", "http://gpu1:8000/v1"],
                        requests_per_minute=600)
    text = await endpoint.ask([{"role": "user", "content": "Hi"}], str, temperature=0.0)
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heartgrpo.io.pool import EndpointPool, RateLimiter, Replica, replica_fault
from heartgrpo.io.retry import backoff_delay, is_retryable

__all__ = ["Endpoint", "EndpointError", "EndpointPool", "EndpointSettings", "RateLimiter", "Replica",
           "close_clients_on", "describe_error", "replica_fault"]

T = TypeVar("T")
HTTP_BACKENDS = ("auto", "aiohttp", "httpx")


class EndpointSettings(BaseModel):
    """What every OpenAI-compatible endpoint user is configured with (the judge's ``judge:``
    section and the data layer's LLM sections extend it; unknown keys are rejected)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str | None = None
    #: one URL, or a list of replicas of the same endpoint (least-busy routing, failover)
    base_url: str | list[str] | None = None
    api_key_env: str = "OPENAI_API_KEY"
    cache: Path | None = Field(None, description="SQLite cache file; None for no cache")
    max_concurrency: int = Field(8, ge=1)
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)
    #: optional limits on what this endpoint is sent
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    #: seconds a replica that failed is left out before it is tried again
    replica_retry_after: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _distinct_urls(self) -> EndpointSettings:
        if isinstance(self.base_url, list) and (not self.base_url or len(set(self.base_url)) != len(self.base_url)):
            raise ValueError(f"base_url as a list needs distinct URLs, got {self.base_url!r}")
        return self

    def endpoint_kwargs(self) -> dict[str, Any]:
        """Every field of these settings that :class:`Endpoint` takes, by name: the one path from a
        configuration section to the transport. A field added here (or in a subclass) with the name
        of an :class:`Endpoint` parameter reaches every endpoint user (judge, generator, data
        clients) with no other change.

        >>> EndpointSettings(base_url="http://a/v1", timeout=5).endpoint_kwargs()["timeout"]
        5.0
        """
        accepted = endpoint_parameters()
        return {name: getattr(self, name) for name in type(self).model_fields if name in accepted}


def endpoint_parameters() -> frozenset[str]:
    """The keyword parameters of :class:`Endpoint` a configuration may set (not ``model``, which
    is positional, nor the test seams ``client``, ``count``, ``clock`` and ``sleep``)."""
    import inspect

    return frozenset(inspect.signature(Endpoint.__init__).parameters) - {"self", "model", "client", "count", "clock", "sleep"}


class EndpointError(Exception):
    """A request that failed for good: ``str(e)`` is the error text with the attempt count,
    ``e.error`` the last exception, ``e.attempts`` how many were made."""

    def __init__(self, text: str, error: BaseException, attempts: int) -> None:
        super().__init__(text)
        self.error = error
        self.attempts = attempts


class BadResponse(ValueError):
    """An HTTP 200 whose body is not a chat completion (retried like an unparseable answer)."""


def _brief(error: BaseException) -> str:
    return str(error).replace("\n", " ")[:200]


def describe_error(error: BaseException, timeout: float) -> str:
    """The error text of a failed attempt: ``HTTP <status>: ...``, ``timeout after <timeout> s``,
    ``connection error: <root cause>``, ``unparseable answer: ...``. A transport fault is named by
    its root cause (the aiohttp transport reports a dropped connection as a connect timeout)."""
    import openai

    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {_brief(error)}"
    if isinstance(error, openai.APIConnectionError):
        root: BaseException = error
        while root.__cause__ is not None or root.__context__ is not None:
            root = root.__cause__ or root.__context__  # type: ignore[assignment]
        if isinstance(root, TimeoutError) or "Timeout" in type(root).__name__:
            return f"timeout after {timeout:g} s"
        return f"connection error: {type(root).__name__}: {_brief(root)}"
    if isinstance(error, ValueError):
        return f"unparseable answer: {error}"
    return f"{type(error).__name__}: {_brief(error)}"


@dataclass
class _LoopState:
    clients: list[Any]
    semaphore: asyncio.Semaphore
    #: work shared between identical concurrent requests on this loop (the judge's in-flight verdicts)
    tasks: dict[str, asyncio.Future] = field(default_factory=dict)
    #: the loop's hook that closes ``clients`` when the loop shuts down (kept alive here)
    closer: Any = None


async def _close_with_the_loop(clients: list[Any], forget: Callable[[], None]) -> Any:
    """An async generator held suspended on its loop: ``asyncio.run`` (and any runner calling
    ``loop.shutdown_asyncgens()``) finalises it before closing the loop, which closes ``clients``
    and calls ``forget`` (the endpoint drops the loop's state: the clients refer to their loop, so
    a state left in the endpoint's weak table would keep the dead loop and its clients alive).
    Each ``asyncio.run(judge.grade(...))`` of a notebook, and each call of a sync reward function,
    thus closes and frees the clients it made."""
    try:
        yield
    finally:
        try:
            for client in clients:
                await client.close()
        finally:
            forget()


def _hook_to_loop(clients: list[Any], forget: Callable[[], None]) -> Any:
    """Start :func:`_close_with_the_loop` on the running loop (its first step runs synchronously
    up to the ``yield``, which registers it with the loop's async-generator hooks)."""
    closer = _close_with_the_loop(clients, forget)
    try:
        closer.asend(None).send(None)
    except StopIteration:
        pass
    return closer


#: every endpoint alive, so :func:`close_clients_on` can reach the clients they made on one loop
_ENDPOINTS: weakref.WeakSet[Endpoint] = weakref.WeakSet()


def close_clients_on(loop: asyncio.AbstractEventLoop | None, timeout: float = 30.0) -> int:
    """Close, on ``loop``, the clients every endpoint made there, and leave the loop running;
    returns how many endpoints had clients on it.

    For a loop that runs in another thread and that no ``asyncio.run`` will shut down: TRL's
    ``GRPOTrainer`` gathers ``async def`` reward functions on a daemon-thread loop of its own
    (``trainer.async_loop``) that it only stops at exit, so the judge's HTTP clients on it would
    otherwise be left open. Called from this thread while ``loop`` runs; a later request on that
    loop makes new clients. A loop that is None, closed or not running has nothing to close: 0.
    """
    if loop is None or loop.is_closed() or not loop.is_running():
        return 0

    async def close_all() -> int:
        here = [e for e in list(_ENDPOINTS) if loop in e._loops]
        for endpoint in here:
            await endpoint.aclose()
        return len(here)

    return asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout)


class Endpoint:
    """Chat completions from one OpenAI-compatible endpoint or a pool of its replicas; see the module docstring.

    ``client``: an ``AsyncOpenAI``-like object to use on every loop instead of making one (it is
    not closed here). ``count(**counters)`` is called with ``requests=1`` per request sent,
    ``retries=1`` per retry and ``parse_errors=1`` per unparseable answer.
    """

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        *,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        replica_retry_after: float = 30.0,
        structured_output: bool = True,
        extra_body: dict[str, Any] | None = None,
        http_backend: str = "httpx",
        client: Any = None,
        count: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if http_backend not in HTTP_BACKENDS:
            raise ValueError(f"http_backend must be auto, aiohttp or httpx, got {http_backend!r}")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.structured_output = structured_output
        self.extra_body = dict(extra_body or {})
        self.http_backend = http_backend
        self.pool = EndpointPool(None if client is not None else base_url, retry_after=replica_retry_after,
                                 requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                                 clock=clock, sleep=sleep)
        self._client = client
        self._count = count or (lambda **_: None)
        self._sleep = sleep
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        _ENDPOINTS.add(self)

    def __repr__(self) -> str:  # never shows the key
        return f"Endpoint(model={self.model!r}, base_url={self.base_url!r})"

    @classmethod
    def from_settings(cls, settings: EndpointSettings, **kwargs: Any) -> Endpoint:
        """An endpoint for ``settings`` (``kwargs`` add to or override its fields)."""
        return cls(settings.model or "", **{**settings.endpoint_kwargs(), **kwargs})

    # -- per-loop clients -------------------------------------------------------------------------

    def state(self) -> _LoopState:
        """This event loop's clients (one per replica), semaphore and shared tasks."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            if self._client is not None:
                clients = [self._client]
            else:
                from openai import AsyncOpenAI

                key = os.environ.get(self.api_key_env) or "EMPTY"
                clients = [AsyncOpenAI(base_url=r.url, api_key=key, timeout=self.timeout, max_retries=0,
                                       http_client=self._http_client()) for r in self.pool.replicas]
            closer = None if self._client is not None else _hook_to_loop(clients, lambda: self._loops.pop(loop, None))
            state = self._loops[loop] = _LoopState(clients, asyncio.Semaphore(self.max_concurrency), closer=closer)
        return state

    def _http_client(self) -> Any:
        """The aiohttp transport when asked for (``auto``: when installed; httpx's own pool slows
        down badly with many concurrent requests on one loop), else None for the default httpx."""
        if self.http_backend == "httpx":
            return None
        try:
            import httpx
            import httpx_aiohttp  # noqa: F401  (needed by DefaultAioHttpClient)
            from openai import DefaultAioHttpClient
        except ImportError:
            if self.http_backend == "aiohttp":
                raise
            return None
        n = max(self.max_concurrency, 10)
        return DefaultAioHttpClient(timeout=self.timeout, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))

    async def aclose(self) -> None:
        """Close the clients this endpoint made on the running loop (without it, they close
        when the loop shuts down: ``asyncio.run`` and ``loop.shutdown_asyncgens()``)."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None and state.closer is not None:
            await state.closer.aclose()

    # -- requests ---------------------------------------------------------------------------------

    async def complete(self, body: dict[str, Any], tokens: int = 0) -> str:
        """One chat completion of ``body`` through the pool (failover, rate limits, concurrency);
        returns the answer text. Raises openai errors as they come, :class:`BadResponse` for a
        body that is not a chat completion."""
        import httpx

        state = self.state()

        # ``post`` with a raw httpx response skips the SDK's per-request pydantic transforms
        # (about 1.5 ms of CPU each), which dominate when 100+ requests share one event loop;
        # auth, timeouts and the mapping of HTTP errors to openai exceptions are unchanged.
        async def send(replica: Replica) -> bytes:
            self._count(requests=1)
            raw = await state.clients[replica.index].post("/chat/completions", cast_to=httpx.Response, body=body)
            return await raw.aread()

        async with state.semaphore:
            data = await self.pool.call(send, tokens=tokens, is_fault=replica_fault)
        try:
            return json.loads(data)["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise BadResponse(f"not a chat completion: {data[:120]!r}") from None

    async def ask(self, messages: Sequence[dict[str, Any]], parse: Callable[[str], T], *,
                  response_format: dict[str, Any] | None = None, **params: Any) -> T:
        """``parse(answer text)`` of a chat completion of ``messages`` with body fields ``params``
        (``temperature``, ``max_tokens``, ...; None values left out), retried as the module
        docstring says; raises :class:`EndpointError` after the last attempt."""
        body = {"model": self.model, "messages": list(messages), **{k: v for k, v in params.items() if v is not None}}
        tokens = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4 + int(params.get("max_tokens") or 0)
        attempt = 0
        while True:
            structured = response_format is not None and self.structured_output
            sent = {**body, **({"response_format": response_format} if structured else {}), **self.extra_body}
            try:
                return parse(await self.complete(sent, tokens))
            except Exception as error:
                import openai

                if structured and isinstance(error, openai.BadRequestError):
                    self.structured_output = False  # the server rejects response_format: plain JSON from now on
                    continue
                if isinstance(error, ValueError):
                    self._count(parse_errors=1)
                elif not isinstance(error, openai.APIError):
                    raise
                if not is_retryable(error) or attempt >= self.max_retries:
                    n = attempt + 1
                    raise EndpointError(f"{describe_error(error, self.timeout)} ({n} attempt{'s' if n != 1 else ''})",
                                        error, n) from error
            self._count(retries=1)
            await self._sleep(backoff_delay(attempt, self.backoff_base, self.backoff_max))
            attempt += 1
