"""HealthBench loaders: the official JSONL files (by name, downloaded once and cached) or a local path.

Rows ``{prompt_id, prompt: [messages ending on a user turn], rubrics: [{criterion, points, tags}],
example_tags, ideal_completions_data}`` become canonical records (DESIGN.md §3). Multi-turn
conversations are kept whole; ``first_user_turn_only=True`` keeps only the first user message
(what the paper's evaluation code did). There is no cardiology tag, so ``heart`` and
``heart_theme`` come from :func:`heartgrpo.heart.classifier.classify` on the user turns.

Meta-eval rows (physician labels) ``{prompt, completion, rubric, binary_labels, category, ...}``
are loaded by :func:`load_healthbench_meta_eval`, validated but otherwise kept as they are.

Example::

    records = load_healthbench("oss_eval", cache_dir="~/.cache/heartgrpo")   # 5,000 conversations
    heart = [r for r in records if r["heart"]]
"""

from __future__ import annotations

import logging
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from heartgrpo.heart.classifier import classify
from heartgrpo.io.jsonl import iter_rows
from heartgrpo.io.jsonl import BadRowReport, DataError, OnBadRow, handle_bad_row
from heartgrpo.records import conversation_sha256, Message, make_record, user_text
from heartgrpo.rubrics import RubricError, parse_healthbench_rubric, repeated_criteria

log = logging.getLogger(__name__)

__all__ = [
    "HEALTHBENCH_BASE_URL",
    "HEALTHBENCH_FILES",
    "conversation_sha256",
    "fetch_healthbench",
    "fetch_healthbench_url",
    "healthbench_row_to_record",
    "load_healthbench",
    "load_healthbench_meta_eval",
    "meta_eval_row",
]

HEALTHBENCH_BASE_URL = "https://openaipublic.blob.core.windows.net/simple-evals/healthbench/"
HEALTHBENCH_FILES: dict[str, str] = {
    "oss_eval": "2025-05-07-06-14-12_oss_eval.jsonl",
    "hard": "hard_2025-05-08-21-00-10.jsonl",
    "consensus": "consensus_2025-05-09-20-00-46.jsonl",
    "meta_eval": "2025-05-07-06-14-12_oss_meta_eval.jsonl",
}


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "heartgrpo" / "healthbench"


