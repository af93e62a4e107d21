"""The fact gate: what a patient may say is decided by rules, never by the patient model.

:func:`classify_intents` maps a doctor's turn to the intents of :data:`~heartgrpo.consult.cards.INTENTS`
it asks about, by word rules (:data:`INTENT_RULES`, whole-word regular expressions on the lower-cased
turn; the exact task's ask-phrases such as ``ask_allergies`` match too). :class:`FactGate` holds one
card and the facts released so far: :meth:`FactGate.ask` releases exactly the facts unlocked by
the turn's intents. The contract (a property test checks it over every card):

    released(turn) == {f in card.facts : intents(f) ∩ classify_intents(turn) ≠ ∅}

A patient LLM may be shown only :attr:`FactGate.released`; it never decides what is released.
:func:`is_end_of_advice` decides whether a turn is the doctor's advice (no question asked):
then the patient answers with :data:`END_MARKER` and the episode ends.

    >>> sorted(classify_intents("Are you allergic to anything? Any tablets?"))
    ['allergies', 'medications']
    >>> classify_intents("ask_living")
    {'living_situation'}
    >>> is_end_of_advice("Call an ambulance now.")
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from heartgrpo.consult.cards import INTENTS, CaseCard, Fact

__all__ = ["END_MARKER", "INTENT_RULES", "FactGate", "classify_intents", "is_end_of_advice", "is_question"]

END_MARKER = "END_CONSULTATION"

#: intent -> regular expressions (searched in the lower-cased turn, word boundaries at the ends)
INTENT_RULES: dict[str, tuple[str, ...]] = {
    "onset": (r"when did", r"how long", r"start(ed|s)?", r"began", r"onset", r"since when", r"first (notice|happen)",
              r"ask_onset"),
    "character": (r"what (does|is) it (feel|like)", r"describe", r"kind of (pain|feeling)", r"sharp", r"dull",
                  r"crushing", r"regular", r"irregular", r"constant", r"ask_character"),
    "location": (r"where", r"which (side|part)", r"locat\w*", r"ask_location"),
    "radiation": (r"spread\w*", r"radiat\w*", r"go(es)? (into|to|anywhere)", r"arm", r"jaw", r"back", r"ask_radiation"),
    "severity": (r"how (bad|severe|strong)", r"scale", r"out of (ten|10)", r"severity", r"worse", r"how often",
                 r"ask_severity"),
    "associated": (r"any other", r"anything else", r"other symptoms?", r"breath\w*", r"sweat\w*", r"sick", r"nause\w*",
                   r"dizz\w*", r"faint\w*", r"swell\w*", r"fever", r"pain", r"symptoms?", r"ask_symptoms"),
    "triggers": (r"trigger\w*", r"bring(s)? (it )?on", r"what were you doing", r"doing at the time", r"exercise",
                 r"exert\w*", r"better or worse", r"make it (better|worse)", r"ask_triggers"),
    "medications": (r"medic\w*", r"tablets?", r"pills?", r"drugs?", r"take any", r"taking", r"prescri\w*",
                    r"blood thinners?", r"anticoagula\w*", r"inhalers?", r"spray", r"ask_medications"),
    "allergies": (r"allerg\w*", r"react\w* to", r"ask_allergies"),
    "history": (r"medical history", r"health (problems|conditions)", r"conditions?", r"diagnos\w*", r"before",
                r"in the past", r"heart (problems?|disease|attack)", r"operations?", r"ask_history"),
    "family_history": (r"family", r"relatives?", r"parents?", r"mother|father|brother|sister", r"ask_family"),
    "social": (r"smok\w*", r"alcohol", r"drink\w*", r"work", r"job", r"occupation", r"drive|driving", r"ask_social"),
    "living_situation": (r"live (alone|with)", r"anyone (with|at home)", r"on your own", r"by yourself", r"at home",
                         r"who (is|lives) with", r"ask_living"),
}
assert set(INTENT_RULES) == set(INTENTS), "every intent needs rules"
_COMPILED = {k: re.compile(r"(?<![a-z])(?:" + "|".join(v) + r")(?![a-z])") for k, v in INTENT_RULES.items()}
_QUESTION = re.compile(r"\?|(?<![a-z])ask_[a-z]+|(?<![a-z])(can you tell|tell me|do you|are you|have you|did you)(?![a-z])")


def classify_intents(turn: str) -> set[str]:
    """The intents a doctor's turn asks about (rules only; an empty set for advice or chat)."""
    text = turn.lower()
    if not is_question(text):
        return set()
    return {name for name, rx in _COMPILED.items() if rx.search(text)}


def is_question(turn: str) -> bool:
    """True when the turn asks something: a question mark, an ask-phrase or a question opener."""
    return bool(_QUESTION.search(turn.lower()))


def is_end_of_advice(turn: str) -> bool:
    """True when the turn asks nothing: it is the doctor's advice, and the consultation ends."""
    return bool(turn.strip()) and not is_question(turn)


class FactGate:
    """The facts of one card, released only as a doctor's turns ask for them."""

    def __init__(self, card: CaseCard) -> None:
        self.card = card
        self.released: list[Fact] = []
        self.asked: set[str] = set()

    def ask(self, turn: str) -> list[Fact]:
        """Release the facts this turn's intents unlock; returns the newly released ones (card order)."""
        return self.ask_intents(classify_intents(turn))

    def ask_intents(self, intents: Iterable[str]) -> list[Fact]:
        """Release the facts unlocked by ``intents`` (already classified); returns the new ones."""
        intents = set(intents)
        self.asked |= intents
        have = {f.id for f in self.released}
        new = [f for f in self.card.facts_for(intents) if f.id not in have]
        self.released += new
        return new

    def unreleased(self) -> list[Fact]:
        have = {f.id for f in self.released}
        return [f for f in self.card.facts if f.id not in have]
