"""The reward model on the real graded HealthBench answers: a tiny fit on dev rows, and length adversaries on eval answers.

Skips where ../shared/data/healthbench is absent. The tiny fit (a few dev conversations, small
hashed verifier) is what ``make test`` trains; its figures are not the benchmark's.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

pytest.importorskip("torch")

from heartgrpo.judge.reward_model.data import Answers  # noqa: E402
from heartgrpo.judge.reward_model.features import relevant_answer, sentences  # noqa: E402
from heartgrpo.judge.reward_model.judge import RewardModelJudge  # noqa: E402
from heartgrpo.judge.reward_model.run import train_reward_model  # noqa: E402
from heartgrpo.judge.reward_model.train import FitSettings  # noqa: E402
from heartgrpo.judge.verifier.examples import load_graded  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "healthbench"
pytestmark = pytest.mark.skipif(not (SHARED / "graded_eval.jsonl.gz").is_file(), reason="../shared/data/healthbench is absent")

#: filler about nothing a conversation or rubric names (features.relevant_answer drops such sentences)
BOILERPLATE = "I hope this helps! Thanks so much for reaching out. Wishing you all the best. Cheers!"


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory) -> RewardModelJudge:
    out = tmp_path_factory.mktemp("rm-real")
    info = train_reward_model(SHARED / "graded_dev.jsonl.gz", out, conversations_limit=40, folds=2, cv=False,
                              settings=FitSettings(epochs=150), verifier_options={"hash_bits": 16})
    assert info["conversations"] == 40
    assert json.loads((out / "train.json").read_text())["reward_model.npz"]["trained_on"]["pairs"] > 100
    return RewardModelJudge.from_dir(out)


@pytest.fixture(scope="module")
def eval_answers() -> list:
    answers = Answers.from_examples(load_graded(SHARED / "graded_eval.jsonl.gz"))
    picked = random.Random(0).sample(answers.examples, 40)
    return [(g[0].conversation, g[0].response, [{"criterion": e.criterion, "points": e.points} for e in g]) for g in picked]


def _rate(judge: RewardModelJudge, conv, answer, rubric) -> float:
    return asyncio.run(judge.rate(conv, answer, rubric))


def test_padding_with_its_own_sentences_shuffled_does_not_move_the_score(judge, eval_answers):
    rng = random.Random(1)
    for conv, answer, rubric in eval_answers:
        own = sentences(answer)
        rng.shuffle(own)
        padded = answer + "\n\n" + "\n".join(own)
        assert len(padded) > 1.9 * len(answer) - 10
        assert _rate(judge, conv, padded, rubric) == pytest.approx(_rate(judge, conv, answer, rubric), abs=1e-9)


def test_padding_with_boilerplate_does_not_raise_the_score(judge, eval_answers):
    """Boilerplate that names nothing of the conversation or rubric is dropped before scoring, so it
    cannot raise the score; a filler sentence that shares a word with them is kept (the benchmark
    measures how often that raises the score)."""
    assert relevant_answer("Rest.\n\n" + BOILERPLATE, "I feel tired", [{"criterion": "Advises rest", "points": 1}]) == "Rest."
    dropped = 0
    for conv, answer, rubric in eval_answers:
        padded = answer + "\n\n" + BOILERPLATE
        if relevant_answer(padded, conv, rubric) != relevant_answer(answer, conv, rubric):
            continue
        dropped += 1
        assert _rate(judge, conv, padded, rubric) == pytest.approx(_rate(judge, conv, answer, rubric), abs=1e-9)
    assert dropped >= len(eval_answers) // 2
