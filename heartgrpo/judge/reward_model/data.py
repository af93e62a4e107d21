"""Graded answers as the reward model sees them: one row per answer, with its rubric, the
grader's verdicts, the overall and per-dimension reference scores, and the verifier's p(met).

The verifier's probabilities of the training answers are cross-fitted (:func:`crossfit_probs`):
each conversation's answers are scored by a verifier trained on the other folds' conversations,
so the reward model learns from probabilities as noisy as the ones it will meet on unseen
conversations. Every probability is computed on the canonical answer
(:func:`.features.canonical_answer`).

    >>> a = Answers.from_examples([Example([], "r", "Recommends rest", 2.0, True, "g", "a1")])
    >>> a.reference(), a.groups
    ([1.0], ['g'])
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from heartgrpo.eval.metrics import example_score
from heartgrpo.judge.reward_model.dimensions import DIMENSIONS, dimension_of, dimension_score
from heartgrpo.judge.reward_model.features import answer_features, canonical_answer
from heartgrpo.judge.verifier_data import Example, by_answer

__all__ = ["Answers", "crossfit_probs", "feature_matrix", "verifier_probs"]


@dataclass
class Answers:
    """Answers (all criteria of each) in file order; ``examples[k]`` are answer k's verdicts."""

    examples: list[list[Example]]

    @classmethod
    def from_examples(cls, examples: Sequence[Example]) -> Answers:
        return cls([[examples[i] for i in g] for g in by_answer(examples)])

    @property
    def groups(self) -> list[str]:
        return [g[0].group for g in self.examples]

    def subset(self, keep: Sequence[int]) -> Answers:
        return Answers([self.examples[i] for i in keep])

    def reference(self) -> list[float | None]:
        """The grader's HealthBench score per answer."""
        return [example_score([e.points for e in g], [e.met for e in g]) for g in self.examples]

    def dimension_references(self) -> dict[str, list[float | None]]:
        """Per dimension, the grader's score over that dimension's criteria (None where none)."""
        out: dict[str, list[float | None]] = {}
        for d in DIMENSIONS:
            out[d] = [dimension_score([e.points for e in g], [e.met for e in g], [dimension_of(e.criterion) for e in g], d)
                      for g in self.examples]
        return out

    def lengths(self) -> list[float]:
        return [float(len(g[0].response)) for g in self.examples]


def _canonical(answers: Answers) -> list[Example]:
    flat = []
    for g in answers.examples:
        text = canonical_answer(g[0].response)
        flat.extend(replace(e, response=text) for e in g)
    return flat


def verifier_probs(verifier: Any, answers: Answers) -> list[np.ndarray]:
    """p(met) of every criterion of every answer (canonical answers), by ``verifier``."""
    p = verifier.predict_proba(_canonical(answers))
    out, k = [], 0
    for g in answers.examples:
        out.append(np.asarray(p[k:k + len(g)]))
        k += len(g)
    return out


def crossfit_probs(answers: Answers, folds: int = 4, seed: int = 0, **fit_options: Any) -> list[np.ndarray]:
    """Out-of-fold p(met): conversations split in ``folds`` (seeded); each fold's answers scored by a
    :class:`heartgrpo.judge.verifier.Verifier` fitted on the others (``fit_options`` go to its fit)."""
    from heartgrpo.judge.verifier import Verifier

    convs = sorted(set(answers.groups))
    random.Random(seed).shuffle(convs)
    fold_of = {c: i % folds for i, c in enumerate(convs)}
    out: list[np.ndarray | None] = [None] * len(answers.examples)
    for f in range(folds):
        test = [k for k, g in enumerate(answers.groups) if fold_of[g] == f]
        train = [k for k, g in enumerate(answers.groups) if fold_of[g] != f]
        model = Verifier.fit([e for k in train for e in answers.examples[k]], **fit_options)
        for k, p in zip(test, verifier_probs(model, answers.subset(test))):
            out[k] = p
    return out  # type: ignore[return-value]


def feature_matrix(answers: Answers, probs: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """``(answers, features)`` matrix of :func:`.features.answer_features`."""
    rows = [answer_features(g[0].conversation, g[0].response, [{"criterion": e.criterion, "points": e.points} for e in g], p, threshold)
            for g, p in zip(answers.examples, probs)]
    return np.vstack(rows) if rows else np.zeros((0, 0))
