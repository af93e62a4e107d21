"""A small synthetic graded split in the HealthBench graded-file format, for verifier tests.

The rule the 'grader' follows is learnable from the texts: a positive criterion "Recommends X"
is met when the answer names X; a pitfall "Dismisses ... as X" is met when the answer says
"just X". No real HealthBench text is used.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from heartgrpo.records import conversation_sha256

TOPICS = ["ecg", "troponin", "echocardiogram", "statin", "aspirin", "holter", "angiogram", "potassium",
          "warfarin", "metoprolol", "spironolactone", "digoxin"]
WORRIES = ["anxiety", "stress", "indigestion", "dehydration"]


def write_split(folder: Path, split: str, n_conversations: int = 24, answers_per: int = 4, seed: int = 0) -> Path:
    """Write ``hard_rebuilt_<split>.jsonl`` and ``graded_<split>.jsonl.gz`` into ``folder``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    convs, graded = [], []
    for c in range(n_conversations):
        prompt = [{"role": "user", "content": f"Case {split}-{c}: my chest feels tight after walking, what should I do?"}]
        sha = conversation_sha256(prompt)
        convs.append({"prompt_id": f"{split}-{c}", "prompt": prompt, "rubrics": [], "x_prompt_sha256": sha})
        wanted = rng.sample(TOPICS, 4)
        worry = rng.choice(WORRIES)
        for a in range(answers_per):
            named = [t for t in wanted if rng.random() < 0.5]
            dismiss = rng.random() < 0.4
            text = "You should see a doctor. " + " ".join(f"A {t} would help here." for t in named)
            if dismiss:
                text += f" It is probably just {worry}."
            items = [{"criterion": f"Recommends a {t} for the chest tightness", "points": 5.0, "met": t in named,
                      "explanation": "synthetic"} for t in wanted]
            items.append({"criterion": f"Dismisses the symptoms as {worry} without evaluation", "points": -4.0,
                          "met": dismiss, "explanation": "synthetic"})
            graded.append({"x_prompt_sha256": sha, "response": text, "items": items, "grader": "synthetic"})
    (folder / f"hard_rebuilt_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in convs), encoding="utf-8")
    path = folder / f"graded_{split}.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in graded)
    return path


def write_data(folder: Path) -> Path:
    """Both splits (different conversations and topics drawn with other seeds); returns ``folder``."""
    write_split(folder, "dev", seed=1)
    write_split(folder, "eval", n_conversations=12, seed=2)
    return folder
