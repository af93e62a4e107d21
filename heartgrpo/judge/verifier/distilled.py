"""DistilledJudge: the verifier answers where it is confident, the LLM judge grades the rest.

A criterion's confidence is ``max(p, 1 - p)`` with ``p`` the verifier's probability of "met".
With ``threshold`` t, criteria of confidence >= t are answered by the verifier (``met = p >= 0.5``
there, or the verifier's own threshold); the others go to the LLM judge in one ``grade`` call per answer. t = 0.5 answers
everything locally, t = 1 sends everything to the LLM judge. A failed LLM verdict stays failed
(``met=None``), never replaced by a guess.

:func:`distillation_curve` measures the trade-off on graded data: for each threshold, the share
of LLM requests saved and the agreement of the combined verdicts with a reference.

    >>> distillation_curve([0.95, 0.6, 0.1], [True, False, True], [True, True, False], [0.5, 0.9])[1]["saved"]
    0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heartgrpo.judge.agreement import verdict_agreement
from heartgrpo.judge.types import JudgeStats, Verdict

__all__ = ["DistilledJudge", "distillation_curve"]


def confident(p: float, threshold: float) -> bool:
    """True when the verifier answers this criterion itself: ``max(p, 1 - p) >= threshold``."""
    return max(p, 1.0 - p) >= threshold


class DistilledJudge:
    """Verifier first, LLM judge for the uncertain criteria (see the module docstring).

    ``stats.verdicts`` counts every criterion; ``local`` / ``delegated`` count where each went.
    """

    def __init__(self, verifier: Any, llm_judge: Any, threshold: float = 0.9) -> None:
        if not 0.5 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0.5, 1], got {threshold}")
        self.verifier = verifier
        self.llm_judge = llm_judge
        self.threshold = threshold
        self.stats = JudgeStats()
        self.local = 0
        self.delegated = 0

    @property
    def approximate(self) -> bool:
        return self.threshold < 1.0

    @property
    def name(self) -> str:
        inner = getattr(self.llm_judge, "model", None) or getattr(self.llm_judge, "name", type(self.llm_judge).__name__)
        return f"distilled({self.verifier.name} if confidence >= {self.threshold:g}, else {inner})"

    @property
    def requests_saved(self) -> float:
        """Share of criteria answered without the LLM judge so far."""
        total = self.local + self.delegated
        return self.local / total if total else 0.0

    async def grade(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> list[Verdict]:
        probs = self.verifier.probabilities(prompt, response, rubrics)
        cut = getattr(self.verifier, "threshold", 0.5)
        out: list[Verdict | None] = [
            Verdict(p >= cut, f"approximate verifier: p(met) = {p:.2f}") if confident(p, self.threshold) else None for p in probs
        ]
        todo = [j for j, v in enumerate(out) if v is None]
        if todo:
            fresh = list(await self.llm_judge.grade(prompt, response, [rubrics[j] for j in todo]))
            if len(fresh) != len(todo):
                fresh = [Verdict.failed(f"LLM judge returned {len(fresh)} verdicts for {len(todo)} criteria")] * len(todo)
            for j, v in zip(todo, fresh):
                out[j] = v
        verdicts = [v for v in out if v is not None]
        self.local += len(rubrics) - len(todo)
        self.delegated += len(todo)
        self.stats.add(verdicts=len(verdicts), failures=sum(v.met is None for v in verdicts))
        return verdicts

    async def rate(self, prompt: Any, response: str, rubrics: Sequence[Any]) -> float | None:
        """A holistic rating is one request: the LLM judge's own."""
        return await self.llm_judge.rate(prompt, response, rubrics)

    def close(self) -> None:
        close = getattr(self.llm_judge, "close", None)
        if callable(close):
            close()


def distillation_curve(
    probs: Sequence[float], llm: Sequence[bool], truth: Sequence[bool], thresholds: Sequence[float], cut: float = 0.5
) -> list[dict[str, Any]]:
    """Per threshold: ``saved`` (share answered by the verifier) and the agreement with ``truth``
    (:func:`heartgrpo.judge.agreement.verdict_agreement`) of verifier-where-confident + ``llm``."""
    if not len(probs) == len(llm) == len(truth):
        raise ValueError(f"length mismatch: {len(probs)} probabilities, {len(llm)} LLM verdicts, {len(truth)} labels")
    rows = []
    for t in thresholds:
        mask = [confident(p, t) for p in probs]
        combined = [p >= cut if m else bool(v) for p, v, m in zip(probs, llm, mask)]
        rows.append({"threshold": t, "saved": sum(mask) / len(mask) if mask else 0.0, **verdict_agreement(combined, truth)})
    return rows
