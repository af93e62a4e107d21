"""Optional LLM heart-topic classifier with keyword verification (the paper used MedGemma 27B).

The model answers JSON ``{"heart": bool, "theme": str | null, "keywords": [str, ...]}``. The
answer is trusted only as far as the text supports it:

* every returned keyword must occur in the text (case-insensitive, on word boundaries);
  keywords that do not are dropped;
* ``heart`` stays True only when at least one keyword is verified;
* a theme outside the paper's 14 is replaced by the lexicon's theme for the text.

Results are cached in SQLite (key: model, prompt version, the messages, so the prompt's text too),
so a re-run costs nothing. The system prompt lives in ``prompts/heart_topic.txt`` (``{themes}`` is
replaced by the paper's 14 themes).

:func:`two_stage_labels` uses the model as a second stage over the lexicon's candidates: only
conversations where :func:`heartgrpo.heart.classifier.classify` found some evidence are sent; the rest
stay non-heart without a call.

Example (any OpenAI-compatible server)::

    clf = LLMHeartClassifier("google/medgemma-27b-text-it", base_url="http://localhost:8000/v1",
                             cache="cache/heart_llm.sqlite")
    labels = clf.classify_many(["My heart races at night", "Knee pain after running"])
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.heart.classifier import THEMES, HeartLabel, classify
from heartgrpo.io.asyncs import run_sync
from heartgrpo.io.chat import ChatClient, SqliteCache

__all__ = ["PROMPT_FILE", "PROMPT_VERSION", "LLMHeartClassifier", "parse_answer", "system_prompt", "two_stage_labels",
           "verify_keywords"]

PROMPT_VERSION = "heart-topic-v2"
PROMPT_FILE = Path(__file__).parent / "prompts" / "heart_topic.txt"


def system_prompt(path: str | Path = PROMPT_FILE) -> str:
    """The classifier's system prompt: the file's text with ``{themes}`` replaced by the 14 themes."""
    return Path(path).read_text(encoding="utf-8").strip().replace("{themes}", "; ".join(THEMES))


def parse_answer(text: str) -> dict[str, Any]:
    """Parse the model's JSON answer (a fenced block or surrounding prose is tolerated)."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        raise ValueError(f"no JSON object in answer: {text[:120]!r}")
    data = json.loads(match.group(0))
    if not isinstance(data, dict) or not isinstance(data.get("heart"), bool):
        raise ValueError(f"answer lacks a boolean 'heart': {text[:120]!r}")
    keywords = data.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ValueError(f"'keywords' must be a list of strings: {text[:120]!r}")
    theme = data.get("theme")
    return {"heart": data["heart"], "theme": theme if isinstance(theme, str) else None, "keywords": keywords}


def verify_keywords(text: str, keywords: Sequence[str]) -> list[str]:
    """The keywords that occur in ``text`` on word boundaries (case-insensitive), in given order."""
    found = []
    for kw in keywords:
        kw = kw.strip()
        if kw and re.search(r"(?<!\w)" + re.escape(kw) + r"(?!\w)", text, re.IGNORECASE):
            found.append(kw)
    return found


class LLMHeartClassifier:
    """Heart-topic labels from an LLM, verified against the text and cached."""

    def __init__(self, model: str, base_url: str | list[str] | None = None, api_key_env: str = "OPENAI_API_KEY", *,
                 cache: str | Path | SqliteCache | None = None, client: Any = None, prompt_file: str | Path = PROMPT_FILE,
                 **endpoint: Any) -> None:
        """``endpoint``: :class:`~heartgrpo.io.endpoint.Endpoint` keywords (``timeout``, ``max_retries``, ...)."""
        self.system = system_prompt(prompt_file)
        self.chat = ChatClient(model, base_url, api_key_env, namespace="heart-llm", prompt_version=PROMPT_VERSION,
                               cache=cache, temperature=0.0, max_tokens=256, client=client, **endpoint)

    def _label(self, text: str, answer: dict[str, Any]) -> HeartLabel:
        evidence = verify_keywords(text, answer["keywords"])
        if not answer["heart"] or not evidence:
            return HeartLabel(heart=False, theme=None, evidence=evidence)
        theme = answer["theme"] if answer["theme"] in THEMES else (classify(text).theme or "Cardiovascular Disease")
        return HeartLabel(heart=True, theme=theme, evidence=evidence)

    async def aclassify(self, text: str) -> HeartLabel:
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": text}]
        answer = await self.chat.complete(messages, parse_answer)
        return self._label(text, answer)

    async def aclassify_many(self, texts: Sequence[str]) -> list[HeartLabel]:
        """Labels in input order; raises the first error after retries (never a silent default)."""
        try:
            results = await self.chat.map(texts, self.aclassify)
        finally:
            await self.chat.aclose()
        for text, result in zip(texts, results):
            if isinstance(result, BaseException):
                raise RuntimeError(f"LLM heart classification failed for {text[:60]!r}: {result}") from result
        return list(results)  # type: ignore[arg-type]

    def classify(self, text: str) -> HeartLabel:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str]) -> list[HeartLabel]:
        return run_sync(lambda: self.aclassify_many(texts))


def two_stage_labels(texts: Sequence[str], clf: LLMHeartClassifier) -> list[HeartLabel]:
    """Lexicon first, the model second: texts with lexicon evidence go to ``clf``; the rest are non-heart.

    The lexicon's context rules may zero a match (a negated or vital-sign mention); a text whose
    only evidence was zeroed has no evidence and is not sent either.
    """
    first = [classify(t) for t in texts]
    candidates = [i for i, label in enumerate(first) if label.evidence]
    second = clf.classify_many([texts[i] for i in candidates]) if candidates else []
    out = [HeartLabel(heart=False, theme=None, evidence=label.evidence) for label in first]
    for i, label in zip(candidates, second):
        out[i] = label
    return out
