"""The fact gate never reveals an unasked fact: a property test over every card and random doctor turns."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from heartgrpo.consult.cards import builtin_cards
from heartgrpo.consult.gate import END_MARKER, INTENT_RULES, FactGate, classify_intents, is_end_of_advice
from heartgrpo.consult.patient import ScriptedPatient, overshared
from heartgrpo.consult.task import ASK_PHRASES, task_cards

CARDS = builtin_cards() + task_cards()
WORDS = ["when", "did", "it", "start", "any", "allergies", "tablets", "do", "you", "live", "alone", "pain", "family",
         "smoke", "call", "an", "ambulance", "now", "rest", "where", "is", "the", "?", "how", "long", "bad", "take",
         "aspirin", "tell", "me", "about", "your", "history", "hello", "ok", "please", *ASK_PHRASES]
TURN = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join) | st.text(max_size=60)


@settings(max_examples=300, deadline=None)
@given(card=st.sampled_from(CARDS), turns=st.lists(TURN, min_size=1, max_size=5))
def test_the_gate_releases_exactly_the_asked_facts(card, turns) -> None:
    gate = FactGate(card)
    asked: set[str] = set()
    for turn in turns:
        intents = classify_intents(turn)
        asked |= intents
        new = gate.ask(turn)
        assert all(set(f.intents) & intents for f in new)  # nothing released that this turn did not ask for
        assert {f.id for f in new} == {f.id for f in card.facts_for(intents)} - {f.id for f in gate.released if f not in new}
        assert {f.id for f in gate.released} == {f.id for f in card.facts if set(f.intents) & asked}
        if not intents:
            assert new == []


@settings(max_examples=200, deadline=None)
@given(card=st.sampled_from(CARDS), turns=st.lists(TURN, min_size=1, max_size=5))
def test_the_scripted_patient_says_only_released_facts(card, turns) -> None:
    patient = ScriptedPatient(card)
    for turn in turns:
        reply = asyncio.run(patient.reply(turn))
        if reply.ended:
            assert reply.text == END_MARKER and is_end_of_advice(turn)
            break
        unreleased = {f.text for f in patient.gate.unreleased()}
        assert not any(t in reply.text for t in unreleased)
        assert overshared(reply.text, patient.gate) == []


def test_intents_of_plain_questions_and_advice() -> None:
    assert classify_intents("What medicines do you take, and any allergies?") == {"medications", "allergies"}
    assert classify_intents("Do you live alone?") == {"living_situation"}
    assert classify_intents("Take your aspirin and rest.") == set()  # advice asks nothing
    assert is_end_of_advice("Call an ambulance and unlock the door.") and not is_end_of_advice("Any allergies?")
    assert {i for c in CARDS for f in c.facts for i in f.intents} <= set(INTENT_RULES)


def test_a_card_fact_is_reachable_by_some_question() -> None:
    # every fact of every shipped card can be unlocked by asking its first intent's rule word
    for card in builtin_cards():
        gate = FactGate(card)
        for f in card.facts:
            gate.ask_intents(f.intents[:1])
        assert not gate.unreleased()
