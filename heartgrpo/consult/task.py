"""An exact multi-turn task for CPU learning: ask before advising, in whole phrases.

The prompt names only the symptom (``chest_pain``, ``palpitations``, ``breathless``); three
modifiers stay hidden in the case card: an aspirin allergy or none, a blood thinner or none,
alone at home or not. The doctor (a tiny Qwen3 whose tokens are phrases) may spend a turn on
ask-phrases (``ask_allergies``, ``ask_medications``, ``ask_living``); the scripted patient,
through the same fact gate as the LLM path, answers with the fact words it unlocks
(``aspirin_allergy``, ``no_blood_thinner``, ...). A turn without an ask-phrase is the advice.

Checklist (exact checkers over the advice's phrases; level 1 must, 2 should)::

    call_ems      L1 5  says call_emergency_services
    aspirin       L1 5  chest pain only: chew_aspirin when safe (no allergy, no thinner) and not
                        avoid_aspirin; else avoid_aspirin and not chew_aspirin
    living        L1 5  alone: unlock_the_door and not someone_stays_with_you; not alone: the reverse
    thinner       L2 3  mention_blood_thinner exactly when the patient takes one
    names_risks   L1 5  names exactly the risks the patient has (aspirin_allergy, on_blood_thinner,
                        alone_at_home), so the paramedics hear them
    symptom_care  L2 2  sit_down_and_rest / check_your_pulse / sit_upright for the symptom
    no_pitfall    L2 2  neither wait_and_see nor drive_to_hospital

Without asking, the aspirin, living and thinner items are a guess; after asking they are certain, so the
reward of :mod:`heartgrpo.consult.rewards` (a per-question cost included) is higher for a
policy that asks and then uses the answers. The single-turn baseline (``max_turns=1``) cannot
ask: its first turn is its advice.

    >>> cards = task_cards()
    >>> len(cards), cards[0].chief_complaint
    (24, 'chest_pain')
    >>> c = next(c for c in cards if c.id == "exact-chest_pain-aspirin_allergy-no_blood_thinner-alone_at_home")
    >>> check(c.id, "call_emergency_services avoid_aspirin unlock_the_door sit_down_and_rest", task_rubric(c.id))
    [True, True, True, True, False, True, True]
    >>> check(c.id, "call_emergency_services avoid_aspirin unlock_the_door aspirin_allergy alone_at_home", task_rubric(c.id))[4]
    True
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.consult.cards import CaseCard
from heartgrpo.judge.types import JudgeStats, Verdict

__all__ = [
    "ADVICE_PHRASES",
    "ASK_PHRASES",
    "FACT_DEPENDENT",
    "FACT_WORDS",
    "SYMPTOMS",
    "ExactConsultJudge",
    "build_consult_model",
    "check",
    "consult_tokenizer",
    "ideal_dialogue",
    "scripted_patient",
    "sft_rows",
    "task_cards",
    "task_rows",
    "task_rubric",
]

SYMPTOMS = ("chest_pain", "palpitations", "breathless")
#: slot -> (intent, value when present, value when absent)
SLOTS = {"allergy": ("allergies", "aspirin_allergy", "no_allergies"),
         "medication": ("medications", "on_blood_thinner", "no_blood_thinner"),
         "living": ("living_situation", "alone_at_home", "not_alone")}
ASK_PHRASES = ("ask_allergies", "ask_medications", "ask_living")
FACT_WORDS = tuple(w for _, yes, no in SLOTS.values() for w in (yes, no)) + ("dont_know",)
#: the fact words that are risks (the "present" value of each slot)
RISKS = tuple(yes for _, yes, _ in SLOTS.values())
SYMPTOM_CARE = {"chest_pain": "sit_down_and_rest", "palpitations": "check_your_pulse", "breathless": "sit_upright"}
ADVICE_PHRASES = ("call_emergency_services", "chew_aspirin", "avoid_aspirin", "unlock_the_door", "someone_stays_with_you",
                  "mention_blood_thinner",
                  *SYMPTOM_CARE.values(), "help_is_on_the_way", "wait_and_see", "drive_to_hospital")
CHECKS = (("call_ems", 1, 5.0, "Tells the patient to call emergency services (call_emergency_services)."),
          ("aspirin", 1, 5.0, "Gives aspirin only when safe: chew_aspirin with no allergy and no blood thinner, else avoid_aspirin."),
          ("living", 1, 5.0, "Fits the home situation: unlock_the_door when alone, someone_stays_with_you when not."),
          ("thinner", 2, 3.0, "Says to tell the paramedics about the blood thinner (mention_blood_thinner) exactly when one is taken."),
          ("names_risks", 1, 5.0, "Names exactly the patient's risks for the paramedics (aspirin_allergy, on_blood_thinner, alone_at_home)."),
          ("symptom_care", 2, 2.0, "Gives the symptom's first-aid step."),
          ("no_pitfall", 2, 2.0, "Does not advise waiting (wait_and_see) or driving (drive_to_hospital)."))


def _parse(card_id: str) -> tuple[str, dict[str, str]]:
    parts = card_id.split("-")
    if len(parts) != 5 or parts[0] != "exact" or parts[1] not in SYMPTOMS:
        raise ValueError(f"not an exact-task card id: {card_id!r}")
    return parts[1], dict(zip(SLOTS, parts[2:]))


def task_cards() -> list[CaseCard]:
    """One card per (symptom, allergy, medication, living): 3 x 2 x 2 x 2 = 24."""
    out = []
    for symptom in SYMPTOMS:
        for values in itertools.product(*[(yes, no) for _, yes, no in SLOTS.values()]):
            cid = "-".join(["exact", symptom, *values])
            facts = [{"id": slot, "text": v, "intents": [SLOTS[slot][0]], "keywords": [v]} for slot, v in zip(SLOTS, values)]
            checklist = [{"rubric": text, "level": lv, "points": p} for name, lv, p, text in _checks(symptom)]
            out.append(CaseCard.model_validate({
                "id": cid, "topic": "other", "chief_complaint": symptom, "persona": {"age": 60, "sex": "female"},
                "facts": facts, "differential": [symptom], "final_diagnosis": symptom, "checklist": checklist}))
    return out


def _checks(symptom: str) -> list[tuple[str, int, float, str]]:
    return [c for c in CHECKS if c[0] != "aspirin" or symptom == "chest_pain"]


def task_rubric(card_id: str) -> list[dict]:
    """The card's checklist as rubric dicts with tags ``level:<n>`` and ``check:<name>``."""
    symptom, _ = _parse(card_id)
    return [{"criterion": text, "points": p, "tags": [f"level:{lv}", f"check:{name}"]} for name, lv, p, text in _checks(symptom)]


