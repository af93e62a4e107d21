"""heartgrpo.heart: is this conversation about the heart, and which of the paper's 14 themes?

``classify(text) -> HeartLabel`` (deterministic, no network) is the contract; lexicons, context
rules, an optional LLM stage and the classifier's measurement on labelled HealthBench prompts live
beside it. ``python -m heartgrpo.heart`` measures it.

    >>> from heartgrpo.heart import classify
    >>> classify("I get chest pain and palpitations when I climb stairs").heart
    True
"""

from heartgrpo.heart.classifier import THEMES, HeartLabel, classify

__all__ = ["THEMES", "HeartLabel", "classify"]
