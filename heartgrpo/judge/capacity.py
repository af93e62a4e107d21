"""The capacity model of docs/scaling.md: judge requests per GRPO step, the judge throughput a
target step time needs, and how many judge replicas that takes. Pure arithmetic, one place.

A step of ``P`` prompts with ``G`` generations each grades ``P * G`` completions against ``n_c``
criteria:

- requests per step: ``per_criterion`` ``Q = P * G * n_c``; ``batched`` ``Q = P * G`` (one request
  per completion; missing ids re-asked singly add to it);
- a judge replica that answers ``c`` requests at once, each in ``s`` seconds, serves
  ``R = c / s`` requests/s; ``k`` replicas drain a step's ``Q`` requests, all sent at once, in
  ``T_judge = ceil(Q / (k * c)) * s`` seconds (never less than one request's ``s``);
- the step time is ``T_step = T_policy + T_judge`` (TRL computes rewards after generation and
  before the backward pass, so the two add up); a target ``T_step`` leaves the judge
  ``T_judge = T_step - T_policy`` and needs ``Q / T_judge`` requests/s, that is
  ``k = ceil(Q / (T_judge * R))`` replicas;
- the paper's client sent the ``Q`` requests one after another: ``T_judge = Q * s``.

    >>> requests_per_step("per_criterion", prompts=1, generations=6, criteria=12)
    72
    >>> requests_per_step("batched", prompts=1, generations=6, criteria=12)
    6
    >>> judge_seconds(72, replicas=1, slots=8, service_s=2.0)
    18.0
    >>> judge_seconds(72, replicas=4, slots=8, service_s=2.0)
    6.0
    >>> replicas_needed(72, judge_budget_s=3.0, replica_rps=4.0)
    6
"""

from __future__ import annotations

import math

__all__ = ["judge_seconds", "replicas_needed", "requests_per_step", "sequential_judge_seconds", "throughput_needed"]

MODES = ("per_criterion", "batched")


def requests_per_step(mode: str, *, prompts: int, generations: int, criteria: int) -> int:
    """Judge requests one GRPO step sends (cache misses; a warm cache sends fewer)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if min(prompts, generations, criteria) < 1:
        raise ValueError("prompts, generations and criteria must be >= 1")
    completions = prompts * generations
    return completions * criteria if mode == "per_criterion" else completions


def judge_seconds(requests: int, *, replicas: int, slots: int, service_s: float) -> float:
    """Seconds for ``replicas`` replicas of ``slots`` concurrent requests each, ``service_s``
    seconds per request, to answer ``requests`` sent at once: ``ceil(Q / (k c)) * s``."""
    if min(replicas, slots) < 1 or service_s <= 0:
        raise ValueError("replicas and slots must be >= 1 and service_s > 0")
    return max(1, math.ceil(requests / (replicas * slots))) * service_s


def sequential_judge_seconds(requests: int, service_s: float) -> float:
    """The paper's client: one blocking request after another, ``Q * s``."""
    return requests * service_s


def throughput_needed(requests: int, judge_budget_s: float) -> float:
    """Requests/s the judge must sustain to answer a step's ``requests`` within ``judge_budget_s``."""
    if judge_budget_s <= 0:
        raise ValueError(f"the judge's share of the step must be > 0 s, got {judge_budget_s}")
    return requests / judge_budget_s


def replicas_needed(requests: int, *, judge_budget_s: float, replica_rps: float) -> int:
    """Replicas of a judge measured at ``replica_rps`` requests/s that answer ``requests`` in
    ``judge_budget_s``: ``ceil(Q / (T_judge * R))``."""
    if replica_rps <= 0:
        raise ValueError(f"replica_rps must be > 0, got {replica_rps}")
    return max(1, math.ceil(throughput_needed(requests, judge_budget_s) / replica_rps - 1e-9))
