"""The local verifier: a logistic model of the grader's "met", trained on real verdicts, and its Judge.

:class:`Verifier` hashes the features of :mod:`heartgrpo.judge.verifier.features` into
``2**hash_bits`` columns (feature set 2 first turns a negated criterion around: "Fails to advise
X" met becomes "advise X" not met, so pitfalls written as omissions share what positive criteria
teach; :func:`heartgrpo.judge.verifier.crosses.negation_flip`) and fits an L2-regularised logistic regression
``p(met) = sigmoid(w . x + b)`` on graded examples (scikit-learn, on CPU). It is saved as one
``.npz`` file (the non-zero weights, the IDF table, the settings and the figures it was
measured with), no pickle, so loading a verifier runs no code.

:class:`VerifierJudge` is a :class:`heartgrpo.judge.Judge` over a verifier. It is APPROXIMATE:
its verdicts are a model's guess of what GPT-4.1 would say, and every report that uses it
carries its measured eval agreement (``name`` includes the eval kappa). ``rate`` is the expected
HealthBench score under the verifier's probabilities, ``1 + 9 * clip(sum(points * p) /
sum(positive points), 0, 1)``.

    >>> v = Verifier.fit(toy_examples(), hash_bits=12)     # doctest: +SKIP
    >>> v.predict_proba([ex])                              # doctest: +SKIP
    array([0.83])
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heartgrpo.judge.types import JudgeStats, Verdict, as_messages
from heartgrpo.judge.verifier.examples import Example
from heartgrpo.judge.verifier.crosses import negation_flip
from heartgrpo.judge.verifier.features import AnswerView, build_idf, conversation_stems, example_features

__all__ = ["DEFAULT_C", "DEFAULT_THRESHOLD", "FORMAT", "Verifier", "VerifierJudge"]

FORMAT = "heartgrpo-verifier/1"
#: inverse L2 strength; and the p(met) cut of a verdict. Both chosen for Cohen's kappa on a
#: conversation-grouped 4-fold split of the dev split (kappa is highest below 0.5 because the
#: grader says "met" 39% of the time); never on eval.
DEFAULT_C = 0.015
DEFAULT_THRESHOLD = 0.44


def _crit(c: Any) -> tuple[str, float]:
    if hasattr(c, "to_dict"):
        c = c.to_dict()
    if isinstance(c, dict):
        return str(c["criterion"]), float(c["points"])
    return str(c.criterion), float(c.points)


@dataclass
class Verifier:
    """Hashed-feature logistic regression; see the module docstring."""

    weights: np.ndarray
    bias: float
    idf: dict[str, float]
    hash_bits: int = 20
    answer_words: bool = False
    threshold: float = 0.5
    info: dict[str, Any] = field(default_factory=dict)
    #: feature set (1: :mod:`heartgrpo.judge.verifier.features`; 2: plus :mod:`heartgrpo.judge.verifier.crosses`)
    features: int = 1

    # ------------------------------------------------------------------ features
    def _hasher(self) -> Any:
        from sklearn.feature_extraction import FeatureHasher

        return FeatureHasher(2**self.hash_bits, alternate_sign=False)

    @staticmethod
    def _featurize(examples: Sequence[Any], idf: dict[str, float], answer_words: bool, progress: bool = False,
                   features: int = 1) -> list[dict[str, float]]:
        """Feature dicts of ``examples`` (objects with conversation, response, criterion, points);
        each answer and conversation is analysed once."""
        views: dict[int, AnswerView] = {}
        convs: dict[int, frozenset[str]] = {}
        out = []
        it: Any = examples
        if progress:
            from tqdm import tqdm

            it = tqdm(examples, desc="features", unit="verdict", mininterval=2.0)
        for ex in it:
            rid, cid = id(ex.response), id(ex.conversation)
            if rid not in views:
                views[rid] = AnswerView(ex.response)
            if cid not in convs:
                convs[cid] = conversation_stems(ex.conversation)
            criterion, points, flipped = negation_flip(ex.criterion, ex.points) if features >= 2 else (ex.criterion, ex.points, False)
            f = example_features(ex.conversation, views[rid], criterion, points, idf=idf,
                                 conv_stems=convs[cid], answer_words=answer_words, features=features)
            if flipped:
                f["flipped"] = 1.0
            out.append(f)
        return out

    def _flipped(self, examples: Sequence[Any]) -> np.ndarray:
        """Which examples the model sees negation-flipped (feature set 2; :func:`negation_flip`)."""
        if self.features < 2:
            return np.zeros(len(examples), dtype=bool)
        return np.array([negation_flip(ex.criterion, ex.points)[2] for ex in examples], dtype=bool)

    def matrix(self, examples: Sequence[Any], progress: bool = False) -> Any:
        return self._hasher().transform(self._featurize(examples, self.idf, self.answer_words, progress, self.features)).tocsr()

    # ------------------------------------------------------------------ fit / predict
    @classmethod
    def fit(
        cls,
        examples: Sequence[Example],
        *,
        c: float = DEFAULT_C,
        hash_bits: int = 20,
        answer_words: bool = False,
        max_iter: int = 300,
        progress: bool = False,
        features: int = 2,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> Verifier:
        """Fit on ``examples`` (regularisation ``c`` = inverse L2 strength, as in scikit-learn);
        ``threshold`` is the p(met) from which a verdict is "met" (see :data:`DEFAULT_THRESHOLD`)."""
        from sklearn.linear_model import LogisticRegression

        if not examples:
            raise ValueError("no training examples")
        labels = np.array([ex.met for ex in examples], dtype=np.int8)
        if labels.min() == labels.max():
            raise ValueError("training examples are all met or all unmet: nothing to learn")
        t0 = time.perf_counter()
        answers = {id(ex.response): ex.response for ex in examples}
        idf = build_idf(answers.values())
        model = cls(np.zeros(2**hash_bits, dtype=np.float32), 0.0, idf, hash_bits, answer_words, threshold, features=features)
        x = model.matrix(examples, progress)
        met_rate = float(labels.mean())
        labels = labels ^ model._flipped(examples)  # a flipped criterion is met when the behaviour is absent
        t_feat = time.perf_counter() - t0
        lr = LogisticRegression(C=c, solver="liblinear", max_iter=max_iter, random_state=0)  # the same data, the same model
        lr.fit(x, labels)
        model.weights = lr.coef_[0].astype(np.float32)
        model.bias = float(lr.intercept_[0])
        model.info = {
            "format": FORMAT,
            "trained_on": {"verdicts": len(examples), "answers": len(answers), "met_rate": met_rate},
            "c": c,
            "features": features,
            "threshold": threshold,
            "seconds": {"features": round(t_feat, 1), "fit": round(time.perf_counter() - t0 - t_feat, 1)},
        }
        return model

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        """p(met) per example."""
        if not examples:
            return np.zeros(0)
        z = self.matrix(examples) @ self.weights + self.bias
        p = 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))
        flipped = self._flipped(examples)
        return np.where(flipped, 1.0 - p, p)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.npz``): non-zero weights, IDF table, settings and ``info``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        nz = np.flatnonzero(self.weights)
        meta = {"format": FORMAT, "bias": self.bias, "hash_bits": self.hash_bits, "answer_words": self.answer_words,
                "threshold": self.threshold, "features": self.features, "info": self.info, "idf": self.idf}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # written whole, then renamed: a reader never sees half a file
        with tmp.open("wb") as f:
            np.savez_compressed(f, index=nz.astype(np.int32), value=self.weights[nz].astype(np.float32),
                                meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Verifier:
        """Read a file written by :meth:`save`; ValueError names the file when it is not one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                index, value = data["index"], data["value"]
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a verifier file ({e})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        weights = np.zeros(2 ** int(meta["hash_bits"]), dtype=np.float32)
        weights[index] = value
        return cls(weights, float(meta["bias"]), dict(meta["idf"]), int(meta["hash_bits"]), bool(meta["answer_words"]),
                   float(meta["threshold"]), dict(meta.get("info") or {}), int(meta.get("features", 1)))

    @property
    def eval_kappa(self) -> float | None:
        """Cohen's kappa against the grader on the held-out eval split, once measured."""
        k = (self.info.get("eval") or {}).get("kappa")
        return None if k is None else float(k)