def _download(url: str, target: Path, timeout: float, what: str) -> Path:
    """Download ``url`` to ``target`` through a temporary name, so an interrupted download never looks complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as handle:
            shutil.copyfileobj(response, handle)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise DataError(f"could not download HealthBench {what} from {url}: {exc}") from exc
    partial.replace(target)
    return target


def fetch_healthbench(name: str, cache_dir: str | Path | None = None, base_url: str = HEALTHBENCH_BASE_URL,
                      timeout: float = 60.0) -> Path:
    """Download one official file by name (``oss_eval|hard|consensus|meta_eval``) unless cached."""
    if name not in HEALTHBENCH_FILES:
        raise DataError(f"unknown HealthBench file {name!r}; expected one of {sorted(HEALTHBENCH_FILES)} or a local path")
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = cache / HEALTHBENCH_FILES[name]
    if target.is_file():
        return target
    return _download(base_url.rstrip("/") + "/" + HEALTHBENCH_FILES[name], target, timeout, repr(name))


def fetch_healthbench_url(url: str, cache_dir: str | Path | None = None, timeout: float = 60.0) -> Path:
    """Download a HealthBench JSONL by URL (e.g. the published file) into the cache unless cached.

    The cached name is the URL's last path segment; a URL that does not end in ``.jsonl`` is refused.
    """
    name = urllib.parse.urlparse(url).path.rsplit("/", 1)[-1]
    if not name.endswith(".jsonl"):
        raise DataError(f"{url}: expected the URL of a .jsonl file")
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = cache / name
    return target if target.is_file() else _download(url, target, timeout, repr(name))


def _resolve(source: str | Path, cache_dir: str | Path | None, base_url: str) -> Path:
    if isinstance(source, str) and source in HEALTHBENCH_FILES:
        return fetch_healthbench(source, cache_dir, base_url)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return fetch_healthbench_url(source, cache_dir)
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: HealthBench file not found (or use one of {sorted(HEALTHBENCH_FILES)}, or a URL)")
    return path


def _conversation(value: Any, row_id: str, field: str = "prompt") -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DataError(f"row {row_id!r}, field {field!r}: expected a non-empty list of messages")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise DataError(f"row {row_id!r}, field '{field}[{i}]': expected a message object")
        try:
            msg = Message.model_validate(message)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join([f"{field}[{i}]", *(str(p) for p in first["loc"])])
            raise DataError(f"row {row_id!r}, field {where!r}: {first['msg'].removeprefix('Value error, ')} "
                            "(expected {role: system|user|assistant, content: text})") from None
        out.append({"role": msg.role, "content": msg.content})
    return out


def healthbench_row_to_record(row: dict[str, Any], row_id: str, *, first_user_turn_only: bool = False,
                              split: str = "eval", source: str = "healthbench") -> dict[str, Any]:
    """One HealthBench row -> canonical record; raises :class:`DataError` naming row and field."""
    prompt = _conversation(row.get("prompt"), row_id)
    if first_user_turn_only:
        prompt = [next(m for m in prompt if m["role"] == "user")] if any(m["role"] == "user" for m in prompt) else prompt
    if "rubrics" not in row or row["rubrics"] is None:
        raise DataError(f"row {row_id!r}, field 'rubrics': missing (expected a list of {{criterion, points, tags}})")
    try:
        rubrics = [c.to_dict() for c in parse_healthbench_rubric(row["rubrics"], row_id)]
    except RubricError as exc:
        raise DataError(str(exc)) from None
    tags = row.get("example_tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DataError(f"row {row_id!r}, field 'example_tags': expected a list of strings")
    ideal = row.get("ideal_completions_data")
    reference = ideal.get("ideal_completion") if isinstance(ideal, dict) else None
    label = classify(user_text(prompt))
    return make_record({
        "id": row_id, "source": source, "prompt": prompt,
        "reference_answer": reference if isinstance(reference, str) else None,
        "rubrics": rubrics, "heart": label.heart, "heart_theme": label.theme,
        "heart_evidence": label.evidence, "split": split, "example_tags": list(tags),
        "n_turns": len(row["prompt"]),
    })


def load_healthbench(
    source: str | Path = "oss_eval",
    *,
    first_user_turn_only: bool = False,
    cache_dir: str | Path | None = None,
    base_url: str = HEALTHBENCH_BASE_URL,
    on_bad_row: OnBadRow = "error",
    report: BadRowReport | None = None,
    record_source: str = "healthbench",
) -> list[dict[str, Any]]:
    """Load a HealthBench file (a name in ``HEALTHBENCH_FILES``, a local JSONL path or a URL) as records."""
    path = _resolve(source, cache_dir, base_url)
    records, seen = [], set()
    for line_no, row in iter_rows(path, on_bad_row=on_bad_row, report=report):
        where = f"{path}:{line_no}"
        raw_id = row.get("prompt_id")
        row_id = raw_id if isinstance(raw_id, str) and raw_id else f"healthbench-{line_no}"
        try:
            if row_id in seen:
                raise DataError(f"row {row_id!r}, field 'prompt_id': duplicated")
            records.append(healthbench_row_to_record(row, row_id, first_user_turn_only=first_user_turn_only,
                                                     source=record_source))
            seen.add(row_id)
        except DataError as exc:
            handle_bad_row(exc, where, on_bad_row, report)
    repeats = [repeated_criteria(r["rubrics"]) for r in records]
    if any(repeats):
        log.info("%s: %d rows repeat a criterion (%d repeated items), kept and scored as HealthBench does",
                 path, sum(n > 0 for n in repeats), sum(repeats))
    return records


def meta_eval_row(row: dict[str, Any], row_id: str) -> dict[str, Any]:
    """Validate one meta-eval row: conversation, completion text, rubric text, boolean labels."""
    prompt = _conversation(row.get("prompt"), row_id)
    for name in ("completion", "rubric"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise DataError(f"row {row_id!r}, field {name!r}: expected non-empty text")
    labels = row.get("binary_labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(v, bool) for v in labels):
        raise DataError(f"row {row_id!r}, field 'binary_labels': expected a non-empty list of true/false")
    out = dict(row)
    out.update({"id": row_id, "prompt": prompt, "heart": classify(user_text(prompt)).heart})
    return out


def load_healthbench_meta_eval(
    source: str | Path = "meta_eval",
    *,
    cache_dir: str | Path | None = None,
    base_url: str = HEALTHBENCH_BASE_URL,
    on_bad_row: OnBadRow = "error",
    report: BadRowReport | None = None,
) -> list[dict[str, Any]]:
    """Load physician-labelled meta-eval rows (for judge validation), validated."""
    path = _resolve(source, cache_dir, base_url)
    out = []
    for line_no, row in iter_rows(path, on_bad_row=on_bad_row, report=report):
        raw_id = row.get("prompt_id") or row.get("completion_id")
        row_id = f"{raw_id}:{line_no}" if isinstance(raw_id, str) else f"meta-eval-{line_no}"
        try:
            out.append(meta_eval_row(row, row_id))
        except DataError as exc:
            handle_bad_row(exc, f"{path}:{line_no}", on_bad_row, report)
    return out
