"""Graded answers as the reward model sees them: one row per answer, with its rubric, the
grader's verdicts, the overall and per-dimension reference scores, and the verifier's p(met).

The verifier's probabilities of the training answers are cross-fitted (:func:`crossfit_probs`):
each conversation's answers are scored by a verifier trained on the other folds' conversations,
so the reward model learns from probabilities as noisy as the ones it will meet on unseen
conversations. Every probability is computed on the answer without repeats and filler
(:func:`.features.relevant_answer`).

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

from heartgrpo.rewards import score
from heartgrpo.judge.reward_model.dimensions import DIMENSIONS, dimension_of, dimension_score
from heartgrpo.judge.reward_model.features import answer_features, relevant_answer
from heartgrpo.judge.verifier.examples import Example, by_answer

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
        return [score("healthbench", [e.points for e in g], [e.met for e in g], no_positive="none") for g in self.examples]

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
        text = relevant_answer(g[0].response, g[0].conversation, [{"criterion": e.criterion, "points": e.points} for e in g])
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


def crossfit_probs(answers: Answers, folds: int = 4, seed: int = 0, c: float | None = None, hash_bits: int = 20,
                   features: int = 2, progress: bool = False) -> list[np.ndarray]:
    """Out-of-fold p(met): conversations split in ``folds`` (seeded); each fold's answers scored by
    the verifier's logistic regression fitted on the other folds (settings of
    :meth:`heartgrpo.judge.verifier.model.Verifier.fit`). The hashed features are computed once, with the
    IDF table of all the answers' texts (no labels), and only the regression is refitted per fold."""
    from sklearn.linear_model import LogisticRegression

    from heartgrpo.judge.verifier.model import DEFAULT_C, Verifier
    from heartgrpo.judge.verifier.crosses import negation_flip
    from heartgrpo.judge.verifier.features import build_idf

    flat = _canonical(answers)
    owner = np.array([k for k, g in enumerate(answers.examples) for _ in g])
    idf = build_idf({id(e.response): e.response for e in flat}.values())
    model = Verifier(np.zeros(2**hash_bits, dtype=np.float32), 0.0, idf, hash_bits, features=features)
    x = model.matrix(flat, progress)
    flipped = np.array([features >= 2 and negation_flip(e.criterion, e.points)[2] for e in flat], dtype=bool)
    labels = np.array([e.met for e in flat], dtype=bool) ^ flipped
    convs = sorted(set(answers.groups))
    random.Random(seed).shuffle(convs)
    fold_of = {g: i % folds for i, g in enumerate(convs)}
    row_fold = np.array([fold_of[answers.groups[k]] for k in owner])
    p = np.zeros(len(flat))
    for f in range(folds):
        tr, te = row_fold != f, row_fold == f
        lr = LogisticRegression(C=DEFAULT_C if c is None else c, solver="liblinear", max_iter=300, random_state=0)
        lr.fit(x[tr], labels[tr])
        q = lr.predict_proba(x[te])[:, 1]
        p[te] = np.where(flipped[te], 1.0 - q, q)
    return [p[owner == k] for k in range(len(answers.examples))]


def feature_matrix(answers: Answers, probs: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """``(answers, features)`` matrix of :func:`.features.answer_features`."""
    rows = [answer_features(g[0].conversation, g[0].response, [{"criterion": e.criterion, "points": e.points} for e in g], p, threshold)
            for g, p in zip(answers.examples, probs)]
    return np.vstack(rows) if rows else np.zeros((0, 0))
