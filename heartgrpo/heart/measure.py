"""The heart classifier measured on real conversations: hand labels keyed by conversation hash.

A labels file holds one row per conversation, with no conversation text in it::

    {"prompt_id", "x_prompt_sha256", "file", "heart": bool, "theme": str | null,
     "borderline": bool, "note": str}

``x_prompt_sha256`` is the sha256 of ``json.dumps([{role, content}, ...], ensure_ascii=False,
sort_keys=True)`` (the key the shared HealthBench rows carry, recomputed for rows without it).
:func:`labelled_rows` joins labels to the conversations of HealthBench JSONL files and gives rows
``{"text", "heart", "theme", ...}`` for :func:`heartgrpo.heart.classifier.evaluate`, where ``text`` is
the conversation's user turns joined (what the loaders classify). :func:`flag_counts` classifies
unlabelled files and returns only counts (for a held-out split: no row is shown). :func:`main` is
the command line ``python -m heartgrpo.heart``.

The bundled labels: ``heartgrpo/heart/labels/healthbench_dev_heart_labels.jsonl``, the 429
distinct conversations of the HealthBench Hard and consensus ``dev`` rows.

Example::

    rows = labelled_rows(DEV_LABELS, ["../shared/data/healthbench/hard_rebuilt_dev.jsonl"])
    print(evaluate(rows)["precision"])
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.records import conversation_sha256
from heartgrpo.heart.classifier import classify, default_labels_path, evaluate
from heartgrpo.io.jsonl import iter_rows
from heartgrpo.io.jsonl import DataError
from heartgrpo.records import user_text

__all__ = ["DEV_LABELS", "conversation_sha256", "flag_counts", "labelled_rows", "main"]

DEV_LABELS = Path(__file__).parent / "labels" / "healthbench_dev_heart_labels.jsonl"


def _conversations(files: Sequence[str | Path]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """sha256 -> (``file:line``, conversation) over the files, first occurrence kept."""
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for file in files:
        for line_no, row in iter_rows(file):
            prompt = row.get("prompt")
            if not isinstance(prompt, list) or not prompt:
                raise DataError(f"{file}:{line_no}: row {row.get('prompt_id')!r}, field 'prompt': expected a list of messages")
            key = row.get("x_prompt_sha256") or conversation_sha256(prompt)
            out.setdefault(key, (f"{file}:{line_no}", prompt))
    return out


def labelled_rows(labels: str | Path, files: Sequence[str | Path]) -> tuple[list[dict[str, Any]], int]:
    """``(rows for evaluate, number of labels whose conversation is not in files)``.

    Raises :class:`DataError` when a label row lacks a field or no label matches any conversation.
    """
    conversations = _conversations(files)
    rows, missing = [], 0
    for line_no, label in iter_rows(labels):
        for name in ("x_prompt_sha256", "heart"):
            if name not in label:
                raise DataError(f"{labels}:{line_no}: row {label.get('prompt_id')!r}, field {name!r}: missing")
        found = conversations.get(label["x_prompt_sha256"])
        if found is None:
            missing += 1
            continue
        rows.append({"text": user_text(found[1]), "heart": bool(label["heart"]), "theme": label.get("theme"),
                     "id": label.get("prompt_id"), "borderline": bool(label.get("borderline")), "where": found[0]})
    if not rows:
        raise DataError(f"{labels}: none of its labels matches a conversation in {', '.join(map(str, files))}")
    return rows, missing


def flag_counts(files: Sequence[str | Path]) -> dict[str, dict[str, int]]:
    """Per file: distinct conversations and how many :func:`classify` flags as heart (counts only)."""
    out = {}
    for file in files:
        convs = _conversations([file])
        out[str(file)] = {"n": len(convs), "flagged": sum(classify(user_text(p)).heart for _, p in convs.values())}
    return out


def _print_result(result: dict[str, Any], show_text: bool) -> None:
    print(f"n={result['n']}  tp={result['tp']}  fp={result['fp']}  fn={result['fn']}  tn={result['tn']}")
    print(f"precision={result['precision']:.3f}  recall={result['recall']:.3f}  f1={result['f1']:.3f}")
    if result["theme_accuracy"] is not None:
        print(f"theme accuracy on true positives: {result['theme_accuracy']:.3f} (n={result['theme_n']})")
    for err in result["errors"]:
        kind = "FP" if err["predicted"] else "FN"
        shown = repr(err["text"][:90]) if show_text else err.get("id")
        print(f"  {kind}: {shown} evidence={err['evidence']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heartgrpo.heart", description="Heart classifier: classify texts, or measure it against labelled rows.")
    parser.add_argument("--evaluate", nargs="?", const=str(default_labels_path()), metavar="LABELS_JSONL",
                        help="report precision/recall on a labelled JSONL file (default: the bundled set)")
    parser.add_argument("--conversations", nargs="+", metavar="HEALTHBENCH_JSONL",
                        help="with --evaluate: labels are keyed by x_prompt_sha256 over these HealthBench files")
    parser.add_argument("--flag", nargs="+", metavar="HEALTHBENCH_JSONL",
                        help="only count the conversations flagged as heart in each file (for a held-out split)")
    parser.add_argument("text", nargs="*", help="text to classify")
    args = parser.parse_args(argv)
    if args.flag:
        for file, c in flag_counts(args.flag).items():
            print(f"{file}: {c['flagged']} of {c['n']} conversations flagged as heart")
        return 0
    if args.evaluate and args.conversations:
        rows, missing = labelled_rows(args.evaluate, args.conversations)
        print(f"labels: {args.evaluate} ({len(rows)} matched, {missing} not in the given files)")
        result = evaluate(rows)
        _print_result(result, show_text=False)
        clear = evaluate(r for r in rows if not r["borderline"])
        print(f"without the {sum(r['borderline'] for r in rows)} borderline conversations: "
              f"precision={clear['precision']:.3f}  recall={clear['recall']:.3f} (n={clear['n']})")
        return 0
    if args.evaluate:
        print(f"labels: {args.evaluate}")
        _print_result(evaluate(row for _, row in iter_rows(args.evaluate)), show_text=True)
        return 0
    for text in args.text:
        print(json.dumps(classify(text).__dict__))
    return 0
