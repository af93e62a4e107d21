"""A rubric curriculum (ORBIT-style): each prompt's rubric is taught a few items at a time.

Every rubric item of every prompt (keyed by the dataset column ``id``) carries an EMA of its
success and a status ``candidate -> active -> mastered``. At each step the curriculum judges only
the items in the prompt's *window* (its active items, plus reviewed mastered ones under the
review policy), scores each completion on that item set, and then updates the EMAs from the
group's verdicts and moves items between statuses. Formulas (one place):

* success of an item on a completion: ``met`` for a positive item, ``not met`` for a pitfall
  (negative points: ``met=True`` means the mistake IS present, HealthBench semantics);
* EMA update per judged item: ``ema <- (1 - alpha) * ema + alpha * r``, r = the group's mean
  success on the item (failed verdicts left out; no update when all failed); EMAs start at 0;
* reward of a completion = the ``healthbench`` formula over the window: sum(points of met
  items, pitfalls included) / sum(positive points), and, when the window has no positive
  points, :data:`~heartgrpo.rewards.NoPositivePolicy` (``"signed"``: divide by the pitfalls'
  |points| instead). Any failed verdict in the window makes the reward ``None``.

Policies (named objects, :data:`heartgrpo.rewards.curriculum.POLICIES`):

* :class:`Sequential` (``sequential``): window 5 in rubric order; an active item with
  EMA > 0.9 is mastered and the next candidate takes its place.
* :class:`AdmissionGated` (``admission``): starts with ``initial`` (3) active items; admits the
  next candidate when the mean active EMA > 0.75 and fewer than ``window`` (6) are active, at most
  one per step; mastered at EMA > 0.9 (an empty active set admits one at once).
* :class:`StochasticReview` (``review``): :class:`Sequential`, but half the window
  (floor(window * review_share), at most the number mastered) reviews mastered items, drawn
  without replacement with weight 0.2 + 0.8 * (1 - EMA)^p; reviewed items update their EMA and
  stay mastered. The draw is seeded by (seed, prompt id, prompt step), so a resumed run draws as
  the uninterrupted one would.

When every item of a prompt is mastered the window is the whole rubric.

Step order: :class:`RubricCurriculum` is a *synchronous* reward function. TRL calls it in the
training thread once per generation batch and uses the result before generating the next, so
its state updates follow the step order; its judge calls still run concurrently inside a call.
An ``async`` curriculum is refused: with several async reward functions gathered on TRL's loop,
a state shared across prompts would update while another function still reads it.

State: :meth:`RubricCurriculum.state_dict` / :meth:`~RubricCurriculum.load_state_dict` (JSON);
:func:`curriculum_callback` writes it into every checkpoint directory (``curriculum_state.json``)
and reads it back when training resumes from a checkpoint.

    >>> from heartgrpo.rewards.curriculum import Sequential
    >>> c = RubricCurriculum(judge=None, policy=Sequential(window=2))
    >>> c.select("p", 3)
    [0, 1]
    >>> c.update("p", [5, 3, -2], [0, 1], [[True, False], [True, True]])
    [0.625, 1.0]
    >>> [round(s.ema, 2) for s in c.items("p")]
    [0.1, 0.05, 0.0]
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import random
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from heartgrpo.rewards.strategies import NoPositivePolicy, score
from heartgrpo.rewards.curriculum import CurriculumPolicy, ItemState, indices_with, ema_update, item_success

__all__ = [
    "STATE_FILE",
    "RubricCurriculum",
    "curriculum_callback",
    "curriculum_callbacks",
    "curriculum_from_settings",
]


#: file name of the curriculum state inside a checkpoint directory
STATE_FILE = "curriculum_state.json"


def _fingerprint(points: Sequence[float], n: int) -> str:
    return hashlib.sha256(json.dumps([n, [float(p) for p in points]]).encode()).hexdigest()[:16]


class RubricCurriculum:
    """A stateful TRL reward function ``f(prompts, completions, *, id, rubrics, **kwargs)``.

    ``judge``: a :class:`heartgrpo.judge.types.Judge`; ``policy``: one of :data:`POLICIES`;
    ``alpha``: the EMA rate; ``no_positive``: the reward of a window without positive points;
    ``num_generations``: the group size (completions of one prompt arrive consecutively);
    ``seed``: the review draw's seed. See the module docstring for every formula.
    """

    def __init__(self, judge: Any, policy: CurriculumPolicy, *, alpha: float = 0.1, no_positive: NoPositivePolicy = "signed",
                 num_generations: int | None = None, strip_think: bool = True, strip_reasoning: bool = False, seed: int = 0,
                 name: str | None = None, use_async: bool = False) -> None:
        if use_async:
            raise ValueError("the rubric curriculum is a synchronous reward function: its state must update in step order, "
                             "and async reward functions are gathered together on TRL's loop (see heartgrpo.train.curriculum)")
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.judge = judge
        self.policy = policy
        self.alpha = alpha
        self.no_positive = no_positive
        self.num_generations = num_generations
        self.strip_think = strip_think
        self.strip_reasoning = strip_reasoning
        self.seed = seed
        self.__name__ = name or f"curriculum_{policy.name}"
        self.state: dict[str, dict[str, Any]] = {}  # prompt id -> {"items", "step", "fingerprint"}

    # ---- state ------------------------------------------------------------------------------
    def _entry(self, prompt_id: str, n_items: int, points: Sequence[float] | None = None) -> dict[str, Any]:
        entry = self.state.get(prompt_id)
        fp = _fingerprint(points, n_items) if points is not None else None
        if entry is None:
            items = [ItemState() for _ in range(n_items)]
            self.policy.start(items)
            entry = self.state[prompt_id] = {"items": items, "step": 0, "fingerprint": fp}
        elif len(entry["items"]) != n_items or (fp and entry["fingerprint"] and fp != entry["fingerprint"]):
            raise ValueError(f"curriculum: prompt {prompt_id!r} came with a different rubric than before "
                             f"({n_items} items, the state has {len(entry['items'])}): ids must name one rubric each")
        if fp and not entry["fingerprint"]:
            entry["fingerprint"] = fp
        return entry

    def items(self, prompt_id: str) -> list[ItemState]:
        """The item states of ``prompt_id`` (KeyError when it was never seen)."""
        return self.state[prompt_id]["items"]

    def select(self, prompt_id: str, n_items: int, points: Sequence[float] | None = None) -> list[int]:
        """Indices of the items judged and rewarded at this prompt's next step (its window)."""
        entry = self._entry(prompt_id, n_items, points)
        items = entry["items"]
        if all(s.status == "mastered" for s in items):
            return list(range(n_items))
        rng = random.Random(f"{self.seed}:{prompt_id}:{entry['step']}")
        return sorted(set(indices_with(items, "active")) | set(self.policy.review(items, rng)))

    def update(self, prompt_id: str, points: Sequence[float], window: Sequence[int],
               met: Sequence[Sequence[bool | None]]) -> list[float | None]:
        """Score one group on ``window`` (``met[k][j]``: completion k, window item j), then update
        the EMAs of those items and advance the statuses. Returns the group's rewards."""
        entry = self._entry(prompt_id, len(points), points)
        items = entry["items"]
        sub = [float(points[i]) for i in window]
        rewards = [score("healthbench", sub, list(row), no_positive=self.no_positive) if sub else None for row in met]
        for j, i in enumerate(window):
            judged = [row[j] for row in met if row[j] is not None]
            if judged:
                rate = sum(item_success(points[i], m) for m in judged) / len(judged)
                items[i].ema = ema_update(items[i].ema, rate, self.alpha)
                items[i].seen += 1
        self.policy.advance(items)
        entry["step"] += 1
        return rewards

    def state_dict(self) -> dict[str, Any]:
        """The JSON-ready state: policy, alpha and every prompt's items."""
        return {"policy": {"name": self.policy.name, **{k: v for k, v in asdict(self.policy).items() if k != "name"}},
                "alpha": self.alpha, "seed": self.seed,
                "prompts": {pid: {"step": e["step"], "fingerprint": e["fingerprint"], "items": [asdict(s) for s in e["items"]]}
                            for pid, e in self.state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; the policy must be the one this object runs."""
        saved = state["policy"]
        mine = self.state_dict()["policy"]
        if saved != mine:
            raise ValueError(f"curriculum state was saved under policy {saved}, this run uses {mine}")
        self.state = {pid: {"step": int(e["step"]), "fingerprint": e.get("fingerprint"), "items": [ItemState(**s) for s in e["items"]]}
                      for pid, e in state["prompts"].items()}

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)  # whole or absent: a killed run never leaves half a state
        return path

    def load(self, path: Path) -> None:
        self.load_state_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        try:  # judges with locks or HTTP clients do not pickle: the state and policy still do
            pickle.dumps(d["judge"])
        except Exception:
            d["judge"] = None
        return d

    # ---- TRL reward ----------------------------------------------------------------------------
    def _groups(self, ids: Sequence[str]) -> list[list[int]]:
        n = len(ids)
        if self.num_generations:
            if n % self.num_generations:
                raise ValueError(f"{n} completions are not a multiple of num_generations={self.num_generations}")
            return [list(range(i, i + self.num_generations)) for i in range(0, n, self.num_generations)]
        groups: list[list[int]] = []
        for i in range(n):
            if not groups or ids[groups[-1][0]] != ids[i]:
                groups.append([])
            groups[-1].append(i)
        return groups

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        from heartgrpo.answer_format import extract_answer, is_empty_answer
        from heartgrpo.io.asyncs import gather_staggered, run_sync
        from heartgrpo.rewards.trl import parse_rubric_column

        for column in ("id", "rubrics"):
            if column not in kwargs:
                raise KeyError(f"the rubric curriculum needs the dataset column {column!r} (prompt ids key its state)")
        if self.judge is None:
            raise RuntimeError("this curriculum has no judge (it was unpickled without one): set .judge first")
        ids = [str(i) for i in kwargs["id"]]
        rubrics = [parse_rubric_column(r, i) for i, r in enumerate(kwargs["rubrics"])]
        answers = [extract_answer(c, self.strip_think, self.strip_reasoning) for c in completions]
        plan = []
        for group in self._groups(ids):
            first = group[0]
            points = [float(c["points"]) for c in rubrics[first]]
            plan.append((group, points, self.select(ids[first], len(points), points)))

        async def grade_all() -> list[Any]:
            async def one(k: int, window: list[int]) -> list[bool | None]:
                if is_empty_answer(answers[k]):
                    return [False] * len(window)  # an empty answer meets nothing, as make_reward_func scores it
                verdicts = await self.judge.grade(prompts[k], answers[k], [rubrics[k][i] for i in window])
                return [v.met for v in verdicts]

            try:
                return await gather_staggered(one(k, w) for group, _, w in plan for k in group)
            finally:
                close = getattr(self.judge, "aclose", None)
                if close is not None:  # the HTTP client belongs to this short-lived loop
                    await close()

        flat = iter(run_sync(grade_all))
        rewards: list[float | None] = [None] * len(completions)
        for group, points, window in plan:
            met = [next(flat) for _ in group]
            for k, r in zip(group, self.update(ids[group[0]], points, window, met)):
                rewards[k] = r
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for key, value in self.summary([ids[g[0]] for g, _, _ in plan]).items():
                log_metric(f"{self.__name__}/{key}", value)
        return rewards

    def summary(self, prompt_ids: Sequence[str] | None = None) -> dict[str, float]:
        """Mean window size, active and mastered shares and mean EMA over ``prompt_ids`` (all)."""
        entries = [self.state[p] for p in (prompt_ids or list(self.state)) if p in self.state]
        items = [s for e in entries for s in e["items"]]
        if not items:
            return {}
        n = len(items)
        return {"active_share": sum(s.status == "active" for s in items) / n,
                "mastered_share": sum(s.status == "mastered" for s in items) / n,
                "ema_mean": sum(s.ema for s in items) / n,
                "ema_min": min(s.ema for s in items) if items else math.nan}


def curriculum_callback(curriculum: RubricCurriculum) -> Any:
    """A ``TrainerCallback`` that saves ``curriculum``'s state into each checkpoint directory
    (``<output_dir>/checkpoint-<step>/curriculum_state.json``, main process) and, when training
    starts from a checkpoint (``global_step > 0``), loads it from there; a checkpoint without
    the file is an error, not a silent fresh start. One process only: under several processes
    each rank would hold the state of its own completions."""
    from transformers import TrainerCallback

    class CurriculumStateCallback(TrainerCallback):
        def __init__(self) -> None:
            self.curriculum = curriculum
            self.loaded_from: Path | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if getattr(args, "world_size", 1) > 1:
                raise ValueError("the rubric curriculum runs in one process: its state is per prompt and each rank "
                                 "would see only its own completions")
            if state.global_step > 0:
                path = Path(args.output_dir) / f"checkpoint-{state.global_step}" / STATE_FILE
                if not path.is_file():
                    raise FileNotFoundError(f"resuming at step {state.global_step} with a rubric curriculum, but {path} "
                                            "does not exist: the checkpoint was written without the curriculum")
                self.curriculum.load(path)
                self.loaded_from = path

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.curriculum.save(Path(args.output_dir) / f"checkpoint-{state.global_step}" / STATE_FILE)

    return CurriculumStateCallback()


def curriculum_from_settings(settings: Any, judge: Any, cfg: Any = None) -> RubricCurriculum:
    """The curriculum of an ``orbit.curriculum`` section (:class:`heartgrpo.config.orbit.CurriculumSettings`)
    over ``judge``; ``cfg`` (the run config) gives the group size, seed and reasoning stripping."""
    return RubricCurriculum(judge, settings.policy_object(), alpha=settings.alpha, no_positive=settings.no_positive,
                            num_generations=cfg.grpo.num_generations if cfg is not None else None,
                            strip_reasoning=cfg.reward.strip_reasoning if cfg is not None else False,
                            seed=cfg.seed if cfg is not None else 0)


def curriculum_callbacks(reward_funcs: Sequence[Any]) -> list[Any]:
    """One :func:`curriculum_callback` per :class:`RubricCurriculum` among ``reward_funcs``."""
    return [curriculum_callback(f) for f in reward_funcs if isinstance(f, RubricCurriculum)]
