"""Grade saved answers with a judge and save every verdict, resumably.

The judge follows the protocol of DESIGN.md §5: ``async grade(prompt, response, rubrics) ->
list[Verdict]`` where a verdict has ``met`` (bool or None), ``explanation`` and ``error``.
One line per graded answer::

    {"id", "model_id", "judge": {"id", "approximate"}, "time", "response_sha256", "response_empty",
     "example_tags", "criteria": [{"criterion", "points", "tags", "met", "explanation", "error"}]}

Lines are self-contained (criterion text, points and tags are copied in), so re-scoring a run
with another strategy (:func:`rescore`) reads this file alone and needs no judge call.
Resuming skips answers whose latest line is fully judged for the same response text; lines
with a failed criterion (``met=None``) are graded again and superseded. Judge calls go through
:class:`~heartgrpo.judge.guarded.GuardedJudge`, the failure path training uses: a crashed call or
a wrong number of verdicts is recorded as ``met=None`` with its reason, never as "not met".
Empty answers follow :data:`heartgrpo.answer_format.EmptyAnswerPolicy`, as in training: under
the default ``on_empty="unmet"`` an empty answer is not sent to the judge: it exhibits no
behaviour, so every criterion is ``met=False`` with the explanation "empty response".

Example:
    >>> stats = grade_answers(records, "answers.jsonl", judge, "verdicts.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from heartgrpo import rewards
from heartgrpo.answer_format import EMPTY_EXPLANATION, EmptyAnswerPolicy, is_empty_answer
from heartgrpo.io.asyncs import run_sync
from heartgrpo.eval.generate import load_answers
from heartgrpo.eval.jsonl import EvalInputError, iter_last_by_id, read_eval_rows
from heartgrpo.io.jsonl import append_row, repair_tail
from heartgrpo.eval.records import example_tags, final_answer, record_id
from heartgrpo.judge.guarded import GuardedJudge, guarded
from heartgrpo.rubrics import is_finite_number

__all__ = ["grade_answers", "judge_info", "load_verdicts", "rescore", "verdict_to_dict"]

def judge_info(judge: Any) -> dict[str, Any]:
    """How a judge is named in saved verdicts and reports (never any credential)."""
    inner = getattr(judge, "inner", None)  # a recording wrapper is named after the judge it wraps
    if inner is not None:
        return {**judge_info(inner), "kind": f"{type(judge).__name__}({type(inner).__name__})"}
    name = getattr(judge, "model", None) or getattr(judge, "name", None)
    if name is None:
        path = getattr(judge, "path", None)
        name = f"{type(judge).__name__}({Path(path).name})" if path else type(judge).__name__
    return {
        "id": str(name),
        "kind": type(judge).__name__,
        "mode": getattr(judge, "mode", None),
        "approximate": bool(getattr(judge, "approximate", False)),
    }


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verdict_to_dict(v: Any, where: str) -> dict[str, Any]:
    """A Verdict object (or a mapping with the same fields) as a plain dict; checks ``met``."""
    get = v.get if isinstance(v, Mapping) else (lambda k, d=None: getattr(v, k, d))
    met = get("met")
    if met is not None and not isinstance(met, bool):
        raise EvalInputError(f"{where}: verdict 'met' must be true, false or null, got {met!r}")
    error = get("error")
    if met is None and not error:
        error = "judge returned no verdict"
    return {"met": met, "explanation": str(get("explanation") or ""), "error": error}


async def _grade_one(
    judge: GuardedJudge, prompt: list, text: str, rubrics: list[dict], rid: str, on_empty: EmptyAnswerPolicy = "unmet"
) -> list[dict[str, Any]]:
    """The verdicts of one answer. ``judge`` is guarded: a crashed call or a wrong number of
    verdicts comes back as failed verdicts (``met=None`` with the reason), as in training."""
    if on_empty == "unmet" and is_empty_answer(text):
        return [{"met": False, "explanation": EMPTY_EXPLANATION, "error": None} for _ in rubrics]
    verdicts = await judge.grade(prompt, text, rubrics)
    return [verdict_to_dict(v, f"id={rid} criterion {j}") for j, v in enumerate(verdicts)]


def _is_tag_list(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(t, str) for t in value))


def load_verdicts(path: str | Path) -> dict[str, dict[str, Any]]:
    """Latest verdict line per id (a regraded line supersedes an earlier one); checks each
    criterion entry (finite ``points``, ``met`` true/false/null, ``tags`` a list of strings) and
    ``example_tags``, raising :class:`EvalInputError` naming ``file:line``, the id and the field."""
    out: dict[str, dict[str, Any]] = {}
    for rid, line_no, row in iter_last_by_id(read_eval_rows(path), path):
        where = f"{path}:{line_no}: id={rid}"
        crits = row.get("criteria")
        if not isinstance(crits, list) or not crits:
            raise EvalInputError(f"{where}: field 'criteria' must be a non-empty list")
        for j, c in enumerate(crits):
            if not isinstance(c, Mapping) or "points" not in c or "met" not in c:
                raise EvalInputError(f"{where}: criteria[{j}] needs 'points' and 'met'")
            if not is_finite_number(c["points"]):
                raise EvalInputError(f"{where}: criteria[{j}].points must be a finite number, got {c['points']!r}")
            if c["met"] is not None and not isinstance(c["met"], bool):
                raise EvalInputError(f"{where}: criteria[{j}].met must be true, false or null")
            if not _is_tag_list(c.get("tags")):
                raise EvalInputError(f"{where}: criteria[{j}].tags must be a list of strings")
        if not _is_tag_list(row.get("example_tags")):
            raise EvalInputError(f"{where}: field 'example_tags' must be a list of strings")
        out[rid] = row
    return out


def grade_answers(
    records: Sequence[Mapping[str, Any]],
    answers_path: str | Path,
    judge: Any,
    out_path: str | Path,
    concurrency: int = 8,
    strip_reasoning: bool = True,
    progress: bool = True,
    on_empty: EmptyAnswerPolicy = "unmet",
) -> dict[str, int]:
    """Grade every answer of ``answers_path`` not yet fully graded in ``out_path``.

    Returns counts: ``graded``, ``skipped`` (already done), ``empty`` (empty answers; graded
    without a judge call under ``on_empty="unmet"``), ``failed_criteria`` (``met=None`` in this call), ``no_answer`` (generation failed),
    ``unknown_id`` (an answer whose id is not among ``records``; an error).
    """
    from tqdm.auto import tqdm

    if on_empty not in ("unmet", "judge"):
        raise ValueError(f"on_empty must be 'unmet' or 'judge', got {on_empty!r}")
    answers_path, out_path = Path(answers_path), Path(out_path)
    answers = load_answers(answers_path)
    by_id = {record_id(r): r for r in records}
    unknown = sorted(set(answers) - set(by_id))
    if unknown:
        raise EvalInputError(
            f"{answers_path}: {len(unknown)} answer id(s) are not in the records, e.g. {unknown[:3]}; "
            "grade with the records the answers were generated from"
        )
    if repair_tail(out_path):
        print(f"{out_path}: removed a truncated last line left by an interrupted run")
    previous = load_verdicts(out_path) if out_path.exists() else {}
    info = judge_info(judge)  # named as given: a wrapper passed in is recorded as such
    checked = guarded(judge, memo_size=0)  # the failure path of training; each answer is graded once
    stats = {"graded": 0, "skipped": 0, "empty": 0, "failed_criteria": 0, "no_answer": 0}
    todo = []
    for rid, ans in answers.items():
        if ans.get("response") is None:
            stats["no_answer"] += 1
            continue
        old = previous.get(rid)
        if (
            old is not None
            and old.get("response_sha256") == sha256(ans["response"])
            and old.get("judge", {}).get("id") == info["id"]
            and all(c.get("met") is not None for c in old["criteria"])
        ):
            stats["skipped"] += 1
            continue
        todo.append((rid, ans))

    bar = tqdm(total=len(todo), desc=f"grading with {info['id']}", disable=not progress)

    async def _run() -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(rid: str, ans: Mapping[str, Any]) -> None:
            rec = by_id[rid]
            rubrics = [dict(c) for c in rec["rubrics"]]
            prompt = [dict(m) for m in rec["prompt"][: ans.get("prompt_turns") or len(rec["prompt"])]]
            text = final_answer(ans["response"]) if strip_reasoning else ans["response"]
            async with sem:
                verdicts = await _grade_one(checked, prompt, text, rubrics, rid, on_empty)
            criteria = [
                {"criterion": c["criterion"], "points": c["points"], "tags": list(c.get("tags") or []), **v}
                for c, v in zip(rubrics, verdicts)
            ]
            append_row(
                out_path,
                {
                    "id": rid,
                    "model_id": ans.get("model_id"),
                    "judge": info,
                    "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "response_sha256": sha256(ans["response"]),
                    "response_empty": not text.strip(),
                    "example_tags": example_tags(rec),
                    "criteria": criteria,
                },
            )
            stats["graded"] += 1
            stats["empty"] += int(not text.strip())
            stats["failed_criteria"] += sum(1 for v in verdicts if v["met"] is None)
            bar.update(1)

        await asyncio.gather(*(one(rid, ans) for rid, ans in todo))

    try:
        run_sync(_run())
    finally:
        bar.close()
    return stats


def rescore(verdicts: Mapping[str, Mapping[str, Any]], strategy: str = "healthbench", **options: Any) -> dict[str, float | None]:
    """Per-example score of saved verdicts under any per-completion reward strategy of
    :mod:`heartgrpo.rewards` (no judge call); ``None`` where a criterion is unjudged."""
    if rewards.STRATEGIES.get(strategy) is not None and rewards.STRATEGIES[strategy].group:
        raise ValueError(f"strategy {strategy!r} needs a group of completions per prompt; an eval run has one")
    from heartgrpo.eval.metrics import example_score

    out: dict[str, float | None] = {}
    for rid, row in verdicts.items():
        points, met = [c["points"] for c in row["criteria"]], [c["met"] for c in row["criteria"]]
        if strategy == "healthbench" and not options:
            out[rid] = example_score(points, met)  # None also for a rubric without positive points
        else:
            out[rid] = rewards.score(strategy, points, met, **options)
    return out
