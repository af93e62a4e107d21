"""A scripted refine model for loopback servers (fault tests and benchmarks): well-formed,
malformed, truncated and 500 replies per query.

The query of profile ``k`` carries the marker ``case<k>``; later steps find it in their prompt.
``FAULTS`` says what each marked query meets; the others get well-formed replies. Replies are a
pure function of the request, so two servers built alike answer alike.

Example:
    >>> from heartgrpo.io.loopback import LoopbackServer
    >>> with LoopbackServer(refine_responder()) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
    >>> query_text(3).startswith("case3 ")
    True
"""

from __future__ import annotations

import hashlib
import json
import random
import re

from heartgrpo.io.loopback import Reply

__all__ = ["FAULTS", "PLANTED_PROMPT", "healthbench_fixture_row", "query_text", "refine_responder"]

_WORDS = ("aspirin beta blocker chest tight walking stairs breathless ankle swelling night cough palpitations racing "
          "flutter dizzy faint standing warfarin dose missed statin muscle ache cholesterol pressure reading cuff "
          "morning evening grandmother son daughter clinic village bus hours ecg troponin echo valve murmur child "
          "school sports fever rash swelling legs salt diet potassium kidney diabetes sugar smoker quit vape coffee "
          "alcohol weekend surgery stent bypass scar pain jaw arm sweating nausea tired weeks months yesterday today "
          "tablet pharmacy price insurance nurse cardiologist referral waiting list scan result number high low").split()

#: the text of a HealthBench-style prompt that the query of ``case6`` copies (planted contamination)
PLANTED_PROMPT = ("My father is 71 and since this morning he has had crushing pressure in the middle of his chest that "
                  "spreads to his left arm, he is sweating and short of breath, should I drive him to the clinic tomorrow")

FAULTS = {
    1: "answer malformed once",
    2: "critique always malformed",
    3: "answer always truncated",
    4: "refine always 500",
    5: "query always 500",
    6: "query copies a HealthBench prompt",
    7: "query repeats case0's query",
    8: "answer connection closed once",
}


def query_text(k: int) -> str:
    rng = random.Random(f"q{k}")
    return f"case{k} " + " ".join(rng.choice(_WORDS) for _ in range(40)) + "?"


def healthbench_fixture_row() -> dict:
    """One HealthBench-format row (own text) holding :data:`PLANTED_PROMPT`."""
    return {"prompt_id": "planted-0001", "prompt": [{"role": "user", "content": PLANTED_PROMPT}],
            "rubrics": [{"criterion": "Advises calling emergency services now", "points": 10, "tags": ["axis:accuracy"]}],
            "example_tags": ["theme:emergency_referrals"]}


def refine_responder(faults: bool = True, seen: dict | None = None, delay: float = 0.0):
    """``responder(request, index)`` for :class:`heartgrpo.io.loopback.LoopbackServer`: the
    :data:`FAULTS` when ``faults``, each reply after ``delay`` seconds."""
    seen = {} if seen is None else seen

    def once(key: str) -> bool:
        seen[key] = seen.get(key, 0) + 1
        return seen[key] == 1

    def respond(request: dict, index: int) -> Reply:
        reply = scripted(request)
        reply.delay = delay
        return reply

    def scripted(request: dict) -> Reply:
        system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
        if system.startswith("You write realistic questions"):
            k = int(re.search(r"Variation: refine-\d+-(\d+)", user).group(1))
            if faults and k == 5:
                return Reply(status=500, body={"error": {"message": "boom"}})
            text = PLANTED_PROMPT if faults and k == 6 else query_text(0 if faults and k == 7 else k)
            return Reply(json.dumps({"query": text}))
        m = re.search(r"case(\d+)", user)
        k = int(m.group(1)) if m else -1
        digest = hashlib.sha256(user.encode()).hexdigest()[:8]
        if system.startswith("You are a careful medical assistant answering"):
            if faults and k == 3:
                return Reply('{"reasoning": "The pulse is', status=200)
            if faults and k == 1 and once(f"a{k}"):
                return Reply("I think you should rest.")
            if faults and k == 8 and once(f"c{k}"):
                return Reply(close=True)
            return Reply(json.dumps({"reasoning": f"Consider the causes ({digest}).", "answer": f"See a doctor soon about case{k}."}))
        if system.startswith("You review"):
            if faults and k == 2:
                return Reply(json.dumps({"decision_making": {"wrong": "x"}}))
            facets = re.search(r"Review these facets only: (.*)", user).group(1).split(", ")
            return Reply(json.dumps({f: {"wrong": "", "missing": f"{f} detail", "change": f"add the {f} detail"} for f in facets}))
        if system.startswith("You are a careful medical assistant. You are given"):
            if faults and k == 4:
                return Reply(status=500, body={"error": {"message": "boom"}})
            return Reply(json.dumps({"reasoning": f"Revised reasoning ({digest}).", "answer": f"Refined: call your doctor today about case{k}; go to the ER if pain."}))
        return Reply(status=400, body={"error": {"message": "unknown prompt"}})

    return respond
