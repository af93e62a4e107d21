"""``RefineSettings``: the ``refine:`` section of a run configuration (:mod:`heartgrpo.refine`).

The endpoint fields (``model``, ``base_url``, ``cache``, ...) are the model that writes queries,
critiques and refinements; ``teacher`` is a second endpoint that writes the first answer when
``distill`` is on. Ablations: each facet on/off (``facets``; all off: the first answers are the
data, no critique), distillation on/off.

Example:
    >>> s = RefineSettings(model="m", facets={"safety": False})
    >>> s.facets.enabled(), s.distill
    (['decision_making', 'communication'], False)
    >>> try:
    ...     RefineSettings(model="m", distill=True)
    ... except ValueError as err:
    ...     print("needs a refine.teacher" in str(err))
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heartgrpo.config.data import LLMSettings

__all__ = ["FacetSwitches", "RefineSettings"]


class FacetSwitches(BaseModel):
    """Which critique facets are asked for (each one an ablation switch)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    decision_making: bool = True
    communication: bool = True
    safety: bool = True

    def enabled(self) -> list[str]:
        """The facets switched on, in the fixed order decision_making, communication, safety."""
        return [f for f in ("decision_making", "communication", "safety") if getattr(self, f)]


class RefineSettings(LLMSettings):
    """Settings of :func:`heartgrpo.refine.pipeline.run_refine`."""

    model: str | None = None  # type: ignore[assignment]  # may come from the command line instead
    out_dir: Path = Path("runs/refine")
    n_queries: int = Field(40, ge=1, description="attribute profiles sampled (one query each)")
    seed: int = 3407
    attributes: str = Field("v1", description="version of heartgrpo/refine/attributes_<v>.json")
    facets: FacetSwitches = Field(default_factory=FacetSwitches)
    distill: bool = Field(False, description="the teacher endpoint writes the first answer")
    teacher: LLMSettings | None = None
    sft_format: Literal["paper", "qwen3"] = "paper"
    max_attempts: int = Field(3, ge=1, description="asks per step in all, re-asks after a malformed reply included")
    temperature: float = Field(0.7, ge=0)
    max_tokens: int = Field(2048, gt=0)
    timeout: float = Field(120.0, gt=0)
    dedup_ngram: int = Field(5, ge=1)
    dedup_threshold: float = Field(0.6, gt=0, le=1)
    contamination_ngram: int = Field(8, ge=1)
    contamination_threshold: float = Field(0.5, gt=0, le=1)
    contamination_sources: list[str] = Field(
        default_factory=lambda: ["sample", "../shared/data/healthbench"],
        description="HealthBench-format JSONL files or folders ('sample': the bundled sample); absent ones are reported")
    rubrics: Path | None = Field(None, description="--measure: records with rubrics for the queries (records.jsonl of `rubrics generate`)")
    n_bootstrap: int = Field(1000, ge=0)

    @model_validator(mode="after")
    def _teacher(self) -> RefineSettings:
        if self.distill and self.teacher is None:
            raise ValueError("refine.distill needs a refine.teacher: {model, base_url, ...} endpoint")
        return self