def _rule(name: str, symptom: str, facts: dict[str, str], w: set[str]) -> bool:
    if name == "call_ems":
        return "call_emergency_services" in w
    if name == "aspirin":
        safe = facts["allergy"] == "no_allergies" and facts["medication"] == "no_blood_thinner"
        return ("chew_aspirin" in w and "avoid_aspirin" not in w) if safe else ("avoid_aspirin" in w and "chew_aspirin" not in w)
    if name == "living":
        yes, no = ("unlock_the_door", "someone_stays_with_you")[:: 1 if facts["living"] == "alone_at_home" else -1]
        return yes in w and no not in w
    if name == "thinner":
        return ("mention_blood_thinner" in w) == (facts["medication"] == "on_blood_thinner")
    if name == "names_risks":
        return {r for r in RISKS if r in w} == {r for r in RISKS if r in facts.values()}
    if name == "symptom_care":
        return SYMPTOM_CARE[symptom] in w
    if name == "no_pitfall":
        return not ({"wait_and_see", "drive_to_hospital"} & w)
    raise ValueError(f"unknown exact-task check {name!r}")


def check(card_id: str, advice: str, rubric: Sequence[dict]) -> list[bool]:
    """Exact verdicts of ``advice`` (phrases) on ``rubric`` for the card ``card_id``."""
    symptom, facts = _parse(card_id)
    words = set(advice.split())
    names = [next(t.split(":", 1)[1] for t in c["tags"] if t.startswith("check:")) for c in rubric]
    return [_rule(n, symptom, facts, words) for n in names]


def _card_id_of(prompt: Any) -> str:
    return next(m["case_id"] for m in prompt if m.get("case_id"))


class ExactConsultJudge:
    """A :class:`heartgrpo.judge.types.Judge` whose verdicts are this task's checkers; it reads
    the card id from the prompt's ``case_id`` (the judge prompt keeps the opening message)."""

    approximate = False
    id = "consult exact checker"

    def __init__(self) -> None:
        self.stats = JudgeStats()

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        met = check(_card_id_of(prompt), response, list(rubrics))
        self.stats.add(verdicts=len(met))
        return [Verdict(m, "exact checker") for m in met]

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        met = check(_card_id_of(prompt), response, list(rubrics))
        return 1.0 + 9.0 * sum(met) / len(met)


