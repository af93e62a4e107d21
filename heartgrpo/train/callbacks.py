"""Trainer callbacks: per-step JSONL/CSV logs with judge health, and the judge-down stop.

:class:`StepLogCallback` writes every TRL log record (``reward``, ``reward_std``,
``rewards/<strategy>/mean|std``, ``frac_reward_zero_std``, ``completions/mean_length`` (mean
completion length in tokens; TRL 0.22 and 1.x log it under that one name), loss, KL, ...) as one
JSON line to ``steps.jsonl`` and rewrites ``steps.csv``, adding the judge's counters since the previous log:
``judge/verdicts`` (criteria graded) and, when the judge has rated answers (``rar_implicit``: one
rating per answer, no verdicts), ``judge/ratings`` instead (both where it makes both),
``judge/requests`` (HTTP requests sent, retries included; 0 for a local judge),
``judge/failure_rate`` (failed verdicts and ratings / verdicts and ratings), ``judge/cache_hit_rate``
(persistent-cache hits / lookups) and ``judge/shared_rate`` (verdicts reused across strategies). It edits the log
record in place, so TensorBoard / W&B (when enabled) receive the same keys. On resume, rows
logged after the checkpoint step are dropped first, so the files never hold a step twice.

:class:`JudgeDownCallback` stops training, saving a checkpoint, once the judge has failed every
verdict for longer than ``limit_s`` seconds; under several processes the longest down time of
any rank decides, so every rank stops on the same step.

:class:`RewardMetricsCallback` is for TRL < 1.0, which passes no ``log_metric`` to reward
functions: it adds the mean of each metric the reward functions collected since the previous
log (``<name>/met_rate/<category>``, ``<name>/judge_failure_rate``, ...) to the log record, the
keys and means TRL >= 1.0 logs itself. Put it before :class:`StepLogCallback`.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from heartgrpo.io.jsonl import append_row, read_jsonl, write_jsonl
from heartgrpo.io.process import gather_across_ranks, max_across_ranks

log = logging.getLogger(__name__)

__all__ = ["JudgeDownCallback", "RewardMetricsCallback", "StepLogCallback", "judgement_kinds", "read_steps"]


def read_steps(path: Path) -> list[dict]:
    """Rows of a ``steps.jsonl`` file (empty list when it does not exist)."""
    return read_jsonl(path, missing_ok=True)


#: the counter of failed judgements of each kind (:class:`~heartgrpo.judge.types.JudgeStats`)
_FAILED = {"verdicts": "failures", "ratings": "rating_failures"}


def judgement_kinds(*counters: dict[str, int]) -> tuple[str, ...]:
    """The kinds of judgement a judge made, from the first of ``counters`` that shows any:
    ``verdicts`` (per criterion), ``ratings`` (one per answer) or both; ``verdicts`` when none does.

    >>> judgement_kinds({"verdicts": 0, "ratings": 12}), judgement_kinds({"verdicts": 40, "ratings": 0})
    (('ratings',), ('verdicts',))
    >>> judgement_kinds({"verdicts": 0, "ratings": 0}, {"verdicts": 5, "ratings": 3}), judgement_kinds({})
    (('verdicts', 'ratings'), ('verdicts',))
    """
    for totals in counters:
        made = tuple(k for k in _FAILED if totals.get(k, 0) > 0)
        if made:
            return made
    return ("verdicts",)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class StepLogCallback(TrainerCallback):
    """Append each log record to ``<log_dir>/steps.jsonl`` and mirror it to ``steps.csv``."""

    def __init__(self, log_dir: Path, judge: Any = None, *, jsonl: bool = True, csv_file: bool = True) -> None:
        self.log_dir = Path(log_dir)
        self.judge = judge
        self.jsonl = jsonl
        self.csv_file = csv_file
        self._last: dict[str, int] = {}
        self._shared_last = (0, 0)
        self.rows: list[dict] = []

    @property
    def jsonl_path(self) -> Path:
        return self.log_dir / "steps.jsonl"

    @property
    def csv_path(self) -> Path:
        return self.log_dir / "steps.csv"

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:  # under several processes only the main one writes
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.rows = [r for r in read_steps(self.jsonl_path) if r.get("step", 0) <= state.global_step]
            self._rewrite_jsonl()
        self._last = self._snapshot()
        self._shared_last = (getattr(self.judge, "shared_hits", 0) or 0, getattr(self.judge, "calls", 0) or 0)

    def _snapshot(self) -> dict[str, int]:
        stats = getattr(self.judge, "stats", None)
        return dict(stats.snapshot()) if stats is not None and hasattr(stats, "snapshot") else {}

    def judge_metrics(self) -> dict[str, float]:
        """Judge counters since the previous call, as rates. Under several processes (a
        collective call: every rank makes it) the counters are summed over the ranks and each
        rank's requests and verdicts (or ratings) are added as ``judge/requests/rank<i>``,
        ``judge/verdicts/rank<i>`` (``judge/ratings/rank<i>``).

        Which of ``judge/verdicts`` and ``judge/ratings`` is logged follows what the judge made in
        the interval (else since it was built: :func:`judgement_kinds`), so a rating strategy logs
        no verdicts of 0, even when the judge made verdicts before training."""
        now = self._snapshot()
        d = {k: now.get(k, 0) - self._last.get(k, 0) for k in now}
        self._last = now
        shared, calls = getattr(self.judge, "shared_hits", None), getattr(self.judge, "calls", None)
        ds = dc = None
        if shared is not None and calls is not None:
            ds, dc = shared - self._shared_last[0], calls - self._shared_last[1]
            self._shared_last = (shared, calls)
        ranks = gather_across_ranks((d, ds, dc))
        out: dict[str, float] = {}
        if len(ranks) > 1:
            d = {k: sum(r[0].get(k, 0) for r in ranks) for k in {k for r in ranks for k in r[0]}}
            if ds is not None:
                ds, dc = sum(r[1] or 0 for r in ranks), sum(r[2] or 0 for r in ranks)
        if d:
            # what the judge made in this interval; an idle interval falls back to what it has made
            # at all (a verifier measured on graded answers before training has verdicts of its own)
            kinds = judgement_kinds(d, now)
            judged = sum(d.get(k, 0) for k in kinds)
            failed = sum(d.get(_FAILED[k], 0) for k in kinds)
            looked = d.get("cache_hits", 0) + d.get("cache_misses", 0)
            out.update({f"judge/{k}": float(d.get(k, 0)) for k in kinds})
            out["judge/failure_rate"] = failed / judged if judged else 0.0
            out["judge/cache_hit_rate"] = d.get("cache_hits", 0) / looked if looked else 0.0
            out["judge/requests"] = float(d.get("requests", 0))
            if len(ranks) > 1:
                for i, r in enumerate(ranks):
                    out[f"judge/requests/rank{i}"] = float(r[0].get("requests", 0))
                    out.update({f"judge/{k}/rank{i}": float(r[0].get(k, 0)) for k in kinds})
        if ds is not None:
            out["judge/shared_rate"] = ds / (ds + dc) if ds + dc else 0.0
        return out

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None:
            return
        if any(k.startswith("train_") for k in logs):  # the end-of-training summary
            return
        judged = self.judge_metrics()  # every rank: the counters are gathered
        if not state.is_world_process_zero:
            return
        logs.update(judged)
        row = {"step": state.global_step, **{k: _clean(v) for k, v in logs.items()}}
        self.rows.append(row)
        if self.jsonl:
            append_row(self.jsonl_path, row, fsync=False)
        if self.csv_file:
            self._rewrite_csv()

    def _rewrite_jsonl(self) -> None:
        if self.jsonl:
            write_jsonl(self.rows, self.jsonl_path)
        if self.csv_file:
            self._rewrite_csv()

    def _rewrite_csv(self) -> None:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        with self.csv_path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)


class JudgeDownCallback(TrainerCallback):
    """Stop (with a checkpoint) when ``judge.down_for()`` exceeds ``limit_s`` seconds."""

    def __init__(self, judge: Any, limit_s: float) -> None:
        self.judge = judge
        self.limit_s = limit_s
        self.tripped_at_step: int | None = None
        self.down_seconds = 0.0

    def on_step_end(self, args, state, control, **kwargs):
        down = max_across_ranks(self.judge.down_for())  # every rank stops on the same step
        if down > self.limit_s and self.tripped_at_step is None:
            self.tripped_at_step = state.global_step
            self.down_seconds = down
            log.error("judge down for %.0f s (limit %.0f s): saving a checkpoint at step %d and stopping", down, self.limit_s, state.global_step)
            control.should_save = True
            control.should_training_stop = True
        return control


class RewardMetricsCallback(TrainerCallback):
    """Log the means of the reward functions' ``pending_metrics`` (TRL < 1.0 passes no ``log_metric``).

    >>> from collections import defaultdict
    >>> def f(): ...
    >>> f.pending_metrics = defaultdict(list, {"rubric_x/met_rate/essential": [0.5, 1.0]})
    >>> class State: is_world_process_zero = True
    >>> logs = {"loss": 0.1}
    >>> RewardMetricsCallback([f]).on_log(None, State(), None, logs=logs)
    >>> logs, dict(f.pending_metrics)
    ({'loss': 0.1, 'rubric_x/met_rate/essential': 0.75}, {})
    """

    def __init__(self, reward_funcs: Any) -> None:
        self.sinks = [s for s in (getattr(f, "pending_metrics", None) for f in reward_funcs) if s is not None]

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None:
            return
        for sink in self.sinks:
            for name, values in list(sink.items()):
                if values and state.is_world_process_zero and name not in logs:
                    logs[name] = sum(values) / len(values)
            sink.clear()
