"""The ``consult:`` section of a run config: multi-turn consultation GRPO.

``cases``: ``builtin`` (the heart cards in ``heartgrpo/consult/cases/``), ``exact`` (the exact
CPU task of :mod:`heartgrpo.consult.task`) or a list of YAML/JSONL files or folders of cards.
``patient``: ``scripted`` (rules only) or ``llm`` (the endpoint in ``patient_endpoint``, prompt
``prompts/patient_v1.txt``). The reward terms are those of :mod:`heartgrpo.consult.rewards`.

A config with this section needs TRL's ``rollout_func`` with ``env_mask`` (read in TRL 1.14.2,
:data:`CONSULT_MIN_TRL`): on an older TRL (the Colab/Kaggle pin 0.22.2 has neither
``rollout_func`` nor ``environment_factory``) it fails at load, saying so.

    >>> ConsultSettings.model_fields["patient"].default, ConsultSettings.model_fields["max_turns"].default
    ('scripted', 4)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from heartgrpo.config.data import RubricGenSettings
from heartgrpo.io.endpoint import EndpointSettings
from heartgrpo.io.process import package_version

__all__ = ["CONSULT_MIN_TRL", "CaseGenSettings", "ConsultSettings", "PatientEndpointSettings", "require_consult_trl"]

#: the TRL whose GRPOTrainer ``rollout_func`` / ``env_mask`` contract the consultation code follows
CONSULT_MIN_TRL = (1, 14)


def require_consult_trl(trl: tuple[int, int] | None = None) -> None:
    """Raise ``ValueError`` when the installed TRL (or ``trl``) is older than :data:`CONSULT_MIN_TRL`.

    >>> require_consult_trl((0, 22))
    Traceback (most recent call last):
    ...
    ValueError: consult: multi-turn consultation GRPO needs TRL >= 1.14 (GRPOTrainer rollout_func with env_mask); the installed TRL is 0.22, which has neither rollout_func nor environment_factory (the Colab/Kaggle stack): run it on the workstation stack
    """
    have = trl or package_version("trl")
    if have < CONSULT_MIN_TRL:
        raise ValueError(
            f"consult: multi-turn consultation GRPO needs TRL >= {CONSULT_MIN_TRL[0]}.{CONSULT_MIN_TRL[1]} (GRPOTrainer "
            f"rollout_func with env_mask); the installed TRL is {have[0]}.{have[1]}"
            + (", which has neither rollout_func nor environment_factory (the Colab/Kaggle stack)" if have < (0, 25) else "")
            + ": run it on the workstation stack")


class PatientEndpointSettings(EndpointSettings):
    """The patient LLM's endpoint and sampling."""

    temperature: float = Field(0.7, ge=0)
    max_tokens: int = Field(160, gt=0)


class CaseGenSettings(RubricGenSettings):
    """The endpoint that writes case cards (``heartgrpo cases generate``; ``consult.generate``),
    with the same retries, cache and ``max_attempts`` as ``rubrics generate``."""

    temperature: float = Field(0.7, ge=0)


class ConsultSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    cases: Literal["builtin", "exact"] | list[Path] = "builtin"
    patient: Literal["scripted", "llm"] = "scripted"
    patient_endpoint: PatientEndpointSettings | None = None
    #: doctor turns per consultation, the advice included
    max_turns: int = Field(4, ge=1, le=32)
    #: tokens one doctor turn may take; a turn that runs past it ends the consultation
    max_turn_tokens: int = Field(256, ge=1)
    strategy: str = "healthbench"
    judge_weight: float = Field(1.0, ge=0)
    coverage_weight: float = Field(1.0, ge=0)
    turn_cost: float = Field(0.05, ge=0)
    level_weights: dict[int, float] = Field(default_factory=lambda: {1: 2.0, 2: 1.0})
    #: the endpoint of `heartgrpo cases generate` (None: give --model/--base-url on the command line)
    generate: CaseGenSettings | None = None

    @model_validator(mode="after")
    def _usable(self) -> ConsultSettings:
        if self.patient == "llm" and (self.patient_endpoint is None or not self.patient_endpoint.model):
            raise ValueError("consult.patient 'llm' needs consult.patient_endpoint with a model (and base_url)")
        if set(self.level_weights) != {1, 2}:
            raise ValueError(f"consult.level_weights needs levels 1 and 2, got {sorted(self.level_weights)}")
        if not self.judge_weight and not self.coverage_weight:
            raise ValueError("consult: judge_weight and coverage_weight are both 0: nothing would be rewarded")
        require_consult_trl()  # last: a section that is wrong anyway says so on every stack
        return self
