"""Judge validation against physician labels (HealthBench meta-eval format).

A meta-eval row: ``{"prompt": [messages], "completion": str, "rubric": str (one criterion),
"binary_labels": [bool, ...] (one per physician), "category": str}``.

Reported like HealthBench: the ground truth of a row is the majority of its physician labels
(rows with a tie are excluded and counted); the judge's verdicts are compared with it by
macro F1 = mean(F1 with "met" as the positive class, F1 with "unmet" as the positive class),
overall and per ``category``. A class with no true and no predicted member has F1 0 (the
``zero_division=0`` convention). Judge failures (``met=None``) are excluded and counted.

Example:
    >>> macro_f1([True, False, True, True], [True, False, False, True])  # F1(met)=0.8, F1(unmet)=0.667
    0.7333333333333334
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo.io.asyncs import run_sync
from heartgrpo.eval.jsonl import EvalInputError, read_eval_rows
from heartgrpo.judge.agreement import f1_score

__all__ = ["agreement", "load_meta_eval", "macro_f1", "physician_majority", "validate_judge"]


def load_meta_eval(path: str | Path) -> list[dict[str, Any]]:
    """Read and check meta-eval rows; errors name the file, line and field."""
    rows = []
    for line_no, row in read_eval_rows(path):
        where = f"{path}:{line_no}"
        if not isinstance(row.get("prompt"), list) or not row["prompt"]:
            raise EvalInputError(f"{where}: field 'prompt' must be a non-empty list of messages")
        for field in ("completion", "rubric"):
            if not isinstance(row.get(field), str):
                raise EvalInputError(f"{where}: field {field!r} must be a string")
        labels = row.get("binary_labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, bool) for x in labels):
            raise EvalInputError(f"{where}: field 'binary_labels' must be a non-empty list of booleans")
        rows.append(row)
    if not rows:
        raise EvalInputError(f"{path}: no meta-eval rows")
    return rows


def physician_majority(labels: Sequence[bool]) -> bool | None:
    """True/False by strict majority of the labels; ``None`` on a tie."""
    yes = sum(bool(x) for x in labels)
    no = len(labels) - yes
    return None if yes == no else yes > no


def macro_f1(pred: Sequence[bool], truth: Sequence[bool]) -> float:
    """mean(F1(met), F1(unmet)) of predictions against ground truth."""
    if len(pred) != len(truth):
        raise ValueError(f"length mismatch: {len(pred)} predictions, {len(truth)} labels")
    if not pred:
        raise ValueError("no labelled rows to compare")
    return ((f1_score(pred, truth, True) or 0.0) + (f1_score(pred, truth, False) or 0.0)) / 2


def agreement(predicted: Sequence[bool | None], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Macro F1 of judge verdicts against the physician majority, overall and per category.

    Returns ``{"macro_f1", "n", "accuracy", "excluded": {"physician_tie", "judge_failure"},
    "by_category": {category: {"macro_f1", "n"}}}``.
    """
    if len(predicted) != len(rows):
        raise ValueError(f"length mismatch: {len(predicted)} verdicts for {len(rows)} rows")
    pairs: list[tuple[bool, bool, str]] = []
    excluded = {"physician_tie": 0, "judge_failure": 0}
    for p, row in zip(predicted, rows):
        truth = physician_majority(row["binary_labels"])
        if truth is None:
            excluded["physician_tie"] += 1
        elif p is None:
            excluded["judge_failure"] += 1
        else:
            pairs.append((p, truth, str(row.get("category") or "uncategorised")))
    if not pairs:
        return {"macro_f1": None, "n": 0, "accuracy": None, "excluded": excluded, "by_category": {}}
    by_cat: dict[str, dict[str, Any]] = {}
    for cat in sorted({c for _, _, c in pairs}):
        sub = [(p, t) for p, t, c in pairs if c == cat]
        by_cat[cat] = {"macro_f1": macro_f1([p for p, _ in sub], [t for _, t in sub]), "n": len(sub)}
    pred, truth = [p for p, _, _ in pairs], [t for _, t, _ in pairs]
    return {
        "macro_f1": macro_f1(pred, truth),
        "n": len(pairs),
        "accuracy": sum(p == t for p, t in zip(pred, truth)) / len(pairs),
        "excluded": excluded,
        "by_category": by_cat,
    }


def validate_judge(rows: Sequence[Mapping[str, Any]], judge: Any, concurrency: int = 8) -> dict[str, Any]:
    """Grade every meta-eval row with ``judge`` and compare with the physicians.

    Each row is one criterion; it is sent as ``{"criterion": rubric, "points": 1}`` because the
    meta-eval question is whether the behaviour is present, which is what ``met`` means for
    positive and negative criteria alike. The result of :func:`agreement` plus ``judge`` and
    the per-row ``predicted`` verdicts.
    """
    from heartgrpo.eval.grade import judge_info

    async def _all() -> list[bool | None]:
        sem = asyncio.Semaphore(concurrency)

        async def one(row: Mapping[str, Any]) -> bool | None:
            async with sem:
                try:
                    verdicts = await judge.grade(list(row["prompt"]), row["completion"], [{"criterion": row["rubric"], "points": 1, "tags": []}])
                except Exception:  # noqa: BLE001 - counted as a judge failure
                    return None
            if len(verdicts) != 1:
                return None
            met = verdicts[0].get("met") if isinstance(verdicts[0], Mapping) else getattr(verdicts[0], "met", None)
            return met if isinstance(met, bool) else None

        return list(await asyncio.gather(*(one(r) for r in rows)))

    predicted = run_sync(_all())
    return {**agreement(predicted, rows), "judge": judge_info(judge), "predicted": predicted}
