"""The reward-signal study: a generative model of judge outcomes and the measures of signal.

GRPO learns only from differences between the rewards of the completions of one prompt. This
module measures, for every strategy in :data:`heartgrpo.rewards.VERDICT_STRATEGIES`, how much
of that difference a strategy keeps, on verdict matrices drawn from the model below or logged by
real runs (:func:`heartgrpo.signal.data.load_verdict_log`).

Generative model of judge outcomes (one GRPO group of ``G`` completions of one prompt)::

    mu            ~ Beta(quality_alpha, quality_beta)          prompt-level policy quality
    q_i           = clip(mu + spread * z_i, 0, 1), z_i ~ N(0,1) quality of completion i (i < G)
    d_j           ~ N(difficulty_mean[category_j], difficulty_sd)   per criterion, per prompt
    P(met_ij)     = sigmoid(slope * (q_i - d_j))                positive criterion j
    P(trig_ij)    = sigmoid(slope * (d_j - q_i))                pitfall j (decreasing in q_i)
    verdict_ij    = the draw, flipped with prob. judge_flip (judge error),
                    None with prob. judge_fail (judge failure)

Categories follow RaR-Medicine (essential, important, optional, pitfall); a higher difficulty
means fewer completions meet the criterion, so essentials are met most often and optionals
least. ``q_i`` is the hidden truth the rewards try to rank, which lets the study report rank
agreement with the truth as well as with the HealthBench score.

Measures (per strategy, over a list of groups):

* ``frac_zero_std``: share of groups whose rewards are all equal (no learning signal);
* ``mean_advantage_std``: mean within-group std of GRPO advantages under group scaling
  (:func:`heartgrpo.rewards.diagnostics.diagnose_groups`); about 1 - ``frac_zero_std``, since
  group scaling brings every non-constant group to unit std;
* ``mean_advantage_std_batch``: the same under batch scaling, with steps of
  ``prompts_per_step`` prompts: the within-group share of a step's reward spread;
* ``mean_norm_reward_std``: mean within-group reward std divided by the strategy's range
  (``high - low``; 1 for the unbounded-below HealthBench-formula strategies), a scale-free size;
* ``tau_healthbench`` / ``tau_quality``: mean Kendall tau-b, within a group, between the
  strategy's rewards and the HealthBench score / the latent quality (groups where either side
  is constant are skipped; ``tau_defined`` is the share of groups kept).

Example:
    >>> import numpy as np
    >>> rubric = synthetic_rubrics(1, np.random.default_rng(0))[0]
    >>> g = draw_group(rubric, OutcomeModel(), np.random.default_rng(1))
    >>> len(g.met), len(g.met[0]) == len(rubric)
    (6, True)
    >>> round(kendall_tau_b([1, 2, 3], [1, 2, 2]), 4)   # 2 / sqrt(3 * 2)
    0.8165

stdlib + numpy only; no torch. Loading of rubrics and logged verdicts lives in
:mod:`heartgrpo.signal.data`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from heartgrpo.rewards import VERDICT_STRATEGIES, advantages, diagnose_groups, score_group
from heartgrpo.rubrics import Criterion, category_from_points, parse_rar_rubric
from heartgrpo.signal.data import SampledGroup

__all__ = [
    "GROUP_SIZE",
    "OutcomeModel",
    "draw_group",
    "draw_groups",
    "factor_effect",
    "group_advantages",
    "kendall_tau_b",
    "mean_ci",
    "rank_agreement",
    "signal_measures",
    "synthetic_rubrics",
]

#: Completions per prompt, as in the paper (6 generations).
GROUP_SIZE = 6

Verdict = bool | None


@dataclass(frozen=True)
class OutcomeModel:
    """Parameters of the generative model of judge outcomes (see the module docstring)."""

    quality_alpha: float = 2.0
    quality_beta: float = 2.0
    spread: float = 0.10
    slope: float = 8.0
    difficulty_mean: Mapping[str, float] = field(
        default_factory=lambda: {"essential": 0.35, "important": 0.50, "optional": 0.65, "pitfall": 0.25}
    )
    difficulty_sd: float = 0.15
    judge_flip: float = 0.05
    judge_fail: float = 0.0

    def with_mean_quality(self, mean: float, concentration: float = 8.0) -> OutcomeModel:
        """The same model with mu ~ Beta(mean * k, (1 - mean) * k), k = ``concentration``."""
        if not 0.0 < mean < 1.0:
            raise ValueError(f"mean quality must be in (0, 1), got {mean}")
        return replace(self, quality_alpha=mean * concentration, quality_beta=(1.0 - mean) * concentration)


def _category(c: Criterion) -> str:
    return c.category or category_from_points(c.points)


def draw_group(
    rubric: Sequence[Criterion], model: OutcomeModel, rng: np.random.Generator, group_size: int = GROUP_SIZE
) -> SampledGroup:
    """Draw one group of ``group_size`` verdict rows for ``rubric`` from ``model``."""
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    cats = [_category(c) for c in rubric]
    unknown = sorted(set(cats) - set(model.difficulty_mean))
    if unknown:
        raise ValueError(f"no difficulty_mean for categories {unknown}")
    mu = rng.beta(model.quality_alpha, model.quality_beta)
    q = np.clip(mu + model.spread * rng.standard_normal(group_size), 0.0, 1.0)
    d = np.array([model.difficulty_mean[c] for c in cats]) + model.difficulty_sd * rng.standard_normal(len(cats))
    sign = np.array([-1.0 if c.points < 0 else 1.0 for c in rubric])
    p_true = 0.5 * (1.0 + np.tanh(0.5 * model.slope * sign * (q[:, None] - d[None, :])))  # sigmoid
    met = rng.random(p_true.shape) < p_true
    met ^= rng.random(met.shape) < model.judge_flip
    failed = rng.random(met.shape) < model.judge_fail
    rows = tuple(
        tuple(None if failed[i, j] else bool(met[i, j]) for j in range(len(rubric))) for i in range(group_size)
    )
    return SampledGroup(tuple(float(c.points) for c in rubric), rows, tuple(float(x) for x in q))


def draw_groups(
    rubrics: Sequence[Sequence[Criterion]],
    model: OutcomeModel,
    n_groups: int,
    seed: int,
    group_size: int = GROUP_SIZE,
) -> list[SampledGroup]:
    """``n_groups`` groups, cycling through ``rubrics`` in a seeded random order."""
    if not rubrics:
        raise ValueError("rubrics is empty")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rubrics))
    return [draw_group(rubrics[order[k % len(rubrics)]], model, rng, group_size) for k in range(n_groups)]


def synthetic_rubrics(n: int, rng: np.random.Generator, sizes: tuple[int, int] = (7, 20)) -> list[list[Criterion]]:
    """``n`` RaR-style rubrics with 7..20 items: about 30% essential (5 points), 30% important
    (3-4), 25% optional (1-2) and 15% pitfalls (-1/-2), parsed by :func:`parse_rar_rubric`."""
    kinds = [("Essential", (5,)), ("Important", (3, 4)), ("Optional", (1, 2)), ("Pitfall", (-1, -2))]
    out = []
    for r in range(n):
        size = int(rng.integers(sizes[0], sizes[1] + 1))
        picks = rng.choice(4, size=size, p=[0.30, 0.30, 0.25, 0.15])
        picks[0] = 0  # every rubric has at least one positive criterion
        items = [
            {
                "title": f"item {j}",
                "description": f"{kinds[k][0]} Criteria: synthetic criterion {j} of rubric {r}.",
                "weight": int(rng.choice(kinds[k][1])),
            }
            for j, k in enumerate(picks)
        ]
        out.append(parse_rar_rubric(items, row_id=f"synthetic-{r}"))
    return out


# --------------------------------------------------------------------------------------------
# measures
# --------------------------------------------------------------------------------------------


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b: (C - D) / sqrt((n0 - n1) (n0 - n2)), ties handled as tau-b.

    n0 = n(n-1)/2, n1 / n2 the pairs tied in x / in y. NaN when x or y is constant.

    >>> kendall_tau_b([1, 2, 3, 4], [4, 3, 2, 1])
    -1.0
    """
    if len(x) != len(y):
        raise ValueError(f"length mismatch: {len(x)} vs {len(y)}")
    concordant = discordant = tie_x = tie_y = 0
    n = len(x)
    for i in range(n):
        for k in range(i + 1, n):
            dx, dy = x[i] - x[k], y[i] - y[k]
            if dx == 0 and dy == 0:
                tie_x += 1
                tie_y += 1
            elif dx == 0:
                tie_x += 1
            elif dy == 0:
                tie_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - tie_x) * (n0 - tie_y))
    return (concordant - discordant) / denom if denom > 0 else math.nan


