"""What the reward-signal study reads: verdict groups, bundled rubrics and logged verdicts.

* :class:`SampledGroup`: one GRPO group, the rubric's points and one verdict row per completion
  (plus the latent completion quality when drawn from :mod:`heartgrpo.signal.study`'s model);
* :func:`load_rar_rubrics`: the rubric of every row of RaR-schema JSONL files;
* :func:`load_verdict_log`: groups from a JSONL verdict log of a real GRPO run.

    >>> g = SampledGroup((5.0, -2.0), ((True, False), (False, True)))
    >>> g.as_pair()
    ((5.0, -2.0), ((True, False), (False, True)))

stdlib + pydantic (through :mod:`heartgrpo.rubrics`) only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartgrpo.io.jsonl import iter_rows
from heartgrpo.rubrics import Criterion, parse_rar_rubric

__all__ = ["SampledGroup", "load_rar_rubrics", "load_verdict_log"]

Verdict = bool | None


@dataclass(frozen=True)
class SampledGroup:
    """One GRPO group: the rubric's points, one verdict row per completion, and (when drawn
    from the model) the latent quality of each completion."""

    points: tuple[float, ...]
    met: tuple[tuple[Verdict, ...], ...]
    quality: tuple[float, ...] | None = None
    prompt_id: str | None = None

    def as_pair(self) -> tuple[tuple[float, ...], tuple[tuple[Verdict, ...], ...]]:
        """``(points, met)``, the group form :mod:`heartgrpo.rewards.diagnostics` takes."""
        return self.points, self.met


def load_rar_rubrics(paths: Iterable[Path]) -> list[list[Criterion]]:
    """The rubric of every row of RaR-schema JSONL files (``rubric``: [{title, description, weight}]).

    Errors name the file and line. Rows are identified by ``id`` when present.
    """
    out = []
    for path in paths:
        for lineno, row in iter_rows(path):
            if "rubric" not in row:
                raise ValueError(f"{path}:{lineno}: field 'rubric' missing")
            row_id = str(row.get("id", row.get("prompt_id", f"{Path(path).name}:{lineno}")))
            out.append(parse_rar_rubric(row["rubric"], row_id=row_id))
    return out


def _verdict_row(value: Any, where: str) -> tuple[Verdict, ...]:
    if not isinstance(value, list) or not all(v is None or isinstance(v, bool) for v in value):
        raise ValueError(f"{where}: verdicts must be a list of true/false/null")
    return tuple(value)


def load_verdict_log(path: Path) -> list[SampledGroup]:
    """Groups from a JSONL verdict log of a GRPO run.

    Two row shapes are read, one per line:

    * a group: ``{"prompt_id", "points": [...], "verdicts": [[true, false, null, ...], ...]}``
      (one verdict row per completion);
    * a completion: ``{"prompt_id", "points": [...], "verdicts": [true, ...], "step": 3}``;
      completions with the same ``(step, prompt_id)`` form one group, in file order (without
      ``step``, all completions of a prompt form one group).

    Errors name the file, line and field.
    """
    groups: dict[tuple[Any, str], list[Any]] = {}
    for lineno, row in iter_rows(path):
        where = f"{path}:{lineno}"
        for key in ("prompt_id", "points", "verdicts"):
            if not isinstance(row, dict) or key not in row:
                raise ValueError(f"{where}: field {key!r} missing")
        points = row["points"]
        if not isinstance(points, list) or not points or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) for p in points
        ):
            raise ValueError(f"{where}: field 'points' must be a non-empty list of numbers")
        verdicts = row["verdicts"]
        if not isinstance(verdicts, list) or not verdicts:
            raise ValueError(f"{where}: field 'verdicts' must be a non-empty list")
        rows = (
            [_verdict_row(v, f"{where}, field 'verdicts'") for v in verdicts]
            if isinstance(verdicts[0], list)
            else [_verdict_row(verdicts, f"{where}, field 'verdicts'")]
        )
        for r in rows:
            if len(r) != len(points):
                raise ValueError(f"{where}: {len(r)} verdicts for {len(points)} points")
        step = ("group", lineno) if isinstance(verdicts[0], list) else row.get("step")
        key = (step, str(row["prompt_id"]))
        entry = groups.setdefault(key, [tuple(float(p) for p in points), []])
        if entry[0] != tuple(float(p) for p in points):
            raise ValueError(f"{where}: points differ from earlier rows of prompt {row['prompt_id']!r}")
        entry[1].extend(rows)
    return [SampledGroup(pts, tuple(rows), None, prompt_id=pid) for (_, pid), (pts, rows) in groups.items()]


