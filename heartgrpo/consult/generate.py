"""``heartgrpo cases generate``: an LLM writes case cards; the card schema and checks accept them.

As ``rubrics generate`` (:mod:`heartgrpo.rubricgen.generate`): each request (a topic and an index)
is sent with the versioned system prompt ``prompts/case_gen_v1.txt`` to an OpenAI-compatible
endpoint through :class:`heartgrpo.io.chat.ChatClient` (retries, SQLite cache keyed by the
prompt's hash: a rerun costs no request). The answer is parsed as JSON (a fenced block is
accepted), validated by :func:`~heartgrpo.consult.cards.parse_card` and checked by
:func:`~heartgrpo.consult.cards.card_problems`; a card that fails is regenerated with the problems
quoted back, up to ``max_attempts`` times in all, and then written to ``failed.jsonl``, never
dropped. Accepted cards are appended at once to ``cases.jsonl`` (loadable by
:func:`~heartgrpo.consult.cards.load_cards`); a rerun skips the requests already accepted.

    >>> parse_answer('```json\\n{"id": "x"}\\n```')
    {'id': 'x'}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from heartgrpo.consult.cards import TOPICS, CardError, CaseCard, card_problems, parse_card

__all__ = ["PROMPT_NAME", "CaseGenResult", "generate_cases", "parse_answer", "prompt_identity", "request_ids"]

PROMPT_NAME = "case_gen_v1"


@lru_cache(maxsize=None)
def _system_prompt() -> tuple[str, str]:
    text = resources.files("heartgrpo.consult").joinpath("prompts", f"{PROMPT_NAME}.txt").read_text(encoding="utf-8")
    return text, f"{PROMPT_NAME}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def prompt_identity() -> str:
    return _system_prompt()[1]


def parse_answer(text: str) -> dict[str, Any]:
    """The JSON object of an answer (optionally in a fenced block); ``ValueError`` otherwise."""
    m = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    body = m.group(1) if m else text[text.find("{"): text.rfind("}") + 1]
    obj = json.loads(body) if body else None
    if not isinstance(obj, dict):
        raise ValueError("the answer holds no JSON object")
    return obj


def request_ids(topics: list[str], per_topic: int) -> list[tuple[str, str]]:
    """(request id, topic) pairs: ``gen-<topic>-<k>``.

    >>> request_ids(["syncope"], 2)
    [('gen-syncope-0', 'syncope'), ('gen-syncope-1', 'syncope')]
    """
    bad = sorted(set(topics) - set(TOPICS))
    if bad:
        raise ValueError(f"unknown topic(s) {bad}; expected some of {TOPICS}")
    return [(f"gen-{t}-{k}", t) for t in topics for k in range(per_topic)]


def _messages(topic: str, rid: str, feedback: list[str] | None, attempt: int) -> list[dict[str, str]]:
    user = f"Write one case card. Topic: {topic}. Card id: {rid}. Make it different from common textbook cases."
    if feedback:
        user += (f"\n\nAttempt {attempt}. Your previous card had these problems; write a new card that fixes them:\n"
                 + "\n".join(f"- {p}" for p in feedback))
    return [{"role": "system", "content": _system_prompt()[0]}, {"role": "user", "content": user}]


@dataclass
class CaseGenResult:
    out_dir: Path
    n_requested: int
    n_skipped_done: int
    n_accepted: int
    n_failed: int
    failed_ids: list[str] = field(default_factory=list)
    requests: int = 0
    cache_hits: int = 0


async def _one(chat: Any, rid: str, topic: str, max_attempts: int) -> tuple[CaseCard | None, dict]:
    from heartgrpo.io.retry import is_retryable

    feedback: list[str] | None = None
    history: list[dict] = []
    for attempt in range(1, max_attempts + 1):
        try:
            raw = await chat.complete(_messages(topic, rid, feedback, attempt), parse_answer)
        except Exception as exc:
            if not is_retryable(exc) and not isinstance(exc, ValueError):
                raise
            history.append({"attempt": attempt, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            feedback = ["the answer was not one JSON object in the requested shape"]
            continue
        raw["id"] = rid
        try:
            card = parse_card(raw, f"generated {rid}")
        except CardError as err:
            feedback = [str(err)]
            history.append({"attempt": attempt, "problems": feedback})
            continue
        problems = card_problems(card)
        if problems:
            feedback = problems
            history.append({"attempt": attempt, "problems": problems})
            continue
        return card, {"id": rid, "attempts": attempt, "history": history}
    return None, {"id": rid, "topic": topic, "attempts": max_attempts, "history": history}


def generate_cases(out_dir: str | Path, settings: Any, *, topics: list[str] | None = None, per_topic: int = 1,
                   client: Any = None) -> CaseGenResult:
    """Write ``per_topic`` cards per topic into ``out_dir/cases.jsonl`` (failures in ``failed.jsonl``).

    ``settings``: :class:`heartgrpo.config.consult.CaseGenSettings` (model, base_url, cache, ...)."""
    from heartgrpo.io.asyncs import run_sync
    from heartgrpo.io.chat import ChatClient
    from heartgrpo.io.jsonl import append_row, read_jsonl

    if settings is None or not settings.model:
        raise ValueError("cases generate needs an endpoint: --model/--base-url or a consult.generate section")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cases, failed = out / "cases.jsonl", out / "failed.jsonl"
    done = {r["id"] for r in read_jsonl(cases, missing_ok=True)}
    wanted = request_ids(topics or [t for t in TOPICS if t != "other"], per_topic)
    todo = [(rid, t) for rid, t in wanted if rid not in done]
    chat = ChatClient(settings.model, **settings.endpoint_kwargs(), namespace="case-gen", prompt_version=prompt_identity(),
                      cache=settings.cache, temperature=settings.temperature, max_tokens=settings.max_tokens, client=client)
    semaphore = asyncio.Semaphore(settings.max_concurrency)

    async def run() -> list[str]:
        async def one(rid: str, topic: str) -> tuple[CaseCard | None, dict]:
            async with semaphore:
                return await _one(chat, rid, topic, settings.max_attempts)

        bad = []
        try:
            for fut in asyncio.as_completed([one(r, t) for r, t in todo]):
                card, entry = await fut
                if card is None:
                    append_row(failed, entry)
                    bad.append(entry["id"])
                else:
                    append_row(cases, card.model_dump())
        finally:
            await chat.aclose()
        return bad

    bad = run_sync(run)
    return CaseGenResult(out, len(wanted), len(wanted) - len(todo), len(todo) - len(bad), len(bad), sorted(bad),
                         chat.stats["requests"], chat.stats["cache_hits"])
