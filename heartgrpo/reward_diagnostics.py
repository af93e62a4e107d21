"""Former home of the learning-signal diagnostics; they live in :mod:`heartgrpo.rewards.diagnostics`."""

from heartgrpo.rewards.diagnostics import EPS, advantages, diagnose_groups, factor_cancellation

__all__ = ["EPS", "advantages", "diagnose_groups", "factor_cancellation"]
