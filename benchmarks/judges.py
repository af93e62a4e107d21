"""The judge of the CPU benchmarks: the local verifier when it beats the lexical judge on eval.

:func:`bench_judge` returns the :class:`heartgrpo.judge.VerifierJudge` of ``runs/bench-verifier``
(the run directory of ``python -m benchmarks.verifier``; trained there on first use from
``../shared/data/healthbench``'s dev split and measured on its eval split, a few minutes on CPU;
not committed) when its Cohen's kappa against the GPT-4.1 grader on eval is higher than the
lexical judge's at the same threshold; otherwise, or without the graded data, the APPROXIMATE
:class:`heartgrpo.judge.LexicalJudge` (the tests' judge), with the reason. :func:`judge_text`
is the sentence a report names its judge with, eval kappa included.

    >>> choice = JudgeChoice(None, "verifier", 0.47, 0.03, None)
    >>> judge_text(choice).startswith("the local verifier (APPROXIMATE; Cohen's kappa 0.470")
    True
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import ROOT

__all__ = ["DATA", "VERIFIER_DIR", "JudgeChoice", "bench_judge", "judge_settings", "judge_text"]

DATA = ROOT / ".." / "shared" / "data" / "healthbench"
VERIFIER_DIR = ROOT / "runs" / "bench-verifier"
log = logging.getLogger("benchmarks.judges")


@dataclass(frozen=True)
class JudgeChoice:
    """The judge a benchmark uses: ``kind`` "verifier" or "lexical", both judges' eval kappa
    (None where not measured) and, for the lexical judge, why the verifier was not used."""

    judge: Any
    kind: str
    verifier_kappa: float | None
    lexical_kappa: float | None
    reason: str | None


def _lexical_kappa(run_dir: Path, graded: Path, threshold: float) -> float | None:
    """The lexical judge's kappa on ``graded`` at ``threshold``: from the run's eval.json when it
    measured that threshold, else measured once and kept in ``lexical_kappa.json``."""
    from heartgrpo.judge.agreement import cohen_kappa
    from heartgrpo.judge.verifier.examples import load_graded
    from heartgrpo.judge.verifier.train import _lexical_verdicts

    key = f"{threshold:g}"
    ev = run_dir / "eval.json"
    if ev.is_file():
        lex = json.loads(ev.read_text()).get("lexical", {})
        if key in lex:
            return lex[key]["all"]["kappa"]
    cache = run_dir / "lexical_kappa.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    if key not in known:
        examples = load_graded(graded)
        known[key] = cohen_kappa(_lexical_verdicts(examples, threshold), [ex.met for ex in examples])
        cache.write_text(json.dumps(known, indent=1) + "\n")
    return known[key]


def bench_judge(lexical_threshold: float = 0.5, run_dir: Path = VERIFIER_DIR, data: Path = DATA) -> JudgeChoice:
    """The benchmarks' judge (see the module docstring)."""
    from heartgrpo.judge import LexicalJudge
    from heartgrpo.judge.verifier.model import VerifierJudge
    from heartgrpo.judge.verifier.train import ensure_verifier

    lexical = LexicalJudge(threshold=lexical_threshold)
    path, reason = ensure_verifier(run_dir, data, progress=False)
    if path is None:
        return JudgeChoice(lexical, "lexical", None, None, reason)
    verifier = VerifierJudge.from_file(path)
    vk = verifier.verifier.eval_kappa
    lk = _lexical_kappa(run_dir, data / "graded_eval.jsonl.gz", lexical_threshold)
    if vk is None or (lk is not None and vk <= lk):
        return JudgeChoice(lexical, "lexical", vk, lk, f"the verifier's eval kappa {vk} does not beat the lexical judge's {lk}")
    return JudgeChoice(verifier, "verifier", vk, lk, None)


def judge_settings(choice: JudgeChoice) -> dict[str, Any]:
    """The ``judge:`` config section of ``choice`` (for benchmarks that build runs from a config)."""
    if choice.kind == "verifier":
        return {"kind": "verifier", "verifier": str(choice.judge.source), "verifier_fallback": "approximate"}
    return {"kind": "approximate", "approximate_threshold": choice.judge.threshold}


def judge_text(choice: JudgeChoice) -> str:
    """How a report names the judge: which one, its eval kappa against the GPT-4.1 grader, and the other's."""
    f = lambda k: "not measured" if k is None else f"{k:.3f}"  # noqa: E731
    if choice.kind == "verifier":
        return (f"the local verifier (APPROXIMATE; Cohen's kappa {f(choice.verifier_kappa)} against the GPT-4.1 grader on "
                f"the held-out eval split of the real graded HealthBench answers, against {f(choice.lexical_kappa)} for the "
                "lexical judge; `heartgrpo verifier train`, trained on the dev split)")
    why = f"; the verifier was not used: {choice.reason}" if choice.reason else ""
    return (f"the APPROXIMATE offline lexical judge (word overlap, not understanding; Cohen's kappa "
            f"{f(choice.lexical_kappa)} against the GPT-4.1 grader on eval){why}")
