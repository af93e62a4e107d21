"""Rubrics for your own questions: an LLM writes RaR-Medicine-style rubrics, our checks accept them.

``generate_rubrics(questions_jsonl, out_dir, settings)`` (CLI: ``heartgrpo rubrics generate``):

1. each question (a text or a conversation, optionally with a reference answer; see
   :mod:`heartgrpo.rubricgen.files`) is sent with the versioned system prompt
   ``prompts/rubric_gen_v1.txt`` to an OpenAI-compatible endpoint through
   :class:`heartgrpo.io.chat.ChatClient` (retries, SQLite cache: a rerun costs no request);
2. the answer is parsed robustly (:func:`heartgrpo.rubricgen.parse.parse_rubric_answer`:
   fenced, partial and duplicate-laden answers) into RaR items ``{title, description, weight}``;
3. the rubric is checked (:func:`heartgrpo.rubricgen.quality.assess_rubric`, which includes
   :func:`heartgrpo.rubrics.parse_rar_rubric` validation). A rubric with a blocking problem is
   regenerated, with the problems quoted back to the model, up to ``max_attempts`` times in all;
   one still bad then goes to ``failed.jsonl`` and the report, never silently dropped;
4. accepted rubrics are appended at once to ``rubrics_rar.jsonl`` and ``records.jsonl``;
   a rerun skips them (resumable), and the quality report covers every row of the file. At the
   end of a run the files are put back in input order (answers arrive in any order).

With ``prompt="rubric_gen_orbit_v1"`` the ORBIT-style prompt asks for HealthBench-scale points
(-10..10) and axes, and with a ``retriever`` (:class:`heartgrpo.rubricgen.retrieve.RubricRetriever`,
CLI ``--exemplars POOL``) each request also shows rubrics of the most similar real cases
(:func:`heartgrpo.rubricgen.retrieve.exemplar_block`); the target question is never among them.

Example::

    settings = RubricGenSettings(model="Qwen/Qwen3-32B", base_url="http://localhost:8000/v1",
                                 cache="cache/rubric_gen.sqlite")
    result = generate_rubrics("my_questions.jsonl", "runs/my_rubrics", settings)
    print(result.summary)
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from heartgrpo.heart.classifier import classify
from heartgrpo.io.chat import ChatClient, SqliteCache
from heartgrpo.records import make_record, user_text
from heartgrpo.rubricgen.files import Question, RubricStore, read_questions
from heartgrpo.rubricgen.parse import parse_rubric_answer
from heartgrpo.rubricgen.quality import assess_rubric, file_report, write_quality_report
from heartgrpo.config.data import RubricGenSettings
from heartgrpo.judge.prompts.render import fence, render_conversation
from heartgrpo.io.retry import is_retryable
from heartgrpo.rubrics import parse_rar_rubric

__all__ = ["ORBIT_PROMPT_NAME", "PROMPT_NAME", "PROMPTS", "GenerationResult", "RubricGenSettings", "RubricGenerator", "generate_rubrics", "prompt_identity"]

PROMPT_NAME = "rubric_gen_v1"
ORBIT_PROMPT_NAME = "rubric_gen_orbit_v1"
#: prompt name -> the weight scale its answers use (:data:`heartgrpo.rubricgen.parse.RubricScale`)
PROMPTS = {PROMPT_NAME: "rar", ORBIT_PROMPT_NAME: "healthbench"}


@lru_cache(maxsize=None)
def _system_prompt(name: str = PROMPT_NAME) -> tuple[str, str]:
    if name not in PROMPTS:
        raise ValueError(f"unknown rubric prompt {name!r}; known: {', '.join(PROMPTS)}")
    text = resources.files("heartgrpo.rubricgen").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8").strip() + "\n"
    return text, f"{name}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def prompt_identity(name: str = PROMPT_NAME) -> str:
    """``rubric_gen_v1@<sha12 of the file>``: part of every cache key, so an edited prompt is never served stale answers."""
    return _system_prompt(name)[1]


def build_messages(q: Question, feedback: list[str] | None = None, attempt: int = 1, prompt: str = PROMPT_NAME,
                   exemplars: str | None = None) -> list[dict[str, str]]:
    """System prompt + the fenced conversation, reference answer and any feedback on a previous try.

    The attempt number is part of the feedback, so two regenerations with the same problems are
    two requests (and two cache entries), not one answer served twice.
    """
    parts = ["Write the rubric for the assistant's next reply in this conversation.",
             fence("CONVERSATION", render_conversation(q.prompt))]
    if q.reference_answer:
        parts += ["Reference answer (ground the Essential and Important items in it):", fence("REFERENCE", q.reference_answer)]
    else:
        parts.append("No reference answer is given: base the rubric on current clinical knowledge.")
    if exemplars:
        parts.append(exemplars)
    if feedback:
        parts.append(f"Attempt {attempt}. Your previous rubric for this conversation had these problems; "
                     "write a new rubric that fixes them:\n"
                     + "\n".join(f"- {p}" for p in feedback))
    return [{"role": "system", "content": _system_prompt(prompt)[0]}, {"role": "user", "content": "\n\n".join(parts)}]


@dataclass
class Outcome:
    """What became of one question: ``accepted`` or ``failed`` after ``attempts``."""

    question: Question
    status: str
    attempts: int
    items: list[dict[str, Any]] | None = None
    quality: dict[str, Any] | None = None
    error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def entry(self) -> dict[str, Any]:
        """The per-rubric entry of the quality report."""
        return {"id": self.question.id, "status": self.status, "attempts": self.attempts, "quality": self.quality,
                "error": self.error, "history": self.history}


class RubricGenerator:
    """Writes and checks one rubric per question through an OpenAI-compatible endpoint."""

    def __init__(self, settings: RubricGenSettings, *, cache: SqliteCache | None = None, client: Any = None,
                 prompt: str = PROMPT_NAME, retriever: Any = None) -> None:
        from heartgrpo.rubricgen.retrieve import pool_fingerprint

        self.settings = settings
        self.prompt = prompt
        self.retriever = retriever
        self.prompt_id = prompt_identity(prompt) + (f"+pool@{pool_fingerprint(retriever.pool)}" if retriever is not None else "")
        self.chat = ChatClient(
            settings.model, **settings.endpoint_kwargs(), namespace="rubric-gen", prompt_version=self.prompt_id,
            cache=cache if cache is not None else settings.cache, temperature=settings.temperature,
            max_tokens=settings.max_tokens, client=client,
        )

    async def generate(self, q: Question) -> Outcome:
        """Up to ``max_attempts`` generations; the first that passes every blocking check wins.

        A non-retryable endpoint error (wrong key, model or URL) is raised: no later row could succeed.
        """
        from heartgrpo.rubricgen.retrieve import exemplar_block

        feedback: list[str] | None = None
        out = Outcome(q, "failed", 0)
        exemplars = None
        if self.retriever is not None:
            found = self.retriever.retrieve(user_text(q.prompt), target_id=q.id)
            exemplars = exemplar_block(found)
            out.history.append({"exemplar_cases": [c["id"] for c in found.cases]})
        scale = PROMPTS[self.prompt]
        for attempt in range(1, self.settings.max_attempts + 1):
            out.attempts = attempt
            try:
                items, notes = await self.chat.complete(build_messages(q, feedback, attempt, self.prompt, exemplars),
                                                        lambda text: parse_rubric_answer(text, scale))
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                out.error = f"attempt {attempt}: {type(exc).__name__}: {str(exc)[:200]}"
                out.history.append({"attempt": attempt, "error": out.error})
                feedback = ['the answer was not a JSON object {"rubric": [...]} in the requested shape']
                continue
            quality = assess_rubric(items, q.reference_answer, q.id)
            out.items, out.quality, out.error = items, quality, None
            out.history.append({"attempt": attempt, "n_items": quality["n_items"], "blocking": quality["blocking"], "parse_notes": notes})
            if quality["ok"]:
                out.status = "accepted"
                return out
            feedback = quality["blocking"]
        return out

    async def aclose(self) -> None:
        await self.chat.aclose()


def rar_row(q: Question, items: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """A RaR-Medicine row for ``q``."""
    return {"id": q.id, "question": q.question, "reference_answer": q.reference_answer, "rubric": items,
            "rubric_list": [i["description"] for i in items], "rubric_count": len(items),
            "question_source": f"generated:{model}", "split": q.split}


def canonical_record(q: Question, items: list[dict[str, Any]], model: str, prompt_id: str | None = None) -> dict[str, Any]:
    """The canonical record (DESIGN.md §3) for ``q``; validated by :func:`make_record`. An item's
    ``axis`` (ORBIT prompt) becomes the tag ``axis:<name>``."""
    label = classify(user_text(q.prompt))
    rubrics = [c.to_dict() for c in parse_rar_rubric(items, q.id)]
    for c, item in zip(rubrics, items):
        if item.get("axis"):
            c["tags"] = [*c["tags"], f"axis:{item['axis']}"]
    return make_record({
        "id": q.id, "source": "generated", "prompt": q.prompt, "reference_answer": q.reference_answer,
        "rubrics": rubrics,
        "heart": label.heart, "heart_theme": label.theme, "heart_evidence": label.evidence, "split": q.split,
        "rubric_generator": {"model": model, "prompt": prompt_id or prompt_identity()}, **q.extra,
    })


@dataclass
class GenerationResult:
    """Counts and paths of one :func:`generate_rubrics` run."""

    out_dir: Path
    n_questions: int
    n_skipped_done: int
    n_accepted: int
    n_failed: int
    report: dict[str, Path]
    summary: dict[str, Any]
    failed_ids: list[str]
    requests: int = 0
    cache_hits: int = 0


async def _run(questions: list[Question], store: RubricStore, generator: RubricGenerator, progress: bool) -> list[Outcome]:
    from tqdm.auto import tqdm

    semaphore = asyncio.Semaphore(generator.settings.max_concurrency)

    async def one(q: Question) -> Outcome:
        async with semaphore:
            return await generator.generate(q)

    failed: list[Outcome] = []
    tasks = [asyncio.ensure_future(one(q)) for q in questions]
    bar = tqdm(total=len(tasks), desc="rubrics", unit="q", disable=not progress)
    try:
        for next_done in asyncio.as_completed(tasks):
            outcome = await next_done
            if outcome.status == "accepted":
                assert outcome.items is not None
                store.add(rar_row(outcome.question, outcome.items, generator.settings.model),
                          canonical_record(outcome.question, outcome.items, generator.settings.model, generator.prompt_id), outcome.entry())
            else:
                failed.append(outcome)
            bar.update(1)
            bar.set_postfix(failed=len(failed))
    finally:
        bar.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await generator.aclose()
    return failed


def generate_rubrics(questions: str | Path | list[Question], out_dir: str | Path, settings: RubricGenSettings | None, *,
                     limit: int | None = None, progress: bool = True, client: Any = None, prompt: str = PROMPT_NAME,
                     retriever: Any = None) -> GenerationResult:
    """Generate, check and save rubrics for every question not already done in ``out_dir``;
    ``prompt`` names the system prompt, ``retriever`` adds retrieved exemplars (module docstring).

    Returns counts and the report paths; failed rows are in ``failed.jsonl`` and the report.
    """
    from heartgrpo.io.asyncs import run_sync

    if settings is None or not settings.model:
        raise ValueError("rubric generation needs an endpoint: a rubrics: {model, base_url, ...} config section "
                         "or RubricGenSettings(model=..., base_url=...)")
    qs = read_questions(questions) if not isinstance(questions, list) else questions
    if limit is not None:
        qs = qs[:limit]
    store = RubricStore(out_dir)
    todo = [q for q in qs if q.id not in store.done]
    generator = RubricGenerator(settings, client=client, prompt=prompt, retriever=retriever)
    failed = run_sync(lambda: _run(todo, store, generator, progress))
    failed_rows = [{**o.entry(), "question": o.question.question, "last_rubric": o.items} for o in failed]
    store.write_failed(failed_rows)
    order = {q.id: i for i, q in enumerate(qs)}
    store.sort_by(order)
    entries = [store.log[i] for i in store.done if i in store.log] + [o.entry() for o in failed]
    entries.sort(key=lambda e: order.get(e["id"], len(order)))
    report = write_quality_report(entries, store.dir, title=f"Rubric quality report: {store.dir.name}")
    summary = file_report(entries)
    return GenerationResult(
        out_dir=store.dir, n_questions=len(qs), n_skipped_done=len(qs) - len(todo),
        n_accepted=len(todo) - len(failed), n_failed=len(failed), report=report, summary=summary,
        failed_ids=[o.question.id for o in failed], requests=generator.chat.stats["requests"],
        cache_hits=generator.chat.stats["cache_hits"],
    )