@dataclass(frozen=True)
class _Ask:
    conversation: list[dict]
    response: str
    criterion: str
    points: float


class VerifierJudge:
    """APPROXIMATE judge answering from a :class:`Verifier` (no network, a few ms per answer)."""

    approximate = True

    def __init__(self, verifier: Verifier, threshold: float | None = None, source: str | None = None) -> None:
        self.verifier = verifier
        self.threshold = verifier.threshold if threshold is None else float(threshold)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        self.source = source
        self.stats = JudgeStats()

    @classmethod
    def from_file(cls, path: str | Path, threshold: float | None = None) -> VerifierJudge:
        return cls(Verifier.load(path), threshold, source=str(path))

    @property
    def name(self) -> str:
        """``verifier (approximate; eval kappa 0.52 vs the GPT-4.1 grader)`` — how reports name it."""
        k = self.verifier.eval_kappa
        agreement = f"eval kappa {k:.2f} vs the GPT-4.1 grader" if k is not None else "eval agreement not measured"
        return f"verifier (approximate; {agreement})"

    @property
    def rewards_description(self) -> str:
        """The sentence a demo report gives on what this judge rewards (:func:`heartgrpo.pipeline.judge_note`)."""
        k = self.verifier.eval_kappa
        agreement = (f"its verdicts agree with the GPT-4.1 grader's with Cohen's kappa {k:.3f} on the held-out eval split "
                     f"({(self.verifier.info.get('eval') or {}).get('graded', 'graded answers')})" if k is not None
                     else "its agreement with a real grader was not measured (run `heartgrpo verifier eval`)")
        return ("What a gain means: the judge is the local verifier, a logistic model trained on real GPT-4.1 verdicts that "
                f"predicts them from the wording of the criterion and the answer (APPROXIMATE); {agreement}, so a gain is "
                "evidence about what that grader would reward only as far as that agreement goes.")

    def probabilities(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[float]:
        """p(met) per criterion."""
        conv = as_messages(prompt)
        asks = [_Ask(conv, response, *_crit(c)) for c in rubrics]
        return [float(p) for p in self.verifier.predict_proba(asks)]

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        probs = self.probabilities(prompt, response, rubrics)
        out = [Verdict(p >= self.threshold, f"approximate verifier: p(met) = {p:.2f}") for p in probs]
        self.stats.add(verdicts=len(out))
        await asyncio.sleep(0)
        return out

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        probs = self.probabilities(prompt, response, rubrics)
        points = [_crit(c)[1] for c in rubrics]
        pos = sum(p for p in points if p > 0)
        self.stats.add(ratings=1)
        if pos <= 0:
            return None
        expected = sum(pt * p for pt, p in zip(points, probs)) / pos
        return 1.0 + 9.0 * min(1.0, max(0.0, expected))

