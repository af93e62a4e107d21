"""Judge types: :class:`Verdict`, the :class:`Judge` protocol and :class:`JudgeStats` counters.

Verdict semantics follow HealthBench: ``met=True`` means the criterion's behaviour is present
(for a negative-points pitfall: the undesirable behaviour IS present). ``met=None`` means the
judge could not decide (transport failure, unparseable answer after every retry); ``error``
then says why. A failed verdict is never reported as ``False``.

Example:
    >>> Verdict(True, "names the diagnosis").ok
    True
    >>> Verdict(None, "", error="timeout after 3 attempts").ok
    False
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

__all__ = ["Judge", "JudgeDescription", "JudgeStats", "Verdict", "as_messages", "describe_judge", "is_approximate"]


@dataclass(frozen=True)
class Verdict:
    """One judge decision on one criterion.

    ``met``: True / False, or None when the judge failed (then ``error`` is set).
    ``cached``: True when the verdict came from a persistent cache or a recording, not a request.
    """

    met: bool | None
    explanation: str = ""
    error: str | None = None
    cached: bool = False

    def __post_init__(self) -> None:
        if self.met is not None and not isinstance(self.met, bool):
            raise TypeError(f"Verdict.met must be True, False or None, got {self.met!r}")
        if self.met is None and not self.error:
            raise ValueError("a Verdict with met=None must say why in `error`")

    @property
    def ok(self) -> bool:
        """True when the judge reached a decision."""
        return self.met is not None

    @classmethod
    def failed(cls, error: str) -> Verdict:
        return cls(None, "", error=error)


@runtime_checkable
class Judge(Protocol):
    """Anything that grades a response against rubric criteria (DESIGN.md §5).

    ``prompt`` is the conversation (chat messages) that the response answers; ``rubrics`` are
    canonical criteria dicts ``{"criterion", "points", "tags"}``. ``grade`` returns one verdict
    per criterion, in order. ``rate`` returns one holistic 1..10 rating (RaR-Implicit), or None
    when the judge failed. Optional: ``approximate = True`` for a judge that predicts verdicts
    rather than reading the answer, and ``describe() -> JudgeDescription`` for how reports name it
    (:func:`describe_judge` supplies both otherwise).
    """

    async def grade(self, prompt: list[dict], response: str, rubrics: Sequence[dict]) -> list[Verdict]: ...

    async def rate(self, prompt: list[dict], response: str, rubrics: Sequence[dict]) -> float | None: ...


@dataclass(frozen=True)
class JudgeDescription:
    """What a report says about the judge that produced its scores.

    ``label``: appended to a run's title ('' for a judge that is not approximate);
    ``meaning``: one sentence on what the judge rewards, and so what a gain means.
    """

    label: str
    meaning: str


def is_approximate(judge: Any) -> bool:
    """True for judges that declare themselves approximate (e.g. the lexical judge), also behind
    a wrapper that holds the judge in ``inner``."""
    inner = getattr(judge, "inner", judge)
    return bool(getattr(inner, "approximate", False))


def describe_judge(judge: Any) -> JudgeDescription:
    """The judge's own ``describe()`` when it has one (a wrapper's is its ``inner`` judge's), else:
    an approximate judge is named in the label and its ``rewards_description`` (or a generic
    sentence) is the meaning; any other judge has no label.

        >>> class Exact:
        ...     pass
        >>> describe_judge(Exact())
        JudgeDescription(label='', meaning='Judge: Exact; a gain is a gain in the rubric score as that judge grades it.')
    """
    inner = getattr(judge, "inner", judge)
    own = getattr(inner, "describe", None)
    if callable(own):
        return own()
    name = type(inner).__name__
    approximate = is_approximate(inner)
    label = f" - {getattr(inner, 'name', name)}" if approximate else ""
    meaning = getattr(inner, "rewards_description", None)
    if meaning:
        return JudgeDescription(label, str(meaning))
    if approximate:
        return JudgeDescription(label, (
            f"What a gain means: the judge {name} is approximate (it predicts verdicts, it does not "
            "understand the answer); a gain means answers that it scores higher, which is evidence about clinical "
            "quality only as far as its agreement with a real grader goes."))
    return JudgeDescription(label, f"Judge: {name}; a gain is a gain in the rubric score as that judge grades it.")


@dataclass
class JudgeStats:
    """Running counters of a judge; safe to update from several threads.

    ``verdicts``: criteria graded (cache hits included); ``failures``: verdicts with met=None;
    ``requests``: HTTP requests sent (retries included); ``retries``: requests repeated after a
    fault; ``parse_errors``: answers that could not be parsed; ``cache_hits`` / ``cache_misses``:
    lookups in the persistent cache.
    """

    requests: int = 0
    retries: int = 0
    parse_errors: int = 0
    verdicts: int = 0
    failures: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    ratings: int = 0
    rating_failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __getstate__(self) -> dict[str, int]:
        return self.snapshot()  # picklable (with the judge that holds it): the counts, a new lock

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    @property
    def failure_rate(self) -> float:
        """failures / verdicts (0 when nothing was graded)."""
        return self.failures / self.verdicts if self.verdicts else 0.0

    @property
    def cache_hit_rate(self) -> float:
        """cache_hits / (cache_hits + cache_misses) (0 without lookups)."""
        looked = self.cache_hits + self.cache_misses
        return self.cache_hits / looked if looked else 0.0


def as_messages(prompt: Any) -> list[dict]:
    """A conversation as chat messages: a plain string becomes one user turn."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]
