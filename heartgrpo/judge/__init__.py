"""heartgrpo.judge: rubric judges (DESIGN.md §5).

* :class:`Verdict`, :class:`Judge` (protocol), :class:`JudgeStats` — types;
* :class:`OpenAIJudge` — async judge over any OpenAI-compatible endpoint;
* :class:`ProcessPoolJudge` — the same judge spread over worker processes (client CPU-bound steps);
* :class:`VerdictCache` — persistent SQLite cache of parsed verdicts;
* :class:`RecordedJudge`, :class:`RecordingJudge` — replay / record verdicts as JSONL;
* :class:`LexicalJudge` — deterministic, offline, APPROXIMATE word-overlap judge;
* :class:`VerifierJudge` — the local verifier trained on GPT-4.1 verdicts (APPROXIMATE, named with its eval kappa);
* :class:`DistilledJudge` — the verifier where it is confident, an LLM judge for the rest.

Importing this package does not import ``openai``; :class:`OpenAIJudge` imports it on first use.
"""

from heartgrpo.judge.cache import VerdictCache, cache_key
from heartgrpo.judge.offline import LexicalJudge, RecordedJudge, RecordingJudge, record_key
from heartgrpo.judge.openai_judge import OpenAIJudge
from heartgrpo.judge.pool import ProcessPoolJudge
from heartgrpo.judge.parsing import ParseError, parse_batched, parse_rating, parse_verdict
from heartgrpo.judge.types import Judge, JudgeStats, Verdict
from heartgrpo.judge.verifier.distilled import DistilledJudge
from heartgrpo.judge.verifier.model import Verifier, VerifierJudge

__all__ = [
    "DistilledJudge",
    "Judge",
    "JudgeStats",
    "LexicalJudge",
    "OpenAIJudge",
    "ParseError",
    "ProcessPoolJudge",
    "RecordedJudge",
    "RecordingJudge",
    "Verdict",
    "VerdictCache",
    "Verifier",
    "VerifierJudge",
    "cache_key",
    "parse_batched",
    "parse_rating",
    "parse_verdict",
    "record_key",
]
