"""``heartgrpo reward-model train`` / ``eval``: fit on the dev split, measure on the held-out eval split.

Run directory (default ``runs/reward-model``)::

    verifier.npz            the verifier underneath, trained on all of dev
    reward_model.npz        the reward model (GPRC weight as set)
    reward_model_no_gprc.npz  the same fit with GPRC weight 0 (the ablation eval reports)
    dev_features.npz        cross-fitted dev features (reused by a rerun with reuse=True)
    train.json, cv.json     what it was trained on; grouped cross-validation on dev
    eval.json, eval.md      the eval split's figures

    >>> train_reward_model("../shared/data/healthbench/graded_dev.jsonl.gz", "runs/reward-model")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from heartgrpo.io.asyncs import run_sync
from heartgrpo.judge.agreement import pairwise_agreement
from heartgrpo.judge.reward_model.data import Answers, crossfit_probs, feature_matrix, verifier_probs
from heartgrpo.judge.reward_model.dimensions import DIMENSIONS
from heartgrpo.judge.reward_model.features import FEATURE_NAMES
from heartgrpo.judge.reward_model.model import RewardModel
from heartgrpo.judge.reward_model.train import FitSettings, fit_reward_model
from heartgrpo.judge.verifier.examples import load_graded

__all__ = ["ABLATION_FILE", "FEATURES_FILE", "MODEL_FILE", "VERIFIER_FILE", "dev_cv", "eval_markdown", "evaluate_reward_model",
           "lexical_rates", "sample_conversations", "targets", "train_reward_model"]

MODEL_FILE = "reward_model.npz"
ABLATION_FILE = "reward_model_no_gprc.npz"
VERIFIER_FILE = "verifier.npz"
FEATURES_FILE = "dev_features.npz"


def sample_conversations(answers: Answers, n: int | None, seed: int = 0) -> Answers:
    """The answers of ``n`` conversations drawn with ``seed`` (all when None)."""
    convs = sorted(set(answers.groups))
    if n is None or n >= len(convs):
        return answers
    keep = set(random.Random(seed).sample(convs, n))
    return answers.subset([k for k, g in enumerate(answers.groups) if g in keep])


def targets(answers: Answers) -> tuple[list[str], list[float], dict[str, list[float | None]], list[int]]:
    """``(groups, overall scores, per-dimension scores, kept indices)`` of the answers the grader scored."""
    ref = answers.reference()
    keep = [k for k, r in enumerate(ref) if r is not None]
    dims = answers.dimension_references()
    return ([answers.groups[k] for k in keep], [ref[k] for k in keep],  # type: ignore[misc]
            {d: [dims[d][k] for k in keep] for d in DIMENSIONS}, keep)


def dev_cv(x: np.ndarray, groups: Sequence[str], ref: Sequence[float], dim_refs: dict[str, Sequence[float | None]],
           settings: FitSettings, folds: int = 4, seed: int = 0) -> dict[str, Any]:
    """Grouped ``folds``-fold cross-validation by conversation: pooled held-out pairwise agreement
    of the overall score (and of each dimension head with its dimension's reference)."""
    convs = sorted(set(groups))
    random.Random(seed).shuffle(convs)
    fold_of = {c: i % folds for i, c in enumerate(convs)}
    scores = np.zeros((len(groups), 1 + len(dim_refs)))
    for f in range(folds):
        tr = [k for k, g in enumerate(groups) if fold_of[g] != f]
        te = [k for k, g in enumerate(groups) if fold_of[g] == f]
        m = fit_reward_model(x[tr], [groups[k] for k in tr], [ref[k] for k in tr],
                             {d: [r[k] for k in tr] for d, r in dim_refs.items()}, settings)
        scores[te] = m.scores(x[te])
    out = {"overall": pairwise_agreement(groups, list(scores[:, 0]), ref, n_boot=200)}
    for j, (d, r) in enumerate(dim_refs.items()):
        keep = [k for k, v in enumerate(r) if v is not None]
        out[d] = pairwise_agreement([groups[k] for k in keep], [scores[k, j + 1] for k in keep], [r[k] for k in keep], n_boot=200)  # type: ignore[misc]
    return {"settings": asdict(settings), "folds": folds, "agreement": out}


def train_reward_model(graded: str | Path, out_dir: str | Path, *, conversations: str | Path | None = None,
                       settings: FitSettings = FitSettings(), folds: int = 4, conversations_limit: int | None = None,
                       reuse: bool = False, cv: bool = True, verifier_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the verifier underneath and the reward model (and its GPRC-off ablation) on ``graded``
    (the dev split); ``conversations_limit`` trains on that many conversations (the tiny test fit);
    ``reuse`` keeps the verifier and the cross-fitted features of an earlier run in ``out_dir`` (the
    same data: only the reward model's fit is redone)."""
    from heartgrpo.judge.verifier.model import Verifier

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vopts = {"progress": False, **(verifier_options or {})}
    t0 = time.perf_counter()
    answers = sample_conversations(Answers.from_examples(load_graded(graded, conversations)), conversations_limit)
    groups, ref, dim_refs, keep = targets(answers)
    answers = answers.subset(keep)
    cache = out / FEATURES_FILE
    if reuse and (out / VERIFIER_FILE).is_file() and cache.is_file():
        verifier = Verifier.load(out / VERIFIER_FILE)
    else:
        verifier = Verifier.fit([e for g in answers.examples for e in g], **vopts)
        verifier.save(out / VERIFIER_FILE)
    t_ver = time.perf_counter() - t0
    if reuse and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            x = np.array(data["x"])
    else:
        x = feature_matrix(answers, crossfit_probs(answers, folds, **vopts), verifier.threshold)
        np.savez_compressed(cache, x=x)
    t_feat = time.perf_counter() - t0 - t_ver
    info: dict[str, Any] = {"graded": str(graded), "answers": len(groups), "conversations": len(set(groups)),
                            "verifier_folds": folds, "features": list(FEATURE_NAMES)}
    for name, s in ((MODEL_FILE, settings), (ABLATION_FILE, replace(settings, gprc_weight=0.0))):
        m = fit_reward_model(x, groups, ref, dim_refs, s, FEATURE_NAMES)
        m.info.update({"verifier": VERIFIER_FILE, "verifier_threshold": verifier.threshold, "graded": str(graded)})
        m.save(out / name)
        info[name] = m.info
    if cv:
        cv_out = {"gprc_on": dev_cv(x, groups, ref, dim_refs, settings, folds),
                  "gprc_off": dev_cv(x, groups, ref, dim_refs, replace(settings, gprc_weight=0.0), folds)}
        (out / "cv.json").write_text(json.dumps(cv_out, indent=2) + "\n", encoding="utf-8")
        info["cv"] = {k: v["agreement"]["overall"]["agreement"] for k, v in cv_out.items()}
    info["seconds"] = {"verifier": round(t_ver, 1), "features": round(t_feat, 1), "total": round(time.perf_counter() - t0, 1)}
    (out / "train.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _between(model: RewardModel, x: np.ndarray, groups: Sequence[str], ref: Sequence[float]) -> dict[str, Any]:
    """On good/medium/poor triples of the grader's scores: the share whose medium answer the model
    scores strictly between the other two, and the share whose representation projects inside (0, 1)."""
    from heartgrpo.judge.reward_model.losses import projection
    from heartgrpo.judge.reward_model.pairs import ordered_triples

    tri = ordered_triples(groups, ref, max_per_group=10**6)
    if not len(tri):
        return {"triples": 0, "score_between": None, "projection_inside": None, "median_perp": None}
    s, h = model.score(x), model.represent(x)
    g, m, p = tri[:, 0], tri[:, 1], tri[:, 2]
    t, perp = projection(h[g], h[m], h[p])
    return {"triples": int(len(tri)), "score_between": float(np.mean((s[p] < s[m]) & (s[m] < s[g]))),
            "projection_inside": float(np.mean((t > 0) & (t < 1))), "median_perp": float(np.median(perp))}


def evaluate_reward_model(run_dir: str | Path, graded: str | Path, *, conversations: str | Path | None = None,
                          n_boot: int = 1000) -> dict[str, Any]:
    """Pairwise agreement on ``graded`` (the eval split) of the reward model, its GPRC-off
    ablation, the verifier's expected score and answer length, with CIs; each dimension head
    against its dimension's reference; the medium-between rates. Writes eval.json and eval.md."""
    from heartgrpo.judge.verifier.model import Verifier

    run = Path(run_dir)
    model, ablation = RewardModel.load(run / MODEL_FILE), RewardModel.load(run / ABLATION_FILE)
    verifier = Verifier.load(run / VERIFIER_FILE)
    answers = Answers.from_examples(load_graded(graded, conversations))
    groups, ref, dim_refs, keep = targets(answers)
    answers = answers.subset(keep)
    probs = verifier_probs(verifier, answers)
    x = feature_matrix(answers, probs, verifier.threshold)
    scorers = {"reward model (GPRC on)": model.score(x), "reward model (GPRC off)": ablation.score(x),
               "verifier expected score (its `rate`)": x[:, FEATURE_NAMES.index("expected_score")],
               "verifier verdict score": x[:, FEATURE_NAMES.index("verdict_score")],
               "lexical judge (its `rate`)": np.array(lexical_rates(answers)), "length (characters)": np.array(answers.lengths())}
    result: dict[str, Any] = {"graded": str(graded), "answers": len(groups), "conversations": len(set(groups)),
                              "overall": {n: pairwise_agreement(groups, list(map(float, s)), ref, n_boot=n_boot) for n, s in scorers.items()},
                              "dimensions": {}, "between": {"gprc_on": _between(model, x, groups, ref),
                                                            "gprc_off": _between(ablation, x, groups, ref)}}
    head_scores = model.scores(x)
    for j, d in enumerate(model.heads[1:], start=1):
        r = dim_refs[d]
        k = [i for i, v in enumerate(r) if v is not None]
        g = [groups[i] for i in k]
        result["dimensions"][d] = {"head": pairwise_agreement(g, [float(head_scores[i, j]) for i in k], [r[i] for i in k], n_boot=n_boot),  # type: ignore[misc]
                                   "overall_score": pairwise_agreement(g, [float(head_scores[i, 0]) for i in k], [r[i] for i in k], n_boot=n_boot),  # type: ignore[misc]
                                   "length": pairwise_agreement(g, [float(len(answers.examples[i][0].response)) for i in k], [r[i] for i in k], n_boot=n_boot)}  # type: ignore[misc]
    (run / "eval.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (run / "eval.md").write_text(eval_markdown(result), encoding="utf-8")
    a = result["overall"]["reward model (GPRC on)"]
    model.info["eval"] = {"graded": Path(graded).name, "pairwise_agreement": a["agreement"], "ci": [a["ci_low"], a["ci_high"]]}
    model.save(run / MODEL_FILE)
    return result


def lexical_rates(answers: Answers) -> list[float]:
    """The APPROXIMATE lexical judge's ``rate`` (:class:`heartgrpo.judge.offline.LexicalJudge`, word overlap) of each answer."""
    from heartgrpo.judge.offline import LexicalJudge

    judge = LexicalJudge()

    async def rates() -> list[float]:
        return [float(await judge.rate(g[0].conversation, g[0].response, [{"criterion": e.criterion, "points": e.points} for e in g]))
                for g in answers.examples]

    return run_sync(rates)


def _f(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}"


def eval_markdown(result: dict[str, Any]) -> str:
    """The tables of :func:`evaluate_reward_model`'s result."""
    pair = lambda r: f"{_f(r['agreement'])} [{_f(r['ci_low'])}, {_f(r['ci_high'])}]"  # noqa: E731
    lines = [f"Eval split `{Path(result['graded']).name}`: {result['answers']} answers of {result['conversations']} conversations. "
             "Within-conversation pairwise agreement with the GPT-4.1 grader's HealthBench score (pairs whose grader scores "
             "differ, ties half), 95% bootstrap CI over conversations.", "",
             "| scorer | pairwise agreement [95% CI] | pairs |", "|---|---|---|"]
    lines += [f"| {n} | {pair(r)} | {r['n_pairs']} |" for n, r in result["overall"].items()]
    lines += ["", "Per dimension (the grader's score over that dimension's criteria; conversations whose rubric has one):", "",
              "| dimension | its head | overall score | length | pairs |", "|---|---|---|---|---|"]
    lines += [f"| {d} | {pair(r['head'])} | {pair(r['overall_score'])} | {pair(r['length'])} | {r['head']['n_pairs']} |"
              for d, r in result["dimensions"].items()]
    lines += ["", "Good / medium / poor triples of the grader's scores (all of them):", "",
              "| model | triples | medium scored between | medium projects inside (0, 1) | median perpendicular part |", "|---|---|---|---|---|"]
    lines += [f"| GPRC {k.removeprefix('gprc_')} | {b['triples']} | {_f(b['score_between'])} | {_f(b['projection_inside'])} | {_f(b['median_perp'])} |"
              for k, b in result["between"].items()]
    return "\n".join(lines) + "\n"
