"""Retrieved rubric exemplars (ORBIT-style) for rubric generation: a local, offline TF-IDF retriever.

A *pool* is a JSONL of real rubric cases ``{id, source, split, question, rubrics}`` (canonical
criteria ``{criterion, points, tags}``). :func:`heartgrpo.data.rubric_pool.build_pool` makes one from the RaR-Medicine
training rows (the bundled sample's ``train.jsonl`` by default) and, where present, the
HealthBench **dev** rows of ``../shared/data/healthbench`` (``hard_rebuilt_dev.jsonl``,
``consensus_dev.jsonl``). Rows of an evaluation split (``eval``, ``test``, ``val``; any file
whose name says ``eval``) never enter a pool, and :class:`RubricRetriever` refuses them again at
query time.

For a target question, :meth:`RubricRetriever.retrieve`:

1. ranks the pool's cases by cosine similarity of TF-IDF vectors (word 1-2-grams, sublinear tf;
   scikit-learn) of their question text and keeps the ``n_cases`` (10) nearest, after leaving out
   the target itself: a case with the target's id, the same conversation text (whitespace and
   case folded), or a cosine >= ``same_above`` (0.95: the same question under another id);
2. takes up to ``max_items`` (50) rubric items of those cases, nearest case first;
3. reranks the items by the cosine of their criterion text to the target question and keeps
   ``n_items`` (15);
4. keeps the ``n_examples`` (3) nearest cases whole as worked examples.

:func:`exemplar_block` renders them for the prompt (``prompts/rubric_gen_orbit_v1.txt``).

    >>> pool = [{"id": "a", "split": "train", "question": "Warfarin and amiodarone: adjust INR?",
    ...          "rubrics": [{"criterion": "Advises weekly INR checks", "points": 5, "tags": []}]},
    ...         {"id": "b", "split": "train", "question": "Knee pain after running",
    ...          "rubrics": [{"criterion": "Suggests rest", "points": 3, "tags": []}]}]
    >>> r = RubricRetriever(pool)
    >>> [c["id"] for c in r.retrieve("Starting amiodarone on warfarin, what INR plan?").cases][:1]
    ['a']
    >>> r.retrieve("Warfarin and amiodarone: adjust INR?", target_id="x").cases[0]["id"]
    'b'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartgrpo.io.jsonl import write_jsonl

__all__ = ["EVAL_SPLITS", "Exemplars", "RubricRetriever", "exemplar_block", "is_eval_split", "pool_card", "pool_fingerprint",
           "text_key", "write_pool"]

#: splits that never enter a pool (HealthBench's held-out ``eval``; RaR-Medicine's val/test)
EVAL_SPLITS = frozenset({"eval", "test", "val", "validation", "heldout", "held_out"})


def text_key(text: str) -> str:
    """Case- and whitespace-folded sha256 of a text: the identity of a question.

    >>> text_key("Chest  pain?") == text_key("chest pain?")
    True
    """
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()[:20]


def is_eval_split(split: Any) -> bool:
    """Whether a row's split is held out (:data:`EVAL_SPLITS`).

    >>> is_eval_split("eval"), is_eval_split("train")
    (True, False)
    """
    return str(split or "").strip().lower() in EVAL_SPLITS


def pool_fingerprint(pool: Sequence[dict[str, Any]]) -> str:
    """sha12 of the pool's case ids and rubrics: part of the generation cache key."""
    h = hashlib.sha256()
    for c in pool:
        h.update(c["id"].encode())
        h.update(repr([(x["criterion"], x["points"]) for x in c["rubrics"]]).encode())
    return h.hexdigest()[:12]


@dataclass
class Exemplars:
    """What :meth:`RubricRetriever.retrieve` found: the nearest cases (with similarity), the
    reranked items (each with its case id), and the worked examples."""

    cases: list[dict[str, Any]]
    items: list[dict[str, Any]]
    examples: list[dict[str, Any]]


