"""One consultation in the terminal or a script: a doctor model at any OpenAI-compatible endpoint
against a patient (scripted, LLM or a person), through the fact gate.

The doctor gets the versioned system prompt ``prompts/doctor_v1.txt``, the chief complaint as the
first user turn and the patient's answers as the following ones; the episode rules are those of
:class:`heartgrpo.consult.environment.Episode` (end marker or ``max_turns``).

    >>> doctor_prompt_identity().startswith("doctor_v1@")
    True
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from typing import Any

from heartgrpo.consult.cards import CaseCard
from heartgrpo.consult.environment import Episode

__all__ = ["DOCTOR_PROMPT", "doctor_prompt", "doctor_prompt_identity", "play"]

DOCTOR_PROMPT = "doctor_v1"


@lru_cache(maxsize=None)
def doctor_prompt() -> tuple[str, str]:
    text = resources.files("heartgrpo.consult").joinpath("prompts", f"{DOCTOR_PROMPT}.txt").read_text(encoding="utf-8")
    return text, f"{DOCTOR_PROMPT}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def doctor_prompt_identity() -> str:
    return doctor_prompt()[1]


async def play(card: CaseCard, doctor: Any, patient: Any, *, max_turns: int = 6, temperature: float = 0.7,
               max_tokens: int = 512, show: Any = None) -> Episode:
    """Run one consultation; ``doctor`` is a :class:`heartgrpo.io.endpoint.Endpoint`; ``show(role, text)``
    is called for every turn (the opening included)."""
    episode = Episode(card, patient, max_turns)
    messages = [{"role": "system", "content": doctor_prompt()[0]}, {"role": "user", "content": card.chief_complaint}]
    if show:
        show("patient", card.chief_complaint)
    while not episode.ended:
        text = (await doctor.ask(messages, str, temperature=temperature, max_tokens=max_tokens)).strip()
        if show:
            show("doctor", text)
        reply = await episode.doctor_says(text)
        messages.append({"role": "assistant", "content": text})
        if reply is None:
            break
        if show:
            show("patient", reply)
        messages.append({"role": "user", "content": reply})
    return episode
