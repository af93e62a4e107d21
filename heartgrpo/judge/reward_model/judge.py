"""``judge.kind: reward_model``: a :class:`heartgrpo.judge.Judge` over the reward model.

APPROXIMATE, like the verifier it is built on. ``rate`` (what ``rar_implicit`` uses) is the
reward model's overall score mapped to the 1..10 scale, ``1 + 9 * sigmoid(s)``; ``s`` is a
Bradley-Terry log-odds, so only its order and differences within a group (a GRPO group of answers
to one prompt) carry meaning. ``grade`` returns the per-criterion verdicts of the verifier
underneath (the reward model scores answers as a whole and has no verdict of its own): a
per-criterion strategy on this judge is the verifier's strategy, named so in each verdict's
explanation.

    >>> judge = RewardModelJudge.from_dir("runs/reward-model")     # doctest: +SKIP
    >>> await judge.rate(prompt, answer, rubric)                     # doctest: +SKIP
    6.8
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.judge.reward_model.features import answer_features, criterion_of, relevant_answer
from heartgrpo.judge.reward_model.model import RewardModel
from heartgrpo.judge.types import JudgeStats, Verdict, as_messages

__all__ = ["RewardModelJudge"]


class RewardModelJudge:
    """APPROXIMATE judge: verifier verdicts for ``grade``, the reward model's score for ``rate``."""

    approximate = True

    def __init__(self, model: RewardModel, verifier: Any, source: str | None = None) -> None:
        self.model = model
        self.verifier = verifier
        self.source = source
        self.stats = JudgeStats()

    @classmethod
    def from_dir(cls, run_dir: str | Path) -> RewardModelJudge:
        """The model of a run directory of ``heartgrpo reward-model train`` (reward_model.npz and its verifier.npz)."""
        from heartgrpo.judge.reward_model.run import MODEL_FILE, VERIFIER_FILE
        from heartgrpo.judge.verifier.model import Verifier

        run = Path(run_dir)
        path = run / MODEL_FILE if run.is_dir() else run
        for p in (path, path.with_name(VERIFIER_FILE)):
            if not p.is_file():
                raise FileNotFoundError(f"{p}: no reward model; run `heartgrpo reward-model train --out {path.parent}` first")
        return cls(RewardModel.load(path), Verifier.load(path.with_name(VERIFIER_FILE)), source=str(path))

    @property
    def name(self) -> str:
        """How reports name it, with its eval pairwise agreement once measured."""
        ev = self.model.info.get("eval") or {}
        a = ev.get("pairwise_agreement")
        measured = f"eval pairwise agreement {a:.3f} with the GPT-4.1 grader" if a is not None else "eval agreement not measured"
        return f"reward model (approximate; {measured})"

    @property
    def rewards_description(self) -> str:
        """The sentence a demo report gives on what this judge rewards."""
        return ("What a gain means: the judge is the local reward model, a small network over the verifier's per-criterion "
                "probabilities and the answer's structure, trained on dev to order answers to the same conversation as the "
                f"GPT-4.1 grader does (APPROXIMATE; {self.name}); a gain is evidence about what that grader would reward only "
                "as far as that agreement goes.")

    def probabilities(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[float]:
        """The verifier's p(met) per criterion, on the answer without repeats and filler."""
        from heartgrpo.judge.verifier.examples import Example

        conv = as_messages(prompt)
        text = relevant_answer(response, conv, rubrics)
        asks = [Example(conv, text, c, p, False, "", "") for c, p in map(criterion_of, rubrics)]
        return [float(p) for p in self.verifier.predict_proba(asks)]

    def score(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float:
        """The overall score ``s`` (Bradley-Terry log-odds)."""
        probs = self.probabilities(prompt, response, rubrics)
        x = answer_features(as_messages(prompt), response, rubrics, probs, self.verifier.threshold)
        return float(self.model.score(x[None, :])[0])

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        probs = self.probabilities(prompt, response, rubrics)
        out = [Verdict(p >= self.verifier.threshold, f"approximate verifier under the reward model: p(met) = {p:.2f}") for p in probs]
        self.stats.add(verdicts=len(out))
        await asyncio.sleep(0)
        return out

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        if not any(criterion_of(c)[1] > 0 for c in rubrics):
            return None
        s = self.score(prompt, response, rubrics)
        self.stats.add(ratings=1)
        await asyncio.sleep(0)
        return 1.0 + 9.0 / (1.0 + math.exp(-max(-50.0, min(50.0, s))))
