"""Optional reasoning-trace augmentation (the paper had an LLM write a clinical reasoning trace
for each record from its question and reference answer).

``ReasoningAugmenter.augment(records)`` returns new records in which every record without a
``reasoning`` field (or all of them with ``overwrite=True``) gets one. Calls go through an
OpenAI-compatible endpoint and are cached in SQLite, so a re-run is free and an interrupted run
resumes. A record whose trace could not be written after retries raises (or, with
``on_failure="skip"``, is left without reasoning and counted in ``stats``).

Example::

    aug = ReasoningAugmenter("gpt-oss-120b", base_url="http://localhost:8000/v1", cache="cache/reasoning.sqlite")
    records = aug.augment(records)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from heartgrpo.answer_format import REASONING_END, REASONING_START, THINK_END, THINK_START
from heartgrpo.io.asyncs import run_sync
from heartgrpo.io.chat import ChatClient, SqliteCache
from heartgrpo.records import user_text

__all__ = ["PROMPT_VERSION", "ReasoningAugmenter", "parse_reasoning"]

PROMPT_VERSION = "reasoning-trace-v1"

_SYSTEM = (
    "You are a cardiologist teaching clinical reasoning. Given a patient question and a reference "
    "answer, write the step-by-step clinical reasoning that leads from the question to that answer: "
    "the key facts, the differential or mechanisms considered, the red flags checked and why the "
    "answer follows. Do not restate the answer verbatim and do not add a final answer section. "
    "Write plain prose, at most 250 words."
)


def parse_reasoning(text: str) -> str:
    """Strip whitespace and any wrapping tags; an empty trace is an error (re-asked)."""
    cleaned = text.strip()
    for tag in (REASONING_START, REASONING_END, THINK_START, THINK_END):
        cleaned = cleaned.replace(tag, "")
    cleaned = cleaned.strip()
    if len(cleaned.split()) < 5:
        raise ValueError(f"reasoning trace too short: {text[:80]!r}")
    return cleaned


class ReasoningAugmenter:
    """Writes ``reasoning`` for canonical records through an OpenAI-compatible model, cached."""

    def __init__(self, model: str, base_url: str | list[str] | None = None, api_key_env: str = "OPENAI_API_KEY", *,
                 cache: str | Path | SqliteCache | None = None, temperature: float = 0.3, max_tokens: int = 512,
                 overwrite: bool = False, on_failure: Literal["error", "skip"] = "error", client: Any = None,
                 **endpoint: Any) -> None:
        """``endpoint``: :class:`~heartgrpo.io.endpoint.Endpoint` keywords (``timeout``: 120 s here, ``max_retries``, ...)."""
        self.overwrite = overwrite
        self.on_failure = on_failure
        self.chat = ChatClient(model, base_url, api_key_env, namespace="reasoning-trace", prompt_version=PROMPT_VERSION,
                               cache=cache, temperature=temperature, max_tokens=max_tokens, client=client,
                               **{"timeout": 120.0, **endpoint})
        self.stats = {"written": 0, "kept": 0, "failed": 0}

    @staticmethod
    def messages(record: dict[str, Any]) -> list[dict[str, str]]:
        answer = record.get("reference_answer") or "(no reference answer)"
        body = f"Question:\n{user_text(record['prompt'])}\n\nReference answer:\n{answer}"
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": body}]

    async def _one(self, record: dict[str, Any]) -> str:
        return await self.chat.complete(self.messages(record), parse_reasoning)

    async def aaugment(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        todo = [r for r in records if self.overwrite or not (r.get("reasoning") or "").strip()]
        try:
            results = await self.chat.map(todo, self._one)
        finally:
            await self.chat.aclose()
        written = {id(r): res for r, res in zip(todo, results)}
        out = []
        for record in records:
            if id(record) not in written:
                self.stats["kept"] += 1
                out.append(dict(record))
                continue
            result = written[id(record)]
            if isinstance(result, BaseException):
                self.stats["failed"] += 1
                if self.on_failure == "error":
                    raise RuntimeError(f"row {record.get('id')!r}: reasoning trace failed: {result}") from result
                out.append(dict(record))
                continue
            self.stats["written"] += 1
            out.append({**record, "reasoning": result})
        return out

    def augment(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return run_sync(lambda: self.aaugment(records))
