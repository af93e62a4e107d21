"""``DataSettings``: every choice the data preparation makes, as one validated model.

It is the ``data:`` section of a run configuration. Unknown keys are rejected
(``extra="forbid"``) so a typo in a YAML file is an error, not a silently ignored option.

Example:
    >>> DataSettings(source="sample").eval_n
    500
    >>> DataSettings(source="hub", healthbench="oss_eval", sft_format="qwen3").sft_format
    'qwen3'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from heartgrpo.io.endpoint import EndpointSettings

__all__ = ["KEPT_FILE", "DataSettings", "LLMSettings", "RubricGenSettings", "grpo_source"]

#: the prompts `heartgrpo filter` keeps, in its output directory
KEPT_FILE = "kept.jsonl"


#: RaR-Medicine on the hub, tried in order, and its splits
RAR_HUB_IDS: tuple[str, ...] = ("ScaleAI/RaR-Medicine", "anisha2102/RaR-Medicine")
RAR_SPLITS: tuple[str, ...] = ("train", "val", "test")


class LLMSettings(EndpointSettings):
    """An OpenAI-compatible endpoint used by the data layer (heart classifier, reasoning traces):
    :class:`heartgrpo.io.endpoint.EndpointSettings` (``base_url`` may list replicas; optional
    ``requests_per_minute`` / ``tokens_per_minute``) with ``model`` required."""

    model: str  # type: ignore[assignment]


class RubricGenSettings(LLMSettings):
    """The endpoint that writes rubrics, and how hard to try (the ``rubrics:`` config section;
    :mod:`heartgrpo.rubricgen.generate`).

    ``max_attempts``: generations per question in all (the first plus regenerations after a
    failed quality check); ``max_retries`` (from :class:`LLMSettings`) are re-asks *within* one
    attempt for transport errors and unparseable answers.
    """

    model: str | None = None  # type: ignore[assignment]  # may come from the command line instead
    max_attempts: int = Field(3, ge=1)
    temperature: float = Field(0.3, ge=0)
    max_tokens: int = Field(2048, gt=0)
    timeout: float = Field(120.0, gt=0)


class DataSettings(BaseModel):
    """Settings of :func:`heartgrpo.data.prepare.prepare_datasets`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # where the data come from
    source: str = Field("sample", description="RaR-Medicine: 'sample' (bundled), 'hub', or a local file/directory")
    hub_ids: list[str] = Field(default_factory=lambda: list(RAR_HUB_IDS), description="hub ids tried in order")
    splits: list[str] = Field(default_factory=lambda: list(RAR_SPLITS))
    healthbench: str = Field("sample", description="'sample', 'oss_eval', 'hard', 'consensus', a local JSONL path or a URL")
    meta_eval: str | None = Field("sample", description="'sample', 'meta_eval', a local path, or None to skip")
    healthbench_cache_dir: Path | None = None
    first_user_turn_only: bool = Field(False, description="keep only the first user turn of eval conversations (paper)")

    rar_avoidance_pitfalls: Literal["keep", "flip", "drop"] = Field(
        "keep", description="RaR pitfalls written as the behaviour to avoid (true = good): keep as published, "
        "flip to a desirable criterion (+|weight|), or drop")

    # heart filter
    heart_filter: Literal["lexicon", "llm", "lexicon+llm", "none"] = Field(
        "lexicon", description="'lexicon+llm': the LLM decides only the conversations where the lexicon found evidence")
    heart_llm: LLMSettings | None = Field(None, description="required when heart_filter is 'llm' or 'lexicon+llm'")

    # builders
    sft_format: Literal["paper", "qwen3"] = "paper"
    sft_fraction: float = Field(0.5, ge=0.0, le=1.0)
    split_seed: int = 3407
    missing_reasoning: Literal["error", "skip", "answer_only"] = "error"
    min_criteria: int = Field(4, ge=1, description="GRPO keeps prompts with at least this many criteria (paper: > 3)")
    prompt_length_quantile: float | None = Field(0.9, gt=0.0, le=1.0, description="None: no cap")
    eval_n: int | None = Field(500, ge=1, description="None: every heart conversation")
    eval_seed: int = 42

    # augmentation and contamination
    augment_reasoning: LLMSettings | None = Field(None, description="write missing reasoning traces with this model")
    generated_rubrics: Path | None = Field(
        None, description="records.jsonl of `heartgrpo rubrics generate`: replaces RaR-Medicine as the SFT/GRPO source")
    filter: Path | None = Field(
        None, description="kept.jsonl of `heartgrpo filter` (or its directory): GRPO trains on these prompts instead of grpo.jsonl")
    contamination_check: bool = True
    contamination_ngram: int = Field(8, ge=1)
    contamination_threshold: float = Field(0.5, gt=0.0, le=1.0)

    # bad rows and outputs
    on_bad_row: Literal["error", "skip"] = "error"
    save_format: Literal["arrow", "jsonl", "both"] = "both"
    figure: bool = True

    @field_validator("source", "healthbench")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a source ('sample', 'hub', a HealthBench file name or a path)")
        return value

    @model_validator(mode="after")
    def _llm_section(self) -> "DataSettings":
        if self.heart_filter in ("llm", "lexicon+llm") and self.heart_llm is None:
            raise ValueError("heart_filter='llm' needs a heart_llm: {model, base_url, ...} section")
        return self


def grpo_source(cfg: Any) -> Path:
    """The GRPO prompts of a run: ``data.filter``'s ``kept.jsonl`` (a file, or the directory of
    ``heartgrpo filter``) when set, else ``<output_dir>/data/grpo.jsonl``."""
    chosen = getattr(cfg.data, "filter", None)
    if chosen is None:
        return cfg.data_dir / "grpo.jsonl"
    path = Path(chosen)
    path = path / KEPT_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"data.filter: {path} does not exist; run `heartgrpo filter --config ... --out {path.parent}` first")
    return path