class RubricRetriever:
    """TF-IDF retrieval over a pool of rubric cases (module docstring); eval-split cases are refused."""

    def __init__(self, pool: Iterable[dict[str, Any]], *, n_cases: int = 10, max_items: int = 50, n_items: int = 15,
                 n_examples: int = 3, same_above: float = 0.95) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pool = [c for c in pool if not is_eval_split(c.get("split"))]
        if not self.pool:
            raise ValueError("the rubric pool is empty (or held only evaluation rows)")
        for c in self.pool:
            c.setdefault("key", text_key(c["question"]))
        self.n_cases, self.max_items, self.n_items, self.n_examples, self.same_above = n_cases, max_items, n_items, n_examples, same_above
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, stop_words="english")
        texts = [c["question"] for c in self.pool] + [x["criterion"] for c in self.pool for x in c["rubrics"]]
        self.vectorizer.fit(texts)
        self.matrix = self.vectorizer.transform([c["question"] for c in self.pool])

    def retrieve(self, question: str, *, target_id: str | None = None) -> Exemplars:
        """The exemplars for ``question`` (never the target: same id, same text, or cosine >= same_above)."""
        q = self.vectorizer.transform([question])
        sims = (self.matrix @ q.T).toarray().ravel()
        key = text_key(question)
        order = sorted(range(len(self.pool)), key=lambda i: -sims[i])
        chosen = [i for i in order
                  if self.pool[i]["id"] != target_id and self.pool[i]["key"] != key and sims[i] < self.same_above][: self.n_cases]
        cases = [{**self.pool[i], "similarity": float(sims[i])} for i in chosen]
        items = [{**x, "case": c["id"]} for c in cases for x in c["rubrics"]][: self.max_items]
        if items:
            iv = self.vectorizer.transform([x["criterion"] for x in items])
            isims = (iv @ q.T).toarray().ravel()
            ranked = sorted(range(len(items)), key=lambda i: (-isims[i], i))[: self.n_items]
            items = [{**items[i], "similarity": float(isims[i])} for i in ranked]
        return Exemplars(cases, items, cases[: self.n_examples])


def _points(p: float) -> str:
    return f"{int(p):+d}" if float(p).is_integer() else f"{p:+g}"


def exemplar_block(ex: Exemplars, *, max_question_chars: int = 600, max_example_items: int = 12) -> str:
    """The exemplars as prompt text: worked examples (question + rubric), then candidate items."""
    from heartgrpo.judge.prompts.render import fence

    parts = [f"Rubrics written by physicians for {len(ex.examples)} similar cases (worked examples; never copy an item "
             "that does not fit the new conversation):"]
    for n, c in enumerate(ex.examples, 1):
        question = c["question"] if len(c["question"]) <= max_question_chars else c["question"][:max_question_chars] + " ..."
        lines = [f"[{_points(x['points'])}] {x['criterion']}" for x in c["rubrics"][:max_example_items]]
        parts.append(fence(f"EXAMPLE {n}", f"Case:\n{question}\n\nRubric:\n" + "\n".join(lines)))
    if ex.items:
        parts.append("Items from similar cases, most relevant first (reuse an idea only where it applies):")
        parts.append(fence("CANDIDATE ITEMS", "\n".join(f"[{_points(x['points'])}] {x['criterion']}" for x in ex.items)))
    return "\n\n".join(parts)


def write_pool(pool: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write a pool JSONL (what ``rubrics generate --exemplars PATH`` reads)."""
    return write_jsonl(pool, path)


def pool_card(pool: Sequence[dict[str, Any]]) -> str:
    """A markdown card of the pool: cases and items per source and split, and what never enters it.

    >>> print(pool_card([{"id": "a", "source": "s", "split": "train", "rubrics": [{"criterion": "c", "points": 1}]}]).splitlines()[4])
    | s | train | 1 | 1 |
    """
    from collections import Counter

    cases = Counter((c["source"], c["split"]) for c in pool)
    items = Counter()
    for c in pool:
        items[(c["source"], c["split"])] += len(c["rubrics"])
    lines = [f"# Rubric exemplar pool ({len(pool)} cases, fingerprint {pool_fingerprint(pool)})", "",
             "| source | split | cases | rubric items |", "|---|---|---|---|"]
    lines += [f"| {src} | {split} | {n} | {items[(src, split)]} |" for (src, split), n in sorted(cases.items())]
    lines += ["", f"Never in a pool: rows of the splits {', '.join(sorted(EVAL_SPLITS))} and files named for them; "
              "at retrieval time, the target question itself (same id, same text, or TF-IDF cosine >= 0.95)."]
    return "\n".join(lines) + "\n"
