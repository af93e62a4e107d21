"""Dataset builders: the SFT set, the GRPO set, the paper's SFT/GRPO split and the eval subset.

* SFT rows are conversational prompt/completion pairs (TRL trains on the completion only) in the
  output format of :mod:`heartgrpo.answer_format`: ``paper`` format
  ``<start_working_out>{reasoning}<end_working_out><SOLUTION>{answer}</SOLUTION>`` under the paper's system prompt, or ``qwen3`` format ``<think>\\n{reasoning}\\n</think>\\n\\n{answer}``.
* GRPO rows keep the conversational ``prompt`` plus the ``rubrics`` column read by the reward
  function; prompts with fewer than ``min_criteria`` criteria are dropped (paper: more than 3)
  and prompt length is capped at a quantile of the lengths (paper: 90th percentile).
* :func:`split_sft_grpo` shuffles with ``numpy.random.default_rng(seed).permutation`` (what
  ``datasets.Dataset.shuffle(seed=...)`` does) and gives the first half to SFT.

Example:
    >>> format_sft_completion("Think.", "Answer.", "paper")
    '<start_working_out>Think.<end_working_out><SOLUTION>Answer.</SOLUTION>'
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Literal

from heartgrpo.answer_format import (
    SftFormat,
    format_sft_completion,
    system_prompt_for,
)
from heartgrpo.io.jsonl import BadRowReport, DataError, handle_bad_row

__all__ = [
    "build_grpo_rows",
    "build_sft_rows",
    "prompt_lengths",
    "quantile",
    "select_eval_subset",
    "split_sft_grpo",
]

def _with_system(prompt: list[dict[str, str]], fmt: SftFormat) -> list[dict[str, str]]:
    system = system_prompt_for(fmt)
    turns = [m for m in prompt if m["role"] != "system"] if system else list(prompt)
    return ([{"role": "system", "content": system}] if system else []) + turns


def build_sft_rows(
    records: Sequence[dict[str, Any]],
    fmt: SftFormat = "paper",
    *,
    missing_reasoning: Literal["error", "skip", "answer_only"] = "error",
    report: BadRowReport | None = None,
) -> list[dict[str, Any]]:
    """SFT rows ``{id, prompt, completion, heart_theme}`` from records with ``reasoning`` and an answer.

    A record without ``reference_answer`` cannot teach an answer and is an error (or skipped and
    counted with ``missing_reasoning="skip"``); a record without ``reasoning`` is an error, skipped
    and counted, or (``answer_only``) trained with an empty working-out section.
    """
    rows = []
    for rec in records:
        where = f"sft:{rec['id']}"
        answer = (rec.get("reference_answer") or "").strip()
        reasoning = (rec.get("reasoning") or "").strip()
        problem = None
        if not answer:
            problem = f"row {rec['id']!r}, field 'reference_answer': missing, SFT needs an answer"
        elif not reasoning and missing_reasoning != "answer_only":
            problem = (f"row {rec['id']!r}, field 'reasoning': missing (augment the data, or set "
                       "missing_reasoning to 'skip' or 'answer_only')")
        if problem:
            handle_bad_row(DataError(problem), where, "skip" if missing_reasoning == "skip" else "error", report)
            continue
        rows.append({
            "id": rec["id"],
            "prompt": _with_system(rec["prompt"], fmt),
            "completion": [{"role": "assistant", "content": format_sft_completion(reasoning, answer, fmt)}],
            "heart_theme": rec.get("heart_theme"),
        })
    return rows


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method), ``0 <= q <= 1``.

    >>> quantile([1, 2, 3, 4], 0.5)
    2.5
    """
    if not values:
        raise ValueError("quantile of an empty sequence")
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def prompt_lengths(prompts: Sequence[list[dict[str, str]]], tokenizer: Any = None) -> list[int]:
    """Prompt lengths in tokens: the tokenizer's chat template when it has one (with the
    generation prompt), its plain encoding otherwise; whitespace words without a tokenizer."""
    if tokenizer is None:
        return [sum(len(m["content"].split()) for m in p) for p in prompts]
    if getattr(tokenizer, "chat_template", None):
        encode: Callable[[list[dict[str, str]]], Any] = lambda p: tokenizer.apply_chat_template(
            p, tokenize=True, add_generation_prompt=True)
    else:
        encode = lambda p: tokenizer("\n".join(m["content"] for m in p))["input_ids"]
    out = []
    for p in prompts:
        ids = encode(p)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        out.append(len(ids))
    return out


def build_grpo_rows(
    records: Sequence[dict[str, Any]],
    fmt: SftFormat = "paper",
    *,
    min_criteria: int = 4,
    prompt_length_quantile: float | None = 0.9,
    tokenizer: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """GRPO rows ``{id, prompt, rubrics, reference_answer, heart_theme, prompt_length}`` and a report.

    The report gives ``n_in``, ``dropped_few_criteria``, ``dropped_long``, ``max_prompt_length``
    (the cap, or the longest prompt without a cap) and ``length_unit`` (``tokens``/``words``).
    """
    enough = [r for r in records if len(r["rubrics"]) >= min_criteria]
    prompts = [_with_system(r["prompt"], fmt) for r in enough]
    lengths = prompt_lengths(prompts, tokenizer)
    cap = None
    if prompt_length_quantile is not None and lengths:
        cap = int(math.floor(quantile(lengths, prompt_length_quantile)))
    rows = [
        {"id": r["id"], "prompt": p, "rubrics": r["rubrics"], "reference_answer": r.get("reference_answer"),
         "heart_theme": r.get("heart_theme"), "prompt_length": n}
        for r, p, n in zip(enough, prompts, lengths)
        if cap is None or n <= cap
    ]
    info = {
        "n_in": len(records),
        "dropped_few_criteria": len(records) - len(enough),
        "dropped_long": len(enough) - len(rows),
        "max_prompt_length": cap if cap is not None else (max(lengths) if lengths else 0),
        "length_unit": "tokens" if tokenizer is not None else "words",
        "min_criteria": min_criteria,
    }
    return rows, info


def split_sft_grpo(records: Sequence[dict[str, Any]], seed: int = 3407, sft_fraction: float = 0.5
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shuffle with ``default_rng(seed).permutation`` and cut: first ``floor(n*fraction)`` to SFT."""
    import numpy as np

    if not 0 <= sft_fraction <= 1:
        raise ValueError(f"sft_fraction must be in [0, 1], got {sft_fraction}")
    order = np.random.default_rng(seed).permutation(len(records))
    shuffled = [records[int(i)] for i in order]
    n_sft = int(math.floor(len(records) * sft_fraction))
    return shuffled[:n_sft], shuffled[n_sft:]


def select_eval_subset(records: Sequence[dict[str, Any]], n: int | None = 500, seed: int = 42,
                       heart_only: bool = True) -> list[dict[str, Any]]:
    """``n`` records drawn with ``random.Random(seed).sample`` from the heart ones (all if fewer),
    kept in their input order. ``n=None`` keeps them all."""
    pool = [r for r in records if r.get("heart")] if heart_only else list(records)
    if n is None or n >= len(pool):
        return pool
    chosen = set(random.Random(seed).sample(range(len(pool)), n))
    return [r for i, r in enumerate(pool) if i in chosen]