def _scored(strategy: str, group: SampledGroup) -> tuple[list[float], list[int]]:
    """Rewards of the judged completions of ``group`` and their row indices."""
    rewards = score_group(strategy, group.points, group.met)
    keep = [i for i, r in enumerate(rewards) if r is not None]
    return [float(rewards[i]) for i in keep], keep


def rank_agreement(strategy: str, groups: Sequence[SampledGroup], reference: str = "healthbench") -> dict[str, float]:
    """Mean within-group Kendall tau-b between ``strategy`` and ``reference``.

    ``reference`` is a strategy name, or ``"quality"`` for the latent quality of drawn groups.
    Returns ``tau`` (mean over groups where tau is defined, NaN if none) and ``defined`` (share
    of groups where it is).
    """
    taus = []
    for g in groups:
        rewards, keep = _scored(strategy, g)
        if reference == "quality":
            if g.quality is None:
                raise ValueError("reference='quality' needs groups drawn from the model")
            ref = [g.quality[i] for i in keep]
        else:
            ref_all = score_group(reference, g.points, g.met)
            ref = [float(ref_all[i]) for i in keep]  # same None pattern: same rows judged
        taus.append(kendall_tau_b(rewards, ref) if len(keep) >= 2 else math.nan)
    defined = [t for t in taus if not math.isnan(t)]
    return {
        "tau": sum(defined) / len(defined) if defined else math.nan,
        "defined": len(defined) / len(taus) if taus else math.nan,
    }


