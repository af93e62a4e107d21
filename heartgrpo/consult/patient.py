"""Patients: a scripted one (rules only) and an LLM one, both behind the fact gate.

A patient plays one :class:`~heartgrpo.consult.cards.CaseCard`. Each doctor's turn goes first
through the card's :class:`~heartgrpo.consult.gate.FactGate`, which alone decides which facts are
released; the patient then answers from the released facts only:

* :class:`ScriptedPatient`: says the newly released facts' texts, "I don't know." when a
  question unlocks nothing, and :data:`~heartgrpo.consult.gate.END_MARKER` when the turn is
  advice (asks nothing). Deterministic; the CPU path and the tests use it.
* :class:`HumanPatient`: a person at the terminal plays the patient; after each doctor turn
  they are shown only the facts the gate released (``heartgrpo consult --patient human``).
* :class:`LLMPatient`: an OpenAI-compatible model through :class:`heartgrpo.io.endpoint.Endpoint`,
  with the versioned system prompt ``prompts/patient_v1.txt`` (everyday language, vague, part of
  one symptom per turn, "don't know" for anything not in the case, ``END_CONSULTATION`` after
  advice) filled with the persona and **only the facts released so far**. The episode ends when
  the reply carries the end marker or the gate sees advice. An endpoint failure raises
  :class:`~heartgrpo.io.endpoint.EndpointError`: the rollout marks the episode failed and its
  reward is ``None``.

Oversharing (:func:`overshared`): the facts a reply mentions (any of their ``keywords``) that the
gate had not released. The scripted patient's rate is 0 by construction; the LLM patient's is
measured by :func:`oversharing_rate`.

    >>> from heartgrpo.consult.cards import CaseCard, EXAMPLE_CARD
    >>> p = ScriptedPatient(CaseCard.model_validate(EXAMPLE_CARD))
    >>> run_sync(p.reply("Any allergies?")).text
    'Aspirin gives me hives.'
    >>> run_sync(p.reply("Call 911 now.")).ended
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from heartgrpo.io.asyncs import run_sync  # noqa: F401  (the doctest's runner)
from heartgrpo.consult.cards import CaseCard, Fact
from heartgrpo.consult.gate import END_MARKER, FactGate, classify_intents, is_end_of_advice

__all__ = [
    "DONT_KNOW",
    "HumanPatient",
    "PATIENT_PROMPT",
    "LLMPatient",
    "Patient",
    "PatientReply",
    "ScriptedPatient",
    "overshared",
    "oversharing_rate",
    "patient_prompt",
    "patient_prompt_identity",
    "render_patient_prompt",
]

PATIENT_PROMPT = "patient_v1"
DONT_KNOW = "I don't know."


@dataclass
class PatientReply:
    """One patient turn: its ``text``, the fact ids the gate released for it, whether it ends the
    consultation, and the unreleased facts the text mentions (``overshared``)."""

    text: str
    released: list[str] = field(default_factory=list)
    ended: bool = False
    overshared: list[str] = field(default_factory=list)


class Patient(Protocol):
    card: CaseCard
    gate: FactGate

    async def reply(self, doctor_turn: str) -> PatientReply: ...


def overshared(text: str, gate: FactGate) -> list[str]:
    """Ids of the facts not yet released whose keywords appear in ``text`` (lower-cased)."""
    low = text.lower()
    return [f.id for f in gate.unreleased() if any(k in low for k in f.keywords)]


def oversharing_rate(replies: Sequence[PatientReply]) -> float:
    """Share of patient replies that mention at least one unreleased fact (0.0 when none).

    >>> oversharing_rate([PatientReply("a"), PatientReply("b", overshared=["x"])])
    0.5
    """
    return sum(bool(r.overshared) for r in replies) / len(replies) if replies else 0.0


class ScriptedPatient:
    """Rules only: the newly released facts, else "I don't know.", and the end marker after advice.

    ``dont_know`` and ``joiner`` set the wording (the exact task speaks in phrase tokens)."""

    def __init__(self, card: CaseCard, *, dont_know: str = DONT_KNOW, end_marker: str = END_MARKER,
                 joiner: str = " ") -> None:
        self.card, self.gate = card, FactGate(card)
        self.dont_know, self.end_marker, self.joiner = dont_know, end_marker, joiner

    async def reply(self, doctor_turn: str) -> PatientReply:
        if is_end_of_advice(doctor_turn):
            return PatientReply(self.end_marker, ended=True)
        new = self.gate.ask(doctor_turn)
        text = self.joiner.join(f.text for f in new) if new else self.dont_know
        return PatientReply(text, [f.id for f in new])


@lru_cache(maxsize=None)
def patient_prompt() -> tuple[str, str]:
    """(text, ``patient_v1@<sha12>``) of the versioned patient prompt."""
    text = resources.files("heartgrpo.consult").joinpath("prompts", f"{PATIENT_PROMPT}.txt").read_text(encoding="utf-8")
    return text, f"{PATIENT_PROMPT}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def patient_prompt_identity() -> str:
    return patient_prompt()[1]


def render_patient_prompt(card: CaseCard, released: Sequence[Fact]) -> str:
    """The system prompt for ``card`` with exactly the ``released`` facts listed."""
    facts = "\n".join(f"- {f.text}" for f in released) or "- (none yet: say you don't know to anything asked)"
    p = card.persona
    return patient_prompt()[0].format(age=p.age, sex=p.sex, cooperativeness=p.cooperativeness, verbosity=p.verbosity,
                                      health_literacy=p.health_literacy, chief_complaint=card.chief_complaint,
                                      released_facts=facts)


class LLMPatient:
    """A patient model at an OpenAI-compatible endpoint, shown only the gate's released facts.

    ``endpoint``: a :class:`heartgrpo.io.endpoint.Endpoint`. The conversation so far is sent as
    chat history (doctor turns as ``user``, patient turns as ``assistant``)."""

    def __init__(self, card: CaseCard, endpoint: Any, *, temperature: float = 0.7, max_tokens: int = 160) -> None:
        self.card, self.gate = card, FactGate(card)
        self.endpoint, self.temperature, self.max_tokens = endpoint, temperature, max_tokens
        self.history: list[dict[str, str]] = [{"role": "assistant", "content": card.chief_complaint}]
        self.last_system = ""

    async def reply(self, doctor_turn: str) -> PatientReply:
        advice = is_end_of_advice(doctor_turn)
        new = [] if advice else self.gate.ask_intents(classify_intents(doctor_turn))
        self.last_system = render_patient_prompt(self.card, self.gate.released)
        self.history.append({"role": "user", "content": doctor_turn})
        text = await self.endpoint.ask([{"role": "system", "content": self.last_system}, *self.history], str,
                                       temperature=self.temperature, max_tokens=self.max_tokens)
        text = text.strip()
        ended = advice or END_MARKER in text
        if advice and END_MARKER not in text:
            text = f"{text} {END_MARKER}".strip()
        self.history.append({"role": "assistant", "content": text})
        return PatientReply(text, [f.id for f in new], ended, overshared(text, self.gate))


class HumanPatient:
    """A person plays the patient: shown the chief complaint and, after each doctor turn, the
    facts the gate released so far; ``ask`` reads their answer (default :func:`input`), ``show``
    prints (default :func:`print`). An empty answer or the end marker ends the consultation."""

    def __init__(self, card: CaseCard, *, ask: Any = input, show: Any = print) -> None:
        self.card, self.gate, self.ask, self.show = card, FactGate(card), ask, show

    async def reply(self, doctor_turn: str) -> PatientReply:
        new = [] if is_end_of_advice(doctor_turn) else self.gate.ask(doctor_turn)
        facts = "; ".join(f.text for f in self.gate.released) or "(none: answer 'I don't know')"
        self.show(f"[you may say: {facts}]" + (" [the doctor gave advice: type END to finish]" if is_end_of_advice(doctor_turn) else ""))
        text = str(self.ask("patient> ")).strip()
        ended = not text or END_MARKER in text or text.upper() == "END"
        return PatientReply(text, [f.id for f in new], ended, overshared(text, self.gate))
