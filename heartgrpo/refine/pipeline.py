"""``heartgrpo refine``: attribute profiles -> queries -> answer -> critique -> refined answer -> SFT rows.

:func:`run_refine(settings) <run_refine>` writes, in ``settings.out_dir``:

* ``sft_refined.jsonl``: one prompt-completion row per refined answer (what ``sft.data`` selects),
  with its ``attributes``, the ``original`` answer, the ``critique`` and ``provenance`` (models,
  prompt and attribute-file identities, facets, distillation, format, seed); appended with fsync
  as each row is done;
* ``failed.jsonl``: every query that did not become a row, with its ``stage`` and ``reason``
  (a step that failed after its last attempt, a near-duplicate, a query too close to an
  evaluation prompt), so every profile ends in exactly one of the two files;
* ``questions.jsonl``: the kept queries, the input of ``heartgrpo rubrics generate`` (for ``--measure``);
* ``report.json`` / ``report.md`` (counts, attribute coverage, drops, requests) and ``DATA_CARD.md``.

Resumable: every model reply that parsed is cached in SQLite (``settings.cache``, default
``<out_dir>/cache.sqlite``), rows already in ``sft_refined.jsonl`` are skipped, and a torn last
line from a kill is cut; a rerun after a kill asks the model only what it had not answered.
Progress bars (tqdm) for the query and the refine phases.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartgrpo.io.chat import ChatClient, SqliteCache
from heartgrpo.io.jsonl import append_row, read_jsonl, repair_tail, write_jsonl
from heartgrpo.refine.attributes import load_attributes
from heartgrpo.refine.critique import critique_messages, facets_to_change, parse_critique
from heartgrpo.refine.prompts import PROMPT_NAMES, prompt_identity
from heartgrpo.refine.queries import (drop_eval_overlaps, drop_near_duplicates, load_eval_prompts, parse_query,
                                      query_item, query_messages)
from heartgrpo.refine.refine import answer_messages, parse_answer, refine_messages, sft_row
from heartgrpo.refine.sampler import coverage, sample_profiles
from heartgrpo.refine.steps import StepFailed, ask_step

__all__ = ["DATASET_FILE", "FAILED_FILE", "RefineResult", "Refiner", "run_refine"]

DATASET_FILE = "sft_refined.jsonl"
FAILED_FILE = "failed.jsonl"


@dataclass
class RefineResult:
    """Counts and paths of one :func:`run_refine` run."""

    out_dir: Path
    dataset: Path
    failed: Path
    report: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.report["counts"]["rows"])

    @property
    def n_failed(self) -> int:
        return int(self.report["counts"]["failed"])


class Refiner:
    """The chat clients of one run and the per-query chain answer -> critique -> refine."""

    def __init__(self, settings: Any, cache: SqliteCache, *, client: Any = None, teacher_client: Any = None) -> None:
        self.settings = settings
        self.facets = settings.facets.enabled()

        def chat(s: Any, stage: str, c: Any) -> ChatClient:
            return ChatClient(s.model, **s.endpoint_kwargs(), namespace=f"refine-{stage}", prompt_version=prompt_identity(PROMPT_NAMES[stage]),
                              cache=cache, temperature=settings.temperature, max_tokens=settings.max_tokens, client=c)

        self.chats = {stage: chat(settings, stage, client) for stage in ("query", "critique", "refine")}
        teacher = settings.teacher if settings.distill else None
        self.chats["answer"] = chat(teacher, "answer", teacher_client) if teacher else chat(settings, "answer", client)
        self.models = {stage: c.model for stage, c in self.chats.items()}

    async def query(self, item_id: str, profile: dict[str, str]) -> dict[str, Any]:
        q = await ask_step(self.chats["query"], "query", lambda fb, a: query_messages(profile, item_id, fb), parse_query,
                           self.settings.max_attempts)
        return query_item(item_id, q, profile)

    async def refine(self, item: dict[str, Any]) -> dict[str, Any]:
        """The SFT row of ``item``; :class:`StepFailed` names the step that failed."""
        s, query, profile = self.settings, item["prompt"][-1]["content"], item["attributes"]
        original = await ask_step(self.chats["answer"], "answer", lambda fb, a: answer_messages(query, fb), parse_answer, s.max_attempts)
        critique: dict[str, dict[str, str]] = {}
        final = original
        if self.facets:
            critique = await ask_step(self.chats["critique"], "critique",
                                      lambda fb, a: critique_messages(query, profile, original[1], self.facets, fb),
                                      lambda t: parse_critique(t, self.facets), s.max_attempts)
            if facets_to_change(critique):
                final = await ask_step(self.chats["refine"], "refine",
                                       lambda fb, a: refine_messages(query, profile, original, critique, fb), parse_answer, s.max_attempts)
        return sft_row(item, final, s.sft_format, {
            "original": {"reasoning": original[0], "answer": original[1]}, "critique": critique,
            "facets_changed": facets_to_change(critique), "refined": final is not original,
            "provenance": self.provenance()})

    def provenance(self) -> dict[str, Any]:
        s = self.settings
        return {"models": self.models, "prompts": {k: prompt_identity(v) for k, v in PROMPT_NAMES.items()},
                "attributes": load_attributes(s.attributes).identity, "facets": self.facets, "distilled": bool(s.distill),
                "sft_format": s.sft_format, "seed": s.seed}

    def stats(self) -> dict[str, dict[str, int]]:
        return {stage: dict(c.stats) for stage, c in self.chats.items()}

    async def aclose(self) -> None:
        for c in self.chats.values():
            await c.aclose()


async def _gather(jobs: list[tuple[str, Any]], limit: int, desc: str, progress: bool, on_done: Any) -> None:
    """Run ``(id, coroutine function)`` jobs with at most ``limit`` in flight; ``on_done(id, value | StepFailed)``."""
    from tqdm.auto import tqdm

    semaphore = asyncio.Semaphore(limit)

    async def one(job_id: str, make: Any) -> tuple[str, Any]:
        async with semaphore:
            try:
                return job_id, await make()
            except StepFailed as exc:
                return job_id, exc

    tasks = [asyncio.ensure_future(one(i, m)) for i, m in jobs]
    bar = tqdm(total=len(tasks), desc=desc, unit="q", disable=not progress)
    failed = 0
    try:
        for next_done in asyncio.as_completed(tasks):
            job_id, value = await next_done
            failed += isinstance(value, StepFailed)
            on_done(job_id, value)
            bar.update(1)
            bar.set_postfix(failed=failed)
    finally:
        bar.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _failure(item_id: str, stage: str, reason: str, attributes: dict[str, str], query: str | None = None) -> dict[str, Any]:
    return {"id": item_id, "stage": stage, "reason": reason, "attributes": attributes, "query": query}


def run_refine(settings: Any, *, out_dir: str | Path | None = None, limit: int | None = None, progress: bool = True,
               client: Any = None, teacher_client: Any = None) -> RefineResult:
    """Build (or resume) the refined SFT set described in the module docstring."""
    from heartgrpo.io.asyncs import run_sync
    from heartgrpo.refine.card import write_card, write_report

    if not settings.model:
        raise ValueError("refine needs an endpoint: a refine: {model, base_url, ...} config section or --model/--base-url")
    t0 = time.perf_counter()
    out = Path(out_dir or settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = load_attributes(settings.attributes)
    profiles = sample_profiles(spec, settings.n_queries, settings.seed)[:limit]
    ids = [f"refine-{settings.seed}-{i:05d}" for i in range(len(profiles))]
    order = {i: k for k, i in enumerate(ids)}
    dataset, failed_path = out / DATASET_FILE, out / FAILED_FILE
    repair_tail(dataset)
    previous = read_jsonl(dataset, missing_ok=True)
    done = {r["id"] for r in previous}
    refiner = Refiner(settings, SqliteCache(settings.cache or out / "cache.sqlite"), client=client, teacher_client=teacher_client)
    if previous and previous[0].get("provenance") != refiner.provenance():
        raise ValueError(f"{dataset} was built with other settings ({previous[0].get('provenance')}); "
                         "give another out_dir (or move the folder away) to build with these")
    failures: list[dict[str, Any]] = []
    items: dict[str, dict[str, Any]] = {}
    by_id = dict(zip(ids, profiles))

    def got_query(item_id: str, value: Any) -> None:
        if isinstance(value, StepFailed):
            failures.append(_failure(item_id, value.stage, str(value), by_id[item_id]))
        else:
            items[item_id] = value

    def got_row(item_id: str, value: Any) -> None:
        if isinstance(value, StepFailed):
            failures.append(_failure(item_id, value.stage, str(value), by_id[item_id], items[item_id]["prompt"][-1]["content"]))
        else:
            append_row(dataset, value)
            done.add(item_id)

    evals, eval_sources = load_eval_prompts(settings.contamination_sources)

    async def go() -> None:
        try:
            await _gather([(i, lambda i=i, p=p: refiner.query(i, p)) for i, p in zip(ids, profiles)],
                          settings.max_concurrency, "queries", progress, got_query)
            ordered = sorted(items.values(), key=lambda it: order[it["id"]])
            keep.update(it["id"] for it in ordered)
            kept, near = drop_near_duplicates(ordered, settings.dedup_ngram, settings.dedup_threshold)
            kept, dirty = drop_eval_overlaps(kept, evals, settings.contamination_ngram, settings.contamination_threshold)
            for d, stage in [(d, "near_duplicate") for d in near] + [(d, "contaminated") for d in dirty]:
                failures.append(_failure(d["id"], stage, d["reason"], by_id[d["id"]], items[d["id"]]["prompt"][-1]["content"]))
            drops["near_duplicate"], drops["contaminated"] = len(near), len(dirty)
            keep.intersection_update(it["id"] for it in kept)
            write_jsonl([{"id": it["id"], "prompt": it["prompt"], "attributes": it["attributes"], "split": "train"} for it in kept],
                        out / "questions.jsonl")
            todo = [it for it in kept if it["id"] not in done]
            await _gather([(it["id"], lambda it=it: refiner.refine(it)) for it in todo], settings.max_concurrency, "refine", progress, got_row)
        finally:
            await refiner.aclose()

    drops: dict[str, int] = {}
    keep: set[str] = set()  # the ids whose query was written and kept in this run: a row of an earlier run
    run_sync(go)            # whose query is now dropped (other contamination sources) leaves the dataset
    rows = sorted((r for r in read_jsonl(dataset, missing_ok=True) if r["id"] in keep), key=lambda r: order[r["id"]])
    write_jsonl(rows, dataset)
    failures.sort(key=lambda f: order.get(f["id"], len(order)))
    write_jsonl(failures, failed_path)
    report = {
        "counts": {"profiles": len(profiles), "queries": len(items), "rows": len(rows), "failed": len(failures),
                   "dropped_near_duplicate": drops.get("near_duplicate", 0), "dropped_contaminated": drops.get("contaminated", 0),
                   "eval_prompts_checked": len(evals), "refined": sum(bool(r.get("refined")) for r in rows)},
        "failures_by_stage": dict(Counter(f["stage"] for f in failures)),
        "facets_changed": dict(Counter(f for r in rows for f in r.get("facets_changed", []))),
        "eval_sources": eval_sources, "coverage_profiles": coverage(profiles, spec),
        "coverage_rows": coverage([r["attributes"] for r in rows], spec), "requests": refiner.stats(),
        "provenance": refiner.provenance(), "seconds": round(time.perf_counter() - t0, 2),
    }
    paths = write_report(report, out)
    paths["card"] = write_card(report, out)
    return RefineResult(out_dir=out, dataset=dataset, failed=failed_path, report=report, paths=paths)
