"""The reward model's dimensions: which aspect of an answer a rubric criterion is about.

The graded HealthBench Hard rows carry no rubric tags (``axis:...`` exists only on the consensus
rows, whose criteria are not the graded ones), so the dimensions are defined here, by the
criterion's wording, first rule that matches:

* ``emergency``: urgent or emergency care, calling services, red flags
  (``emergenc``, ``911``, ``urgent``, ``immediate``, ``ambulance``, ``ER``, ``red flag``, ``call``);
* ``context_seeking``: asking the user for what is missing (``ask``, ``clarif``, ``inquir``,
  ``follow-up question``, ``more information / context / details``);
* ``communication``: how it is said (``clear``, ``concise``, ``jargon``, ``tone``, ``empath``,
  ``reassur``, ``format``, ``structure``, ``bullet``, ``verbose``, ``length``, ``readab``,
  ``simple language``, ``plain language``);
* ``content``: everything else (accuracy and completeness of the medical content).

A dimension's reference score is the HealthBench formula over its criteria only
(:func:`dimension_score`); None where the rubric has no positive criterion of that dimension.

    >>> dimension_of("Advises the user to call 911 immediately")
    'emergency'
    >>> dimension_of("Asks how long the chest pain has lasted")
    'context_seeking'
    >>> dimension_of("Recommends an ECG")
    'content'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from heartgrpo.rewards import score

__all__ = ["DIMENSIONS", "dimension_of", "dimension_score"]

DIMENSIONS = ("emergency", "context_seeking", "communication", "content")

_RULES = (
    ("emergency", re.compile(r"emergenc|\b911\b|urgent|immediate|ambulance|\bER\b|red.flag|\bcall", re.I)),
    ("context_seeking", re.compile(r"\bask|clarif|inquir|follow.up question|more (?:information|context|details)", re.I)),
    ("communication", re.compile(r"\bclear|concise|jargon|\btone\b|empath|reassur|format|structur|bullet|verbose|"
                                 r"\blength|readab|simple language|plain language", re.I)),
)


def dimension_of(criterion: str) -> str:
    """The dimension of ``criterion`` (the first rule of the module docstring that matches)."""
    for name, rule in _RULES:
        if rule.search(criterion):
            return name
    return "content"


def dimension_score(points: Sequence[float], met: Sequence[bool], dims: Sequence[str], dimension: str) -> float | None:
    """HealthBench score over the criteria of ``dimension`` only.

    >>> dimension_score([5, 3, -2], [True, False, True], ["content", "emergency", "content"], "content")
    0.6
    """
    idx = [i for i, d in enumerate(dims) if d == dimension]
    return score("healthbench", [points[i] for i in idx], [met[i] for i in idx], no_positive="none") if idx else None
