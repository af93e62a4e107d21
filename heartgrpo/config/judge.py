"""Sections of the run configuration that :mod:`heartgrpo.config.run` composes: the judge (on the
shared :class:`heartgrpo.io.endpoint.EndpointSettings`), logging and hardware.

Example:
    >>> JudgeSettings(kind="openai", model="m", base_url=["http://a/v1", "http://b/v1"]).max_concurrency
    32
    >>> JudgeSettings(kind="approximate").timeout      # an EndpointSettings field
    60.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heartgrpo.io.endpoint import EndpointSettings

__all__ = ["HardwareSettings", "JudgeSettings", "LoggingSettings"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class JudgeSettings(EndpointSettings):
    """Which judge grades completions.

    ``openai``: an OpenAI-compatible endpoint (``base_url``, ``model``, key read from the
    environment variable ``api_key_env``); ``approximate``: the offline lexical judge (CPU demo,
    labelled approximate everywhere); ``recorded``: replays verdicts from ``recording``.
    ``max_down_seconds``: GRPO stops cleanly, checkpoint saved, when every verdict has failed for
    longer than this. ``workers`` > 1 spreads an ``openai`` judge over that many processes
    (:class:`heartgrpo.judge.ProcessPoolJudge`), for steps limited by the client's own CPU.
    ``verifier``: the local verifier distilled from GPT-4.1 verdicts (APPROXIMATE, labelled with
    its eval kappa), read from ``verifier`` (a ``.npz`` file, or a run directory where it is
    trained from ``verifier_data`` on first use); ``distilled``: the verifier where its confidence
    ``max(p, 1 - p)`` is at least ``distilled_threshold``, the ``openai`` judge for the rest.
    ``verifier_fallback: approximate`` uses the lexical judge, with a printed reason, when the
    verifier can be neither read nor trained (no graded data). ``reward_model``: the local reward
    model of ``heartgrpo reward-model train`` read from the run directory ``reward_model``
    (APPROXIMATE; its ``rate`` feeds ``rar_implicit``, its verdicts are its verifier's).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    # model, base_url (one URL or a list of replicas), api_key_env, cache, timeout, max_retries,
    # requests_per_minute / tokens_per_minute (for the whole run: shared out over judge workers and
    # accelerate ranks), replica_retry_after: from EndpointSettings
    kind: Literal["openai", "approximate", "recorded", "verifier", "distilled", "reward_model"] = "openai"
    mode: Literal["per_criterion", "batched"] = "per_criterion"
    temperature: float = Field(0.1, ge=0)
    max_concurrency: int = Field(32, gt=0)
    #: judge processes for kind openai (1 = in the trainer's process)
    workers: int = Field(1, ge=1, le=64)
    recording: Path | None = None
    #: share of a criterion's content words that must appear for the approximate judge to say "met"
    approximate_threshold: float = Field(0.5, gt=0, le=1)
    max_down_seconds: float = Field(600.0, gt=0)
    #: the verifier file (.npz) or the directory it is trained into on first use
    verifier: Path | None = None
    #: the folder of graded_{dev,eval}.jsonl.gz that a first-use verifier is trained on and measured with
    verifier_data: Path = Path("../shared/data/healthbench")
    verifier_fallback: Literal["error", "approximate"] = "error"
    distilled_threshold: float = Field(0.9, ge=0.5, le=1)
    #: the run directory of `heartgrpo reward-model train` (reward_model.npz and its verifier.npz)
    reward_model: Path | None = None

    @model_validator(mode="after")
    def _needs(self) -> JudgeSettings:
        if self.kind == "openai" and not self.model:
            raise ValueError("judge.kind 'openai' needs judge.model")
        if self.kind == "recorded" and self.recording is None:
            raise ValueError("judge.kind 'recorded' needs judge.recording (a JSONL file)")
        if self.kind in ("verifier", "distilled") and self.verifier is None:
            raise ValueError(f"judge.kind {self.kind!r} needs judge.verifier (a verifier .npz file or a run directory)")
        if self.kind == "reward_model" and self.reward_model is None:
            raise ValueError("judge.kind 'reward_model' needs judge.reward_model (a `heartgrpo reward-model train` run directory)")
        if self.kind == "distilled" and not self.model:
            raise ValueError("judge.kind 'distilled' needs judge.model (the LLM judge for uncertain criteria)")
        return self


class LoggingSettings(_Section):
    """Per-step logs: JSONL and CSV in the run directory; TensorBoard / W&B when listed."""

    jsonl: bool = True
    csv: bool = True
    report_to: list[Literal["tensorboard", "wandb"]] = Field(default_factory=list)
    wandb_project: str | None = None


class HardwareSettings(_Section):
    """The card a configuration is sized for (``heartgrpo doctor`` estimates memory for it)."""

    gpu: str = "CPU"
    memory_gb: float | None = Field(None, gt=0)
