"""heartgrpo.data: RaR-Medicine and HealthBench loaders, heart-topic classifier, dataset builders.

Importing this package is light: names are loaded from their modules on first use; ``datasets``, ``numpy``,
``matplotlib`` and ``openai`` are imported inside the functions that need them.

Example::

    from heartgrpo.data import DataSettings, prepare_datasets
    result = prepare_datasets(DataSettings(source="sample"), Path("runs/data"))
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "PAPER_SYSTEM_PROMPT": "heartgrpo.answer_format",
    "build_grpo_rows": "heartgrpo.data.builders",
    "build_sft_rows": "heartgrpo.data.builders",
    "format_sft_completion": "heartgrpo.answer_format",
    "select_eval_subset": "heartgrpo.data.builders",
    "split_sft_grpo": "heartgrpo.data.builders",
    "Overlap": "heartgrpo.data.contamination",
    "drop_contaminated": "heartgrpo.data.contamination",
    "find_overlaps": "heartgrpo.data.contamination",
    "HEALTHBENCH_FILES": "heartgrpo.data.healthbench",
    "load_healthbench": "heartgrpo.data.healthbench",
    "load_healthbench_meta_eval": "heartgrpo.data.healthbench",
    "THEMES": "heartgrpo.heart.classifier",
    "HeartLabel": "heartgrpo.heart.classifier",
    "classify": "heartgrpo.heart.classifier",
    "LLMHeartClassifier": "heartgrpo.heart.llm",
    "ReasoningAugmenter": "heartgrpo.data.augment",
    "SAMPLE_DIR": "heartgrpo.data.prepare",
    "PrepResult": "heartgrpo.data.prepare",
    "prepare_datasets": "heartgrpo.data.prepare",
    "RAR_HUB_IDS": "heartgrpo.config.data",
    "load_rar_medicine": "heartgrpo.data.rar",
    "BadRowReport": "heartgrpo.records",
    "CanonicalRecord": "heartgrpo.records",
    "DataError": "heartgrpo.records",
    "read_jsonl": "heartgrpo.io.jsonl",
    "write_jsonl": "heartgrpo.io.jsonl",
    "DataSettings": "heartgrpo.config.data",
    "LLMSettings": "heartgrpo.config.data",
    "dataset_stats": "heartgrpo.data.stats",
    "format_stats": "heartgrpo.data.stats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'heartgrpo.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
