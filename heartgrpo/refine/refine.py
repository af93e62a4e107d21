"""Answer and refine messages, their parsing, and the SFT row the refined answer becomes.

Both the first answer and the refined one are asked as ``{"reasoning", "answer"}``; the SFT row
puts them into the output format SFT teaches with :func:`heartgrpo.answer_format.format_sft_completion`
(``paper``: working out + ``<SOLUTION>``, under the paper's system prompt; ``qwen3``: ``<think>``),
so a refined row trains the same format as the prepared SFT split.

Example:
    >>> item = {"id": "q1", "prompt": [{"role": "user", "content": "Is 150/95 high?"}], "attributes": {}}
    >>> row = sft_row(item, ("BP above 140/90.", "Yes, see your GP."), "paper", {})
    >>> from heartgrpo.answer_format import follows_format
    >>> row["prompt"][0]["role"], follows_format(row["completion"][0]["content"], "paper")
    ('system', True)
"""

from __future__ import annotations

from typing import Any

from heartgrpo.answer_format import SftFormat, format_sft_completion, system_prompt_for
from heartgrpo.refine.jsonreply import json_object, text_field
from heartgrpo.refine.prompts import prompt_text

__all__ = ["answer_messages", "parse_answer", "refine_messages", "sft_row"]


def answer_messages(query: str, feedback: str | None = None) -> list[dict[str, str]]:
    """System prompt + the question."""
    user = query if not feedback else f"{query}\n\n(Your previous reply could not be used: {feedback}. Reply with the JSON object only.)"
    return [{"role": "system", "content": prompt_text("answer_v1")}, {"role": "user", "content": user}]


def parse_answer(text: str) -> tuple[str, str]:
    """``(reasoning, answer)`` of a ``{"reasoning", "answer"}`` reply; ``ValueError`` when malformed."""
    obj = json_object(text)
    return text_field(obj, "reasoning"), text_field(obj, "answer", 2)


def refine_messages(query: str, profile: dict[str, str], original: tuple[str, str], critique: dict[str, dict[str, str]],
                    feedback: str | None = None) -> list[dict[str, str]]:
    """System prompt + profile, question, the earlier answer and the critique of each facet."""
    notes = "\n".join(f"- {facet}: wrong: {c['wrong'] or '-'}; missing: {c['missing'] or '-'}; change: {c['change'] or '-'}"
                      for facet, c in critique.items())
    parts = ["Asker profile:\n" + "\n".join(f"- {k}: {v}" for k, v in profile.items()), f"Question:\n{query}",
             f"Earlier working out:\n{original[0]}", f"Earlier answer:\n{original[1]}", f"Critique:\n{notes}"]
    if feedback:
        parts.append(f"Your previous reply could not be used: {feedback}. Reply with the JSON object only.")
    return [{"role": "system", "content": prompt_text("refine_v1")}, {"role": "user", "content": "\n\n".join(parts)}]


def sft_row(item: dict[str, Any], final: tuple[str, str], fmt: SftFormat, extra: dict[str, Any]) -> dict[str, Any]:
    """A prompt-completion SFT row (what :func:`heartgrpo.train.sft.sft_example` reads) plus ``extra``."""
    system = system_prompt_for(fmt)
    prompt = ([{"role": "system", "content": system}] if system else []) + list(item["prompt"])
    completion = [{"role": "assistant", "content": format_sft_completion(final[0], final[1], fmt)}]
    return {"id": item["id"], "prompt": prompt, "completion": completion, "attributes": item["attributes"], **extra}
