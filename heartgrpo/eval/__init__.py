"""Evaluation on the heart subset of HealthBench: generation, grading, HealthBench-exact
scoring, the paper's metrics, statistics, reports.

Light at import (standard library + pydantic): the metrics and settings are imported here,
everything else on first use of its name. The report entry point is
``heartgrpo.eval.run.report`` (the name ``heartgrpo.eval.report`` is the report-writing module).

    >>> from heartgrpo.eval import example_score, aggregate
    >>> example_score([7, 5, 10, -6], [True, False, True, True])
    0.5
"""

from __future__ import annotations

import importlib
from typing import Any

from heartgrpo.eval.metrics import (
    F1_NOTE,
    aggregate,
    example_score,
    mcnemar,
    paired_bootstrap,
    paper_f1,
    paper_metrics,
    paper_pass,
    tag_example_scores,
)
from heartgrpo.config.eval import EvalSettings

_LAZY = {
    "evaluate": "heartgrpo.eval.run",
    "generate_answers": "heartgrpo.eval.generate",
    "load_answers": "heartgrpo.eval.generate",
    "local_generator": "heartgrpo.eval.generators",
    "OpenAIGenerator": "heartgrpo.eval.generators",
    "TransformersGenerator": "heartgrpo.eval.generators",
    "VLLMGenerator": "heartgrpo.eval.generators",
    "grade_answers": "heartgrpo.eval.grade",
    "load_verdicts": "heartgrpo.eval.grade",
    "rescore": "heartgrpo.eval.grade",
    "summarize_run": "heartgrpo.eval.summary",
    "compare_runs": "heartgrpo.eval.summary",
    "load_summary": "heartgrpo.eval.summary",
    "validate_judge": "heartgrpo.eval.validation",
    "agreement": "heartgrpo.eval.validation",
    "load_meta_eval": "heartgrpo.eval.validation",
    "write_report": "heartgrpo.eval.report",
    "write_results_table": "heartgrpo.eval.results_table",
    "example_browser": "heartgrpo.eval.browser",
    "load_records": "heartgrpo.eval.records",
    "select_subset": "heartgrpo.eval.records",
    "EvalInputError": "heartgrpo.eval.jsonl",
}

__all__ = [
    "F1_NOTE",
    "EvalSettings",
    "aggregate",
    "example_score",
    "mcnemar",
    "paired_bootstrap",
    "paper_f1",
    "paper_metrics",
    "paper_pass",
    "tag_example_scores",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'heartgrpo.eval' has no attribute {name!r}")
