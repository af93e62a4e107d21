"""The rubric exemplar pool: real rubric cases for :class:`heartgrpo.rubricgen.retrieve.RubricRetriever`.

:func:`build_pool` reads the RaR-Medicine training rows (the bundled sample's ``train.jsonl`` by
default) and, where present, the HealthBench **dev** rows of ``../shared/data/healthbench``
(``hard_rebuilt_dev.jsonl``, ``consensus_dev.jsonl``); a file named for an evaluation split is
refused and rows of one are skipped. :func:`load_pool` reads a pool JSONL back (or ``default``).

    >>> pool_case("a", "s", "train", "Chest pain?", [{"criterion": "Asks about onset", "points": 5}])["rubrics"]
    [{'criterion': 'Asks about onset', 'points': 5.0, 'tags': []}]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from heartgrpo.data.rar import rar_row_to_record
from heartgrpo.io.jsonl import read_jsonl
from heartgrpo.rubricgen.retrieve import is_eval_split, text_key

__all__ = ["HEALTHBENCH_DEV_FILES", "build_pool", "default_pool", "load_pool", "pool_case", "question_of"]

HEALTHBENCH_DEV_FILES = ("hard_rebuilt_dev.jsonl", "consensus_dev.jsonl")
_SAMPLE_RAR_TRAIN = Path(__file__).resolve().parent / "sample" / "rar_medicine" / "train.jsonl"


def question_of(prompt: Any) -> str:
    """The user turns of a prompt (a string, or chat messages), joined: what retrieval compares."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(m["content"] for m in prompt if m.get("role") == "user")


def pool_case(rid: str, source: str, split: str, question: str, rubrics: list[dict]) -> dict[str, Any]:
    """One pool case ``{id, source, split, question, key, rubrics}`` with canonical criteria."""
    return {"id": rid, "source": source, "split": split, "question": question, "key": text_key(question),
            "rubrics": [{"criterion": str(c["criterion"]), "points": float(c["points"]), "tags": list(c.get("tags") or [])}
                        for c in rubrics]}


def build_pool(rar: Path | None = _SAMPLE_RAR_TRAIN, healthbench_dir: Path | None = None) -> list[dict[str, Any]]:
    """Pool cases from a RaR-Medicine training file and the HealthBench dev files in ``healthbench_dir``.

    A file whose name says ``eval`` / ``test`` / ``val`` is refused; rows with an eval split are skipped.
    """
    cases: list[dict[str, Any]] = []
    for path in [p for p in (rar,) if p is not None]:
        if re.search(r"(^|[_.-])(eval|test|val)([_.-]|$)", Path(path).name, re.IGNORECASE):
            raise ValueError(f"{path}: an evaluation file never enters a rubric pool")
        for i, row in enumerate(read_jsonl(path)):
            rid = str(row.get("id", f"rar-train-{i:05d}"))
            if is_eval_split(row.get("split", "train")):
                continue
            rec = rar_row_to_record(row, rid, "train")
            cases.append(pool_case(rid, "rar-medicine", "train", question_of(rec["prompt"]), rec["rubrics"]))
    if healthbench_dir is not None and Path(healthbench_dir).is_dir():
        for name in HEALTHBENCH_DEV_FILES:
            path = Path(healthbench_dir) / name
            if not path.is_file():
                continue
            for i, row in enumerate(read_jsonl(path)):
                rid = str(row.get("prompt_id", f"{name}-{i}"))
                cases.append(pool_case(rid, f"healthbench:{name}", "dev", question_of(row["prompt"]), row["rubrics"]))
    seen: set[str] = set()
    unique = []
    for c in cases:  # the consensus rows repeat Hard conversations: one case per conversation
        if c["key"] not in seen:
            seen.add(c["key"])
            unique.append(c)
    return unique


def default_pool(repo_root: Path | None = None) -> list[dict[str, Any]]:
    """The bundled RaR-Medicine sample's training rows plus ``../shared/data/healthbench`` dev rows where present."""
    root = repo_root or Path(__file__).resolve().parents[2]
    return build_pool(_SAMPLE_RAR_TRAIN, root / ".." / "shared" / "data" / "healthbench")


def load_pool(path: str | Path) -> list[dict[str, Any]]:
    """A pool JSONL (``write_jsonl(build_pool(...), path)``), or ``default`` for :func:`default_pool`."""
    if str(path) == "default":
        return default_pool()
    return [pool_case(str(r["id"]), str(r.get("source", "pool")), str(r.get("split", "train")), r["question"], r["rubrics"])
            for r in read_jsonl(path)]