def _range(strategy: str) -> float:
    s = VERDICT_STRATEGIES[strategy]
    if s.high is None or not math.isfinite(s.low):
        return 1.0
    return s.high - s.low


def signal_measures(
    groups: Sequence[SampledGroup], strategies: Sequence[str] | None = None, prompts_per_step: int = 8
) -> dict[str, dict[str, float]]:
    """Every measure of the module docstring, per strategy (``tau_quality`` only when the
    groups carry latent quality)."""
    if prompts_per_step < 1:
        raise ValueError(f"prompts_per_step must be >= 1, got {prompts_per_step}")
    names = list(strategies) if strategies is not None else list(VERDICT_STRATEGIES)
    pairs = [g.as_pair() for g in groups]
    report = diagnose_groups(pairs, strategies=names, scale="group")
    has_quality = all(g.quality is not None for g in groups)
    out: dict[str, dict[str, float]] = {}
    for name in names:
        rewards = [r for r in (_scored(name, g)[0] for g in groups) if r]
        stds = [float(np.std(r, ddof=1)) for r in rewards if len(r) >= 2]
        batch_adv = []
        for k in range(0, len(rewards), prompts_per_step):
            batch_adv += advantages(rewards[k : k + prompts_per_step], "batch")
        batch_stds = [float(np.std(a, ddof=1)) for a in batch_adv if len(a) >= 2]
        entry = {
            "frac_zero_std": report[name]["frac_zero_std"],
            "mean_advantage_std": report[name]["mean_advantage_std"],
            "mean_advantage_std_batch": sum(batch_stds) / len(batch_stds) if batch_stds else math.nan,
            "mean_norm_reward_std": (sum(stds) / len(stds)) / _range(name) if stds else math.nan,
        }
        hb = rank_agreement(name, groups, "healthbench")
        entry["tau_healthbench"], entry["tau_defined"] = hb["tau"], hb["defined"]
        if has_quality:
            entry["tau_quality"] = rank_agreement(name, groups, "quality")["tau"]
        out[name] = entry
    return out


def factor_effect(groups: Sequence[SampledGroup], scale: str, prompts_per_step: int) -> dict[str, float]:
    """How much the complexity factor c(n_c) changes GRPO advantages.

    The groups are cut into steps of ``prompts_per_step`` prompts and advantages are scaled per
    step under ``scale`` (batch scaling divides by the std of the step's rewards). Compared:
    A = advantages of ``complexity`` and A' = advantages of ``complexity / c(n_c)``.

    * ``max_abs``: max |A - A'| (:func:`heartgrpo.rewards.diagnostics.factor_cancellation`);
    * ``relative``: sum |A - A'| / sum |A'|, scale-free: about eps/std under group scaling
      (the factor cancels), (c - 1) on average without scaling.
    """
    from heartgrpo.rewards import complexity_factor, factor_cancellation

    pairs = [g.as_pair() for g in groups]
    steps = [pairs[k : k + prompts_per_step] for k in range(0, len(pairs), prompts_per_step)]
    diff = base = 0.0
    for step in steps:
        judged = [(len(points), r) for points, met in step if (r := [x for x in score_group("complexity", points, met) if x is not None])]
        a = advantages([r for _, r in judged], scale)
        b = advantages([[x / complexity_factor(n) for x in r] for n, r in judged], scale)
        diff += sum(abs(x - y) for ga, gb in zip(a, b) for x, y in zip(ga, gb))
        base += sum(abs(y) for gb in b for y in gb)
    return {
        "max_abs": max((factor_cancellation(step, scale) for step in steps), default=0.0),
        "relative": diff / base if base > 0 else 0.0,
    }


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval of the mean over independent replicates
    (seeds). NaNs are dropped; one value gives (v, v, v).

    >>> [round(v, 3) for v in mean_ci([1.0, 2.0, 3.0])]
    [2.0, -0.484, 4.484]
    """
    xs = [float(v) for v in values if not math.isnan(v)]
    if not xs:
        return math.nan, math.nan, math.nan
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, m, m
    half = _t975(len(xs) - 1) * float(np.std(xs, ddof=1)) / math.sqrt(len(xs))
    return m, m - half, m + half


_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}  # fmt: skip


def _t975(df: int) -> float:
    """97.5% quantile of Student's t with ``df`` degrees of freedom (table, conservative between
    entries: the next smaller tabulated df)."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df > 120:
        return 1.960
    return _T975[max(k for k in _T975 if k <= df)]


def group_advantages(groups: Sequence[SampledGroup], strategy: str, scale: str = "group") -> list[list[float]]:
    """GRPO advantages of each group's judged completions under ``strategy`` and ``scale``."""
    rewards = [_scored(strategy, g)[0] for g in groups]
    return advantages([r for r in rewards if r], scale)