def task_rows(cards: Sequence[CaseCard]) -> list[dict]:
    """GRPO rows: prompt = the symptom word (with ``case_id``), rubrics with ``check:`` tags."""
    return [{"id": c.id, "prompt": [{"role": "user", "content": c.chief_complaint, "case_id": c.id}], "rubrics": task_rubric(c.id)}
            for c in cards]


def scripted_patient(card: CaseCard):
    """The exact task's patient: the gate's fact words, ``dont_know`` when nothing is unlocked."""
    from heartgrpo.consult.patient import ScriptedPatient

    return ScriptedPatient(card, dont_know="dont_know")


def ideal_dialogue(card_id: str) -> tuple[str, str]:
    """(question turn, advice) of a doctor who asks everything and then meets every check."""
    symptom, facts = _parse(card_id)
    safe = facts["allergy"] == "no_allergies" and facts["medication"] == "no_blood_thinner"
    advice = ["call_emergency_services"]
    if symptom == "chest_pain":
        advice.append("chew_aspirin" if safe else "avoid_aspirin")
    advice += ["unlock_the_door" if facts["living"] == "alone_at_home" else "someone_stays_with_you", SYMPTOM_CARE[symptom]]
    if facts["medication"] == "on_blood_thinner":
        advice.append("mention_blood_thinner")
    advice += [r for r in RISKS if r in facts.values()]
    return " ".join(ASK_PHRASES), " ".join(advice)


#: the advice phrases whose right choice depends on a hidden fact
FACT_DEPENDENT = ("chew_aspirin", "avoid_aspirin", "unlock_the_door", "someone_stays_with_you", "mention_blood_thinner")


def _warm_advice(symptom: str, rng: random.Random) -> str:
    """Advice with the fact-independent steps (emergency call, the symptom's first aid) and a
    random pick of the fact-dependent phrases: it knows what every case needs, not what the
    hidden facts call for."""
    picked = [p for p in (*FACT_DEPENDENT, *RISKS) if rng.random() < 0.5]
    return " ".join(["call_emergency_services", *picked, SYMPTOM_CARE[symptom]])


def sft_rows(cards: Sequence[CaseCard], n: int, seed: int) -> list[dict]:
    """``n`` SFT pairs, the warm start of both benchmark arms: how to use an answer, not when to ask.

    A third open with an ask turn (the three ask-phrases in random order), a third with advice
    straight away, so the first turn asks half of the time. Advice given without asking is
    :func:`_warm_advice` (fact-dependent phrases drawn at random); advice after the patient's
    answer is the one that fits the told facts (:func:`ideal_dialogue`). Whether to ask is left
    to GRPO: asking pays only through the reward.

    >>> rows = sft_rows(task_cards(), 30, seed=0)
    >>> after = [r for r in rows if len(r["prompt"]) == 3]
    >>> ids = ["-".join(["exact", r["prompt"][0]["content"], *r["prompt"][2]["content"].split()]) for r in after]
    >>> len(after) > 5, all(r["completion"][0]["content"] == ideal_dialogue(i)[1] for r, i in zip(after, ids))
    (True, True)
    """
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        card = rng.choice(list(cards))
        symptom = card.chief_complaint
        opening = {"role": "user", "content": symptom}
        kind = rng.random()
        if kind < 1 / 3:
            ask = " ".join(rng.sample(ASK_PHRASES, 3))
            rows.append({"prompt": [opening], "completion": [{"role": "assistant", "content": ask}]})
        elif kind < 2 / 3:
            rows.append({"prompt": [opening], "completion": [{"role": "assistant", "content": _warm_advice(symptom, rng)}]})
        else:
            asked = rng.sample(ASK_PHRASES, 3)
            answer = " ".join(f.text for f in card.facts_for({SLOTS[s][0] for s, a in zip(SLOTS, ASK_PHRASES) if a in asked}))
            rows.append({"prompt": [opening, {"role": "assistant", "content": " ".join(asked)}, {"role": "user", "content": answer}],
                         "completion": [{"role": "assistant", "content": ideal_dialogue(card.id)[1]}]})
    return rows


def consult_tokenizer():
    """The word-level tokenizer of the task (one token per symptom, ask-phrase, fact word, advice phrase)."""
    from heartgrpo.signal.phrase_task import phrase_tokenizer

    return phrase_tokenizer([*SYMPTOMS, *ASK_PHRASES, *FACT_WORDS, *ADVICE_PHRASES])


def build_consult_model(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A tiny random Qwen3 over :func:`consult_tokenizer`, saved in ``out_dir`` (reused when present)."""
    from heartgrpo.signal.phrase_task import build_phrase_model

    return build_phrase_model(out_dir, seed=seed, tokenizer=consult_tokenizer())
