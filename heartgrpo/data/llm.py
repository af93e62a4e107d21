"""Small OpenAI-compatible chat helper with a persistent SQLite cache, for data-side LLM calls.

Used by the optional LLM heart classifier and the reasoning-trace augmentation. Any
OpenAI-compatible endpoint works (a local ``vllm serve``, OpenAI, Groq, Together, ...).

Cache: :class:`heartgrpo.store.SqliteStore` (one table ``(key TEXT PRIMARY KEY, value TEXT)``,
WAL, each write its own transaction); the key is the SHA-256 of ``(namespace, model, prompt
version, messages)``; only successfully parsed results are stored.

Example:
    >>> cache = SqliteCache(":memory:")
    >>> cache.set("k", {"a": 1}); cache.get("k")
    {'a': 1}
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from heartgrpo.store import SqliteStore, json_digest
from heartgrpo.retry import backoff_delay, is_retryable

__all__ = ["ChatClient", "SqliteCache", "cache_key"]

T = TypeVar("T")


class SqliteCache(SqliteStore):
    """A JSON value cache in one SQLite file (``":memory:"`` for a throwaway cache):
    :class:`heartgrpo.store.SqliteStore` with its ``cache (key, value)`` table."""

    def set(self, key: str, value: Any) -> None:
        self.put(key, value)


def cache_key(*parts: Any) -> str:
    """SHA-256 over the JSON form of ``parts`` (:func:`heartgrpo.store.json_digest`)."""
    return json_digest(*parts)


class ChatClient:
    """Async chat completions against an OpenAI-compatible endpoint, with retries and a cache.

    ``complete(messages, parse)`` returns ``parse(text)`` or raises: at once for an error no retry
    can fix (401, 404, other 4xx), else the last error after ``max_retries`` further attempts
    (retry policy and jittered backoff: :mod:`heartgrpo.retry`). ``parse`` raising
    ``ValueError`` counts as a failed attempt, so a malformed answer is re-asked, never cached.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        *,
        namespace: str,
        prompt_version: str,
        cache: str | Path | SqliteCache | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_concurrency: int = 8,
        client: Any = None,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.namespace = namespace
        self.prompt_version = prompt_version
        self.cache = SqliteCache(cache) if isinstance(cache, (str, Path)) else cache
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self._client = client
        self._owns_client = client is None
        self.stats = {"requests": 0, "cache_hits": 0, "failures": 0}

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=os.environ.get(self.api_key_env) or "EMPTY",
                timeout=self.timeout,
                max_retries=0,
            )
        return self._client

    async def complete(self, messages: Sequence[dict[str, str]], parse: Callable[[str], T]) -> T:
        key = cache_key(self.namespace, self.model, self.prompt_version, list(messages))
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats["cache_hits"] += 1
                return parse(hit)
        client = self._get_client()
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                self.stats["requests"] += 1
                kwargs: dict[str, Any] = {"model": self.model, "messages": list(messages), "temperature": self.temperature}
                if self.max_tokens is not None:
                    kwargs["max_tokens"] = self.max_tokens
                response = await client.chat.completions.create(**kwargs)
                try:
                    text = response.choices[0].message.content or ""
                except (AttributeError, IndexError, TypeError):
                    raise ValueError(f"not a chat completion: {str(response)[:120]}") from None
                value = parse(text)
            except Exception as exc:
                last = exc
                if not is_retryable(exc):
                    break
                if attempt < self.max_retries:
                    await asyncio.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_max))
                continue
            if self.cache is not None:
                self.cache.set(key, text)
            return value
        self.stats["failures"] += 1
        assert last is not None
        raise last

    async def aclose(self) -> None:
        """Close a client this object created (it is bound to the running event loop)."""
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None

    async def map(self, items: Sequence[Any], call: Callable[[Any], Awaitable[T]]) -> list[T | BaseException]:
        """Apply ``call`` to every item with at most ``max_concurrency`` in flight; errors are returned."""
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def one(item: Any) -> T:
            async with semaphore:
                return await call(item)

        return list(await asyncio.gather(*(one(i) for i in items), return_exceptions=True))
