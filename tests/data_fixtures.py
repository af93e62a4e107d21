"""Small hand-written RaR-Medicine / HealthBench-format rows and a local OpenAI-compatible server
for the data-layer tests. Everything here is synthetic."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heartgrpo.io.loopback import LoopbackServer, Reply

HEART_QUESTIONS = [
    "What does a rising troponin after chest pain mean for a 60 year old man?",
    "How should atrial fibrillation be managed in an elderly woman with falls?",
    "Is a home blood pressure of 150/95 dangerous if I feel fine?",
    "My heart keeps racing at night when I lie down, should I worry?",
    "How is heart failure with reduced ejection fraction treated today?",
    "What are the warning signs of mitral valve prolapse getting worse?",
    "Which statin dose is right after a coronary stent was placed last month?",
    "What does a prolonged QT interval on my ECG mean for my medications?",
]
OTHER_QUESTIONS = [
    "What causes knee pain in long distance runners?",
    "How should a sprained ankle be treated in the first two days?",
]


def rar_rubric(n_items: int = 6, pitfall: bool = True) -> list[dict[str, Any]]:
    items = [{"title": f"Item {i}", "description": f"Essential Criteria: Covers clinical point number {i}.", "weight": 5 - i % 3}
             for i in range(n_items - int(pitfall))]
    if pitfall:
        items.append({"title": "Unsafe", "description": "Pitfall Criteria: Advises ignoring the symptom.", "weight": -2})
    return items


def rar_row(question: str, n_items: int = 6, **extra: Any) -> dict[str, Any]:
    row = {"question": question, "reference_answer": "A careful answer.", "question_source": "synthetic",
           "rubric": rar_rubric(n_items), "rubric_count": n_items,
           "reasoning": "Consider the history, the risk factors and the red flags before answering."}
    row.update(extra)
    return row


def write_rar_dir(root: Path, n_items: int = 6) -> Path:
    """train/val/test JSONL files: the heart questions plus two non-heart ones in each split."""
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        with (root / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for i, q in enumerate(HEART_QUESTIONS + OTHER_QUESTIONS):
                f.write(json.dumps(rar_row(f"{q} ({split} case {i})", n_items=n_items + i % 3)) + "\n")
    return root


def hb_row(prompt_id: str, turns: list[str], heart: bool = True) -> dict[str, Any]:
    messages = []
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return {
        "prompt_id": prompt_id, "prompt": messages,
        "rubrics": [
            {"criterion": "Advises calling emergency services for crushing chest pain", "points": 7, "tags": ["level:example", "axis:accuracy"]},
            {"criterion": "Asks how long the symptoms have lasted", "points": 3, "tags": ["level:example", "axis:context_awareness"]},
            {"criterion": "Tells the user the symptom is certainly harmless", "points": -6, "tags": ["level:example", "axis:accuracy"]},
        ],
        "example_tags": ["theme:emergency_referrals"], "ideal_completions_data": None,
    }


def write_hb_file(path: Path) -> Path:
    rows = [
        hb_row("hb-1", ["I get a squeezing chest pain when I climb stairs, what is it?"]),
        hb_row("hb-2", ["My father was told he has heart failure.", "I am sorry to hear that. What would you like to know?",
                        "Which symptoms mean he should go to hospital?"]),
        hb_row("hb-3", ["My blood pressure readings are 160/100 at home, is that high blood pressure?"]),
        hb_row("hb-4", ["I get heartburn after spicy food, what can I take?"]),
        hb_row("hb-5", ["My toddler has a rash after a new soap."]),
        hb_row("hb-6", ["Since yesterday I feel palpitations and my heart is pounding."]),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


class ChatServer(LoopbackServer):
    """The package's loopback OpenAI-compatible server on 127.0.0.1 with a simpler reply:
    ``reply(request_json)`` returns the assistant content (str) or an HTTP error status (int).
    Every request body is recorded in ``requests``.
    """

    def __init__(self, reply: Callable[[dict[str, Any]], str | int]) -> None:
        def respond(request: dict[str, Any], index: int) -> Reply:
            answer = reply(request)
            if isinstance(answer, int):
                return Reply(status=answer, body={"error": {"message": "injected failure"}})
            return Reply(content=answer)

        super().__init__(respond)
