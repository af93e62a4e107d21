"""The judge as training and evaluation see it: built from config, shared by all reward strategies, watched.

:func:`build_judge` turns the ``judge:`` section into a judge object (OpenAI-compatible, a process
pool of them, offline approximate, recorded, the verifier, or the distilled verifier);
:func:`judge_in_use` builds one for a block and closes it after. :class:`GuardedJudge`
(:mod:`heartgrpo.judge.guarded`) wraps it for GRPO and for evaluation, their one failure path:

- verdicts for the same (conversation, response, criteria) are computed once per run and shared,
  so several reward strategies over the same completions cost one round of judge calls;
- an exception from the judge becomes failed verdicts (``met=None``), never a crash;
- it measures how long the judge has been *down*: the time since the first call of an unbroken
  run of calls in which every verdict failed. GRPO's judge callback stops training cleanly (a
  checkpoint is saved) once that exceeds ``judge.max_down_seconds``.

    >>> from heartgrpo.judge import LexicalJudge
    >>> from heartgrpo.judge.guarded import GuardedJudge
    >>> from heartgrpo.judge.types import is_approximate
    >>> guarded = GuardedJudge(LexicalJudge())
    >>> guarded.down_for()
    0.0
    >>> from heartgrpo.config.judge import JudgeSettings
    >>> judge = build_judge(JudgeSettings(kind="approximate"))
    >>> type(judge).__name__, is_approximate(judge)
    ('LexicalJudge', True)
    >>> judge_label(judge)
    ' - APPROXIMATE offline lexical judge (word overlap, not a clinical grader)'
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.judge.types import describe_judge

if TYPE_CHECKING:
    from heartgrpo.config.judge import JudgeSettings

log = logging.getLogger(__name__)

__all__ = ["build_judge", "close_judge", "judge_in_use", "judge_label", "offline_judge"]


def build_judge(settings: JudgeSettings) -> Any:
    """A judge from the ``judge:`` section (OpenAI-compatible, offline approximate, recorded,
    the local verifier, or the verifier distilled with the OpenAI-compatible judge)."""
    from heartgrpo.judge import LexicalJudge, OpenAIJudge, ProcessPoolJudge, RecordedJudge

    if settings.kind == "approximate":
        return LexicalJudge(threshold=settings.approximate_threshold)
    if settings.kind == "recorded":
        return RecordedJudge(settings.recording)
    if settings.kind in ("verifier", "distilled"):
        verifier = _verifier_judge(settings)
        if settings.kind == "verifier" or not hasattr(verifier, "verifier"):
            return verifier
        from heartgrpo.judge.verifier.distilled import DistilledJudge

        return DistilledJudge(verifier, build_judge(settings.model_copy(update={"kind": "openai"})), settings.distilled_threshold)
    # the transport from EndpointSettings by name (one path), the judge's own fields, the rate-limit share
    options = {**settings.endpoint_kwargs(), "model": settings.model, "mode": settings.mode, "cache": settings.cache,
               "temperature": settings.temperature, **_limit_share(settings)}
    if settings.workers > 1:
        return ProcessPoolJudge(settings.workers, **options)
    return OpenAIJudge(**options)


def _limit_share(settings: JudgeSettings) -> dict[str, float | None]:
    """The judge's rate limits for one judge object: the run's limits divided by the judges that
    send at once (``judge.workers`` per process, times the processes of an accelerate launch)."""
    from heartgrpo.io.process import world_size

    share = settings.workers * world_size()
    return {name: None if value is None else value / share
            for name, value in (("requests_per_minute", settings.requests_per_minute), ("tokens_per_minute", settings.tokens_per_minute))}


def offline_judge(settings: JudgeSettings) -> Any | None:
    """The judge :func:`build_judge` gives for an offline kind, built without training or calling
    anything (a report names the judge of a finished run): the lexical judge for ``approximate``;
    for ``verifier``, the verifier file already there, else the lexical judge where the settings fall
    back to it; None for a judge behind an endpoint, or a verifier not trained and no fallback."""
    if settings.kind == "approximate":
        return build_judge(settings)
    if settings.kind != "verifier" or settings.verifier is None:
        return None
    try:
        return _verifier_judge(settings, train=False)
    except FileNotFoundError:
        return None


def _verifier_judge(settings: JudgeSettings, train: bool = True) -> Any:
    """The VerifierJudge of ``judge.verifier`` (trained there on first use unless ``train`` is
    False), or, with ``verifier_fallback: approximate`` and no way to get one, the lexical judge
    (reason logged)."""
    from heartgrpo.judge import LexicalJudge
    from heartgrpo.judge.verifier.model import VerifierJudge
    from heartgrpo.judge.verifier.train import MODEL_FILE, ensure_verifier

    target = Path(settings.verifier)  # type: ignore[arg-type]
    if target.suffix == ".npz":
        path, reason = (target, None) if target.is_file() else (None, f"{target}: no such verifier file")
        if path is None and target.name == MODEL_FILE and train:
            path, reason = ensure_verifier(target.parent, settings.verifier_data)
    elif train:
        path, reason = ensure_verifier(target, settings.verifier_data)
    else:
        found = target / MODEL_FILE
        path, reason = (found, None) if found.is_file() else (None, f"{found}: not trained")
    if path is not None:
        return VerifierJudge.from_file(path)
    if settings.verifier_fallback == "approximate":
        log.warning("judge: using the APPROXIMATE lexical judge instead of the verifier: %s", reason)
        return LexicalJudge(threshold=settings.approximate_threshold)
    raise FileNotFoundError(f"judge.verifier: {reason}; train one with `heartgrpo verifier train`")


def judge_label(judge: Any) -> str:
    """How a run's title names an approximate judge ('' for others): its
    :func:`~heartgrpo.judge.types.describe_judge` label."""
    return describe_judge(judge).label


@contextmanager
def judge_in_use(settings: JudgeSettings, judge: Any = None) -> Iterator[Any]:
    """``judge`` as given (its owner closes it), or one built from ``settings`` and closed on exit."""
    if judge is not None:
        yield judge
        return
    built = build_judge(settings)
    try:
        yield built
    finally:
        close_judge(built)


def close_judge(judge: Any) -> None:
    """Stop what a judge runs outside this process (the workers of a ProcessPoolJudge, also
    behind a GuardedJudge); judges without such resources need nothing."""
    inner = getattr(judge, "inner", judge)
    close = getattr(inner, "close", None)
    if callable(close):
        close()
