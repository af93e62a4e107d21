"""Features of one (conversation, answer, rubric) for the reward model, all computable on CPU.

Input: the verifier's p(met) per criterion (:class:`heartgrpo.judge.verifier.model.Verifier`) and the
texts. The answer is first made canonical (:func:`relevant_answer`): a sentence repeated word for
word is kept once (:func:`canonical_answer`), and a sentence that shares no content stem with the
conversation or the rubric (filler: "I hope this helps", boilerplate disclaimers) is dropped.
So padding an answer with copies of its own sentences, or with sentences about nothing the
conversation or rubric names, cannot change any feature, the verifier's probabilities included.
One vector per answer (:data:`FEATURE_NAMES`):

* rubric (from the verifier): expected HealthBench score ``sum(points * p) / sum(positive
  points)``; the verdict score at the verifier's cut; expected share of positive points met;
  expected share of pitfall points triggered; the mean, min and max p(met) over positive
  criteria; the points-weighted mean logit of p; per dimension (:mod:`.dimensions`) the expected
  score over that dimension's criteria (0 where the rubric has none) and whether it has any;
* coverage (lexical): the points-weighted share of positive criteria whose content stems the
  answer mostly contains, and of the criteria's stems found in the answer;
* structure: log characters, log words, lines, bullets, headings, bold spans, questions asked,
  emergency words, hedges, sentences, mean sentence length and the share of distinct words;
  length is one feature among these.

    >>> canonical_answer("Rest. Drink water. Rest.")
    'Rest. Drink water.'
    >>> x = answer_features([{"role": "user", "content": "chest pain"}], "Call 911 now.",
    ...                     [{"criterion": "Advises calling 911", "points": 5}], [0.9])
    >>> len(x) == len(FEATURE_NAMES), round(float(x[0]), 3)
    (True, 0.9)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from heartgrpo.judge.reward_model.dimensions import DIMENSIONS, dimension_of
from heartgrpo.judge.verifier.features import conversation_stems, stems_of

__all__ = ["FEATURE_NAMES", "answer_features", "canonical_answer", "criterion_of", "relevant_answer", "sentences"]

_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[A-Za-z0-9']+")
_EMERGENCY = re.compile(r"\b(911|999|112|emergency|ambulance|urgent care|immediately|right away)\b", re.I)
_HEDGE = re.compile(r"\b(may|might|could|possibly|consult|healthcare (?:provider|professional)|doctor)\b", re.I)

_RUBRIC = ["expected_score", "verdict_score", "expected_positive", "expected_pitfall", "p_pos_mean", "p_pos_min",
           "p_pos_max", "logit_mean"]
_DIMS = [f"dim_{d}" for d in DIMENSIONS] + [f"has_{d}" for d in DIMENSIONS]
_COVER = ["cover_criteria", "cover_stems"]
_SHAPE = ["log_chars", "log_words", "lines", "bullets", "headings", "bold", "questions", "emergency", "hedges",
          "sentences", "sentence_words", "distinct_words"]
FEATURE_NAMES: tuple[str, ...] = tuple(_RUBRIC + _DIMS + _COVER + _SHAPE)


def criterion_of(c: Any) -> tuple[str, float]:
    """``(criterion text, points)`` of a rubric item (a dict or an object with those fields)."""
    if hasattr(c, "to_dict"):
        c = c.to_dict()
    if isinstance(c, Mapping):
        return str(c["criterion"]), float(c["points"])
    return str(c.criterion), float(c.points)


def sentences(text: str) -> list[str]:
    """The pieces :func:`canonical_answer` compares: ``text`` split after ``.!?`` + space and at line breaks.

    >>> sentences("Rest. Drink water! Sleep?")
    ['Rest.', 'Drink water!', 'Sleep?']
    """
    return [s.strip() for s in _SENT.split(text) if s.strip()]


def canonical_answer(answer: str) -> str:
    """``answer`` with every sentence after its first word-for-word occurrence dropped (whitespace
    and case ignored when comparing); line breaks between kept pieces become one space or newline."""
    seen: set[str] = set()
    out: list[str] = []
    pos = 0
    for m in list(_SENT.finditer(answer)) + [None]:
        end = m.start() if m is not None else len(answer)
        piece = answer[pos:end]
        key = " ".join(piece.lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(piece.strip())
            out.append("\n" if m is not None and "\n" in m.group() else " ")
        if m is not None:
            pos = m.end()
    return "".join(out).strip()


def relevant_answer(answer: str, conversation: Sequence[Mapping[str, Any]] | str, rubric: Sequence[Any]) -> str:
    """:func:`canonical_answer` without the sentences that share no content stem
    (:func:`heartgrpo.judge.verifier.features.stems_of`) with the conversation or the rubric's criteria.

    >>> relevant_answer("Chest pain needs an ECG. I hope this helps!", "chest pain", [{"criterion": "Mentions ECG", "points": 1}])
    'Chest pain needs an ECG.'
    """
    known = set(conversation_stems(conversation))
    for c in rubric:
        known |= set(stems_of(criterion_of(c)[0]))
    text = canonical_answer(answer)
    pieces = [m for m in re.split(r"((?<=[.!?])\s+|\n+)", text)]
    out, keep_sep = [], False
    for k, piece in enumerate(pieces):
        if k % 2 == 1:  # a separator: kept after a kept sentence
            if keep_sep:
                out.append("\n" if "\n" in piece else " ")
            continue
        keep_sep = bool(piece.strip()) and bool(set(stems_of(piece)) & known)
        if keep_sep:
            out.append(piece)
    return "".join(out).strip()


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def answer_features(conversation: Sequence[Mapping[str, Any]] | str, answer: str, rubric: Sequence[Any],
                    probs: Sequence[float], threshold: float = 0.5) -> np.ndarray:
    """The feature vector of the module docstring (order :data:`FEATURE_NAMES`); ``probs`` are the
    verifier's p(met) of ``rubric``'s criteria for :func:`relevant_answer`."""
    crits = [criterion_of(c) for c in rubric]
    if len(crits) != len(probs):
        raise ValueError(f"{len(crits)} criteria, {len(probs)} probabilities")
    text = relevant_answer(answer, conversation, rubric)
    pts = np.array([p for _, p in crits], dtype=float)
    pr = np.clip(np.array(probs, dtype=float), 0.0, 1.0)
    pos, neg = pts > 0, pts < 0
    pos_sum = float(pts[pos].sum()) or 1.0
    neg_sum = float(-pts[neg].sum())
    expected = float((pts * pr).sum()) / pos_sum
    verdict = float((pts * (pr >= threshold)).sum()) / pos_sum
    rubric_f = [expected, verdict, float((pts[pos] * pr[pos]).sum()) / pos_sum,
                float((-pts[neg] * pr[neg]).sum()) / neg_sum if neg_sum else 0.0,
                float(pr[pos].mean()) if pos.any() else 0.0, float(pr[pos].min()) if pos.any() else 0.0,
                float(pr[pos].max()) if pos.any() else 0.0,
                float(sum(abs(p) * _logit(q) * (1 if p > 0 else -1) for p, q in zip(pts, pr)) / (np.abs(pts).sum() or 1.0))]
    dims = [dimension_of(c) for c, _ in crits]
    dim_f, has_f = [], []
    for d in DIMENSIONS:
        idx = [i for i, x in enumerate(dims) if x == d]
        dpos = sum(pts[i] for i in idx if pts[i] > 0)
        has_f.append(1.0 if dpos > 0 else 0.0)
        dim_f.append(float(sum(pts[i] * pr[i] for i in idx)) / dpos if dpos > 0 else 0.0)
    a_stems = set(stems_of(text))
    cov_c = cov_s = 0.0
    n_stems = 0
    for (c, p) in crits:
        cs = set(stems_of(c))
        if p > 0 and cs:
            found = len(cs & a_stems)
            cov_c += p * (found / len(cs) >= 0.5)
            cov_s += found
            n_stems += len(cs)
    sents = [s for s in _SENT.split(text) if s.strip()]
    words = _WORD.findall(text.lower())
    lines = [ln for ln in text.splitlines() if ln.strip()]
    shape = [math.log1p(len(text)), math.log1p(len(words)), math.log1p(len(lines)),
             math.log1p(sum(1 for ln in lines if ln.lstrip().startswith(("-", "*", "•")) or ln.lstrip()[:2].rstrip(".").isdigit())),
             math.log1p(sum(1 for ln in lines if ln.lstrip().startswith("#"))), math.log1p(text.count("**") // 2),
             math.log1p(text.count("?")), math.log1p(len(_EMERGENCY.findall(text))), math.log1p(len(_HEDGE.findall(text))),
             math.log1p(len(sents)), len(words) / max(1, len(sents)) / 20.0,
             len(set(words)) / max(1, len(words))]
    return np.array(rubric_f + dim_f + has_f + [cov_c / pos_sum, cov_s / max(1, n_stems)] + shape, dtype=np.float64)
