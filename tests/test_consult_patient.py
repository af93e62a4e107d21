"""The LLM patient on a loopback OpenAI-compatible server: shown only released facts, ends on the
marker, oversharing measured; an endpoint failure fails the episode and its reward is None."""

from __future__ import annotations

import asyncio

from heartgrpo.consult.cards import builtin_cards
from heartgrpo.consult.environment import Episode
from heartgrpo.consult.gate import END_MARKER
from heartgrpo.consult.patient import LLMPatient, oversharing_rate, patient_prompt_identity
from heartgrpo.consult.rewards import consult_reward_func
from heartgrpo.io.endpoint import Endpoint
from heartgrpo.io.loopback import LoopbackServer, Reply
from heartgrpo.judge.types import Verdict

CARD = next(c for c in builtin_cards() if c.id == "cp-stemi-aspirin-allergy")


def _endpoint(server: LoopbackServer) -> Endpoint:
    return Endpoint("patient", server.base_url, "NO_KEY_NEEDED", max_retries=0, timeout=5)


def test_llm_patient_sees_only_released_facts(monkeypatch) -> None:
    monkeypatch.setenv("NO_KEY_NEEDED", "x")
    replies = iter(["Um, aspirin brings me out in a rash.", "I live on my own... and I smoked for years.", f"Thanks. {END_MARKER}"])
    with LoopbackServer(lambda req, i: Reply(next(replies))) as server:
        patient = LLMPatient(CARD, _endpoint(server))
        ep = Episode(CARD, patient, max_turns=5)

        async def talk():
            a = await ep.doctor_says("Are you allergic to any medicines?")
            b = await ep.doctor_says("Do you live alone?")
            c = await ep.doctor_says("Call an ambulance now, do not take aspirin, unlock the door.")
            return a, b, c

        a, b, c = asyncio.run(talk())
        systems = [r["messages"][0]["content"] for r in server.requests]
    assert a.startswith("Um, aspirin") and c is None and ep.ended
    assert "Aspirin gives me a rash" in systems[0] and "left arm" not in systems[0] and "on my own" not in systems[0]
    assert "on my own at home" in systems[1] and "smoked for thirty years" not in systems[1]  # history was never asked
    # the second reply named the smoking history, which the gate had not released: oversharing
    assert ep.overshared == ["history"]
    assert oversharing_rate([]) == 0.0
    assert patient_prompt_identity().startswith("patient_v1@")


def test_patient_endpoint_failure_gives_none_not_zero(monkeypatch) -> None:
    monkeypatch.setenv("NO_KEY_NEEDED", "x")
    with LoopbackServer(lambda req, i: Reply(status=500, body={"error": "down"})) as server:
        ep = Episode(CARD, LLMPatient(CARD, _endpoint(server)), max_turns=3)
        assert asyncio.run(ep.doctor_says("Any allergies?")) is None
    assert ep.failed and "EndpointError" in ep.failed

    class AllMet:
        async def grade(self, prompt, response, rubrics):
            return [Verdict(True, "met") for _ in rubrics]

    f = consult_reward_func(AllMet(), "healthbench", turn_cost=0.1)
    ok = Episode(CARD, LLMPatient(CARD, None), max_turns=1)
    asyncio.run(ok.doctor_says("Call an ambulance."))
    rows = [[{"role": "user", "content": CARD.chief_complaint, "case_id": CARD.id}]] * 2
    out = asyncio.run(f(prompts=rows, completions=["", ""], consult=[ep.summary(), ok.summary()], rubrics=[CARD.rubric()] * 2))
    assert out[0] is None and out[1] == 2.0  # judge 1 + coverage 1 - 0 questions
