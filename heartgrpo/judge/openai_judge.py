"""LLM judge over any OpenAI-compatible chat endpoint (vLLM, OpenAI, Groq, Together, ``transformers serve``).

Modes:

* ``per_criterion``: one request per criterion with a HealthBench-style grader prompt, answer
  ``{"explanation", "criteria_met"}``.
* ``batched``: one request per response, answer ``{"verdicts": [{"id", "explanation",
  "criteria_met"}]}``; ids that are missing or duplicated are re-asked singly.
* :meth:`OpenAIJudge.rate`: one holistic 1..10 rating over all criteria (RaR-Implicit).

Transport (:class:`heartgrpo.io.endpoint.Endpoint`): per-loop clients, ``max_concurrency``,
retries of timeouts, connection errors, 408/409/429, 5xx and unparseable answers up to
``max_retries`` times with jittered backoff (``delay = min(backoff_max, backoff_base * 2**k) *
uniform(0.5, 1)``), replicas (``base_url`` may be a list: least-busy routing, a failed replica
taken out for ``replica_retry_after`` seconds, the request sent to another before any retry is
spent) and optional ``requests_per_minute`` / ``tokens_per_minute`` limits. After the last
attempt the verdict is ``Verdict(met=None, error=...)`` — never ``False``. Structured output
(``response_format`` JSON schema) is sent when ``structured_output=True`` and dropped for the
rest of the judge's life if the server answers 400 to it. Cache keys never include the URL: a
verdict cached through one replica is a hit through any other. The API key is read from the
environment variable named by ``api_key_env``; it is never logged or cached.

Example (against a local vLLM)::

    judge = OpenAIJudge("openai/gpt-oss-120b", base_url="http://127.0.0.1:8000/v1",
                        api_key_env="VLLM_API_KEY", mode="batched", cache="runs/judge.sqlite")
    verdicts = await judge.grade([{"role": "user", "content": "..."}], "answer", rubric)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from heartgrpo.io.asyncs import gather_staggered
from heartgrpo.io.endpoint import Endpoint, EndpointError
from heartgrpo.judge.cache import VerdictCache, cache_key
from heartgrpo.judge.parsing import parse_batched, parse_rating, parse_verdict
from heartgrpo.judge.prompts import render
from heartgrpo.judge.types import JudgeStats, Verdict, as_messages

__all__ = ["OpenAIJudge"]

T = TypeVar("T")
MODES = ("per_criterion", "batched")

_VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"explanation": {"type": "string"}, "criteria_met": {"type": "boolean"}},
    "required": ["explanation", "criteria_met"],
    "additionalProperties": False,
}
_BATCHED_SCHEMA = {
    "type": "object",
    "properties": {
        "verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "explanation": {"type": "string"},
                    "criteria_met": {"type": "boolean"},
                },
                "required": ["id", "explanation", "criteria_met"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["verdicts"],
    "additionalProperties": False,
}
_RATING_SCHEMA = {
    "type": "object",
    "properties": {"explanation": {"type": "string"}, "rating": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["explanation", "rating"],
    "additionalProperties": False,
}


def _criterion(c: Any) -> dict:
    """Canonical criterion dict (Criterion objects and dicts alike); points as float."""
    if hasattr(c, "to_dict"):
        c = c.to_dict()
    if "criterion" not in c or "points" not in c:
        raise ValueError(f"a criterion needs 'criterion' and 'points', got keys {sorted(c)}")
    return {"criterion": str(c["criterion"]), "points": float(c["points"])}


class OpenAIJudge:
    """Async rubric judge over the official ``openai`` client; see the module docstring."""

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        mode: str = "per_criterion",
        max_concurrency: int = 64,
        timeout: float = 60.0,
        max_retries: int = 3,
        cache: str | os.PathLike[str] | VerdictCache | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        http_backend: str = "auto",
        **endpoint_options: Any,
    ) -> None:
        """``endpoint_options``: any other :class:`~heartgrpo.io.endpoint.Endpoint` keyword
        (``structured_output``, ``extra_body``, ``backoff_base``/``backoff_max``,
        ``requests_per_minute``/``tokens_per_minute``, ``replica_retry_after``, ...)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.mode = mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache = cache if isinstance(cache, VerdictCache) or cache is None else VerdictCache(Path(cache))
        self.stats = JudgeStats()
        # replicas, failover, rate limits, retries; never part of a cache key
        self.endpoint = Endpoint(
            model, base_url, api_key_env, max_concurrency=max_concurrency, timeout=timeout, max_retries=max_retries,
            http_backend=http_backend, count=lambda **n: self.stats.add(**n), **endpoint_options,
        )
        self.endpoints = self.endpoint.pool

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIJudge(model={self.model!r}, base_url={self.base_url!r}, mode={self.mode!r})"

    @property
    def structured_output(self) -> bool:
        return self.endpoint.structured_output

    @structured_output.setter
    def structured_output(self, value: bool) -> None:
        self.endpoint.structured_output = value

    async def aclose(self) -> None:
        """Close the HTTP clients of the running loop."""
        await self.endpoint.aclose()

    async def _ask(self, prompt: str, schema_name: str, schema: dict, parse: Callable[[str], T]) -> tuple[T | None, str | None]:
        """Request + parse with retries; returns (parsed, None) or (None, error)."""
        response_format = {"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema, "strict": True}}
        try:
            parsed = await self.endpoint.ask([{"role": "user", "content": prompt}], parse, response_format=response_format,
                                             temperature=self.temperature, max_tokens=self.max_tokens)
        except EndpointError as e:
            return None, str(e)
        return parsed, None

    # ---------------------------------------------------------------------------------------
    # grading
    # ---------------------------------------------------------------------------------------

    def _key(self, template: str, messages: list[dict], response: str, criterion: Any) -> str:
        return cache_key(self.model, render.load_template(template).identity, messages, response, criterion)

    def _lookup(self, keys: Sequence[Sequence[str]]) -> list[Verdict | None]:
        """For each criterion's candidate keys (in order of preference), the first cached verdict."""
        if self.cache is None:
            return [None] * len(keys)
        found = self.cache.get_verdicts([k for ks in keys for k in ks])
        out = [next((found[k] for k in ks if k in found), None) for ks in keys]
        hits = sum(v is not None for v in out)
        self.stats.add(cache_hits=hits, cache_misses=len(out) - hits)
        return out

    def _store(self, key: str, verdict: Verdict) -> None:
        if self.cache is not None and verdict.met is not None:
            self.cache.put_verdict(key, verdict)

    async def _grade_one(self, messages: list[dict], response: str, criterion: dict, key: str) -> Verdict:
        """Per-criterion request (cache key ``key``), shared between identical concurrent calls on this loop."""
        inflight = self.endpoint.state().tasks
        task = inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._grade_one_uncached(key, messages, response, criterion))
            inflight[key] = task
            task.add_done_callback(lambda _t: inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _grade_one_uncached(self, key: str, messages: list[dict], response: str, criterion: dict) -> Verdict:
        prompt = render.grade_prompt(messages, response, criterion)
        parsed, error = await self._ask(prompt, "verdict", _VERDICT_SCHEMA, lambda t: parse_verdict(t, echo_of=prompt))
        verdict = Verdict(parsed[0], parsed[1]) if parsed is not None else Verdict.failed(error or "unknown error")
        self._store(key, verdict)
        return verdict

    async def _grade_batched(self, messages: list[dict], response: str, criteria: list[dict],
                             keys: list[list[str]]) -> list[Verdict]:
        """One request for ``criteria``; ``keys[j]`` = (batched-answer key, per-criterion key) of criterion j."""
        ids = render.criterion_ids(len(criteria))
        prompt = render.batched_prompt(messages, response, criteria, ids)
        parsed, error = await self._ask(
            prompt, "verdicts", _BATCHED_SCHEMA, lambda t: parse_batched(t, ids, echo_of=prompt)
        )
        if parsed is None:
            return [Verdict.failed(error or "unknown error") for _ in criteria]
        out: list[Verdict | None] = []
        for i, (batched_key, _) in zip(ids, keys):
            found = parsed[i]
            if len(found) == 1:
                verdict = Verdict(found[0][0], found[0][1])
                self._store(batched_key, verdict)
                out.append(verdict)
            else:  # missing or duplicated id: re-ask this one criterion on its own
                out.append(None)
        singles = [j for j, v in enumerate(out) if v is None]
        again = await gather_staggered(self._grade_one(messages, response, criteria[j], keys[j][1]) for j in singles)
        for j, verdict in zip(singles, again):
            out[j] = verdict
        return [v for v in out if v is not None]

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        """One verdict per criterion, in order (see the module docstring for modes and failure)."""
        messages = as_messages(prompt)
        criteria = [_criterion(c) for c in rubrics]
        single = [self._key(render.GRADE_TEMPLATE, messages, response, c) for c in criteria]
        if self.mode == "batched":
            keys = [[self._key(render.BATCHED_TEMPLATE, messages, response, c), k] for c, k in zip(criteria, single)]
        else:
            keys = [[k] for k in single]
        results = self._lookup(keys)
        todo = [j for j, v in enumerate(results) if v is None]
        if todo:
            if self.mode == "batched":
                fresh = await self._grade_batched(messages, response, [criteria[j] for j in todo], [keys[j] for j in todo])
            else:
                fresh = await gather_staggered(self._grade_one(messages, response, criteria[j], single[j]) for j in todo)
            for j, verdict in zip(todo, fresh):
                results[j] = verdict
        verdicts = [v for v in results if v is not None]
        self.stats.add(verdicts=len(verdicts), failures=sum(v.met is None for v in verdicts))
        return verdicts

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        """Holistic 1..10 rating over all criteria (RaR-Implicit), or None after the last retry."""
        messages = as_messages(prompt)
        criteria = [_criterion(c) for c in rubrics]
        key = cache_key(self.model, render.load_template(render.RATE_TEMPLATE).identity, messages, response, criteria)
        if self.cache is not None:
            hit = self.cache.get_rating(key)
            self.stats.add(**({"cache_hits": 1} if hit is not None else {"cache_misses": 1}))
            if hit is not None:
                self.stats.add(ratings=1)
                return hit
        text = render.rate_prompt(messages, response, criteria)
        parsed, _error = await self._ask(text, "rating", _RATING_SCHEMA, lambda t: parse_rating(t, echo_of=text))
        self.stats.add(ratings=1, rating_failures=int(parsed is None))
        if parsed is None:
            return None
        if self.cache is not None:
            self.cache.put_rating(key, parsed[0], parsed[1])
        return parsed[0]
