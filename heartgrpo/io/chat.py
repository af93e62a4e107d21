"""Small OpenAI-compatible chat helper with a persistent SQLite cache, for data-side LLM calls.

Used by the optional LLM heart classifier and the reasoning-trace augmentation. Any
OpenAI-compatible endpoint works (a local ``vllm serve``, OpenAI, Groq, Together, ...).

Cache: :class:`heartgrpo.io.store.SqliteStore` (one table ``(key TEXT PRIMARY KEY, value TEXT)``,
WAL, each write its own transaction); the key is the SHA-256 of ``(namespace, model, prompt
version, messages)``; only successfully parsed results are stored.

Example:
    >>> cache = SqliteCache(":memory:")
    >>> cache.set("k", {"a": 1}); cache.get("k")
    {'a': 1}
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from heartgrpo.io.endpoint import Endpoint, EndpointError
from heartgrpo.io.store import SqliteStore, json_digest

__all__ = ["ChatClient", "SqliteCache", "cache_key"]

T = TypeVar("T")


class SqliteCache(SqliteStore):
    """A JSON value cache in one SQLite file (``":memory:"`` for a throwaway cache):
    :class:`heartgrpo.io.store.SqliteStore` with its ``cache (key, value)`` table."""

    def set(self, key: str, value: Any) -> None:
        self.put(key, value)


def cache_key(*parts: Any) -> str:
    """SHA-256 over the JSON form of ``parts`` (:func:`heartgrpo.io.store.json_digest`)."""
    return json_digest(*parts)


class ChatClient:
    """Async chat completions against an OpenAI-compatible endpoint, with retries and a cache.

    The transport is a :class:`heartgrpo.io.endpoint.Endpoint` (per-loop client, ``max_concurrency``,
    replicas when ``base_url`` is a list, optional ``requests_per_minute`` / ``tokens_per_minute``,
    the one retry policy of :mod:`heartgrpo.io.retry`). ``complete(messages, parse)`` returns
    ``parse(text)`` or raises the endpoint's last error: at once for an error no retry can fix
    (401, 404, other 4xx), else after ``max_retries`` further attempts. ``parse`` raising
    ``ValueError`` counts as a failed attempt, so a malformed answer is re-asked, never cached.
    """

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        *,
        namespace: str,
        prompt_version: str,
        cache: str | Path | SqliteCache | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        client: Any = None,
        **endpoint_options: Any,
    ) -> None:
        """``endpoint_options``: any :class:`~heartgrpo.io.endpoint.Endpoint` keyword (``timeout``,
        ``max_retries``, ``max_concurrency``, rate limits, ...; backoff 0.2 s doubling to 5 s here)."""
        self.model = model
        self.namespace = namespace
        self.prompt_version = prompt_version
        self.cache = SqliteCache(cache) if isinstance(cache, (str, Path)) else cache
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.stats = {"requests": 0, "cache_hits": 0, "failures": 0}
        options = {"max_concurrency": 8, "backoff_base": 0.2, "backoff_max": 5.0, **endpoint_options}
        self.endpoint = Endpoint(model, base_url, api_key_env, client=client, count=self._count, **options)
        self.max_concurrency = self.endpoint.max_concurrency

    def _count(self, requests: int = 0, **_: int) -> None:
        self.stats["requests"] += requests

    async def complete(self, messages: Sequence[dict[str, str]], parse: Callable[[str], T]) -> T:
        key = cache_key(self.namespace, self.model, self.prompt_version, list(messages))
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats["cache_hits"] += 1
                return parse(hit)
        answer: list[str] = []

        def keep(text: str) -> T:
            value = parse(text)
            answer.append(text)
            return value

        try:
            value = await self.endpoint.ask(messages, keep, temperature=self.temperature, max_tokens=self.max_tokens)
        except EndpointError as e:
            self.stats["failures"] += 1
            raise e.error from None
        if self.cache is not None:
            self.cache.set(key, answer[-1])
        return value

    async def aclose(self) -> None:
        """Close the client this object made on the running event loop (a ``client`` given is left open)."""
        await self.endpoint.aclose()

    async def map(self, items: Sequence[Any], call: Callable[[Any], Awaitable[T]]) -> list[T | BaseException]:
        """Apply ``call`` to every item with at most ``max_concurrency`` in flight; errors are returned."""
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def one(item: Any) -> T:
            async with semaphore:
                return await call(item)

        return list(await asyncio.gather(*(one(i) for i in items), return_exceptions=True))
