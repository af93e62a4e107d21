"""The ``orbit:`` section of a run configuration: the rubric curriculum and the pass@k prefilter.

``orbit.curriculum`` (None: off) replaces the rubric strategies of ``reward.strategies`` with one
:class:`heartgrpo.train.curriculum.RubricCurriculum` reward under the named policy;
``orbit.filter`` holds the defaults of ``heartgrpo filter`` (:mod:`heartgrpo.data.filter`), whose
kept prompts ``data.filter`` then selects for GRPO.

    >>> OrbitSettings(curriculum={"policy": "admission"}).curriculum.policy_object().admit_at
    0.75
    >>> FilterSettings().k
    4
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from heartgrpo.config.judge import _Section

__all__ = ["CurriculumSettings", "FilterSettings", "OrbitSettings"]


class CurriculumSettings(_Section):
    """A rubric curriculum: ``policy`` (sequential | admission | review) with its options (the
    policy's own defaults where unset), the EMA rate and the no-positive-points fallback."""

    policy: Literal["sequential", "admission", "review"] = "sequential"
    alpha: float = Field(0.1, gt=0, le=1)
    no_positive: Literal["signed", "none"] = "signed"
    window: int | None = Field(None, ge=1)
    mastery: float | None = Field(None, gt=0, le=1)
    #: admission: mean active EMA above which one candidate is admitted; initial active items
    admit_at: float | None = Field(None, gt=0, le=1)
    initial: int | None = Field(None, ge=1)
    #: review: share of the window given to mastered items and the weight's power p
    review_share: float | None = Field(None, ge=0, le=1)
    power: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _options_fit(self) -> CurriculumSettings:
        self.policy_object()
        return self

    def policy_object(self) -> Any:
        from heartgrpo.rewards.curriculum import POLICIES, make_policy

        import dataclasses

        allowed = {f.name for f in dataclasses.fields(POLICIES[self.policy]) if f.init}
        given = {k: v for k, v in self.model_dump().items() if v is not None and k not in ("policy", "alpha", "no_positive")}
        wrong = sorted(set(given) - allowed)
        if wrong:
            raise ValueError(f"curriculum policy {self.policy!r} takes no option(s) {wrong}; it accepts {sorted(allowed)}")
        return make_policy(self.policy, **given)


class FilterSettings(_Section):
    """``heartgrpo filter``: ``k`` answers per prompt from the current policy (temperature, length),
    judged with the run's judge and scored with ``strategy``; a prompt is dropped as zero-variance
    when its k rewards are equal, as mastered when their mean > ``mastered_above``, as hopeless
    when their mean < ``hopeless_below``."""

    k: int = Field(4, ge=2)
    strategy: str = "healthbench"
    temperature: float = Field(1.0, gt=0)
    max_new_tokens: int = Field(64, gt=0)
    mastered_above: float = Field(0.9)
    hopeless_below: float = Field(0.05)
    #: which model answers: the GRPO adapter when it exists, else the SFT adapter, else the base
    stage: Literal["auto", "base", "sft", "grpo"] = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _thresholds(self) -> FilterSettings:
        from heartgrpo.rewards.strategies import check_strategy

        check_strategy(self.strategy, label="filter strategy")
        if self.hopeless_below >= self.mastered_above:
            raise ValueError(f"hopeless_below ({self.hopeless_below}) must be below mastered_above ({self.mastered_above})")
        return self


class OrbitSettings(_Section):
    curriculum: CurriculumSettings | None = None
    filter: FilterSettings = Field(default_factory=FilterSettings)
