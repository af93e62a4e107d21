"""Reward model (MR-RML-style) against the GPT-4.1 grader's ranking: ``python -m benchmarks.reward_model``.

Trains the reward model on ``graded_dev.jsonl.gz`` of ``../shared/data/healthbench``
(:func:`heartgrpo.judge.reward_model.run.train_reward_model`, unless ``--reuse`` finds a run in
the run directory), runs a small grouped cross-validation sweep on dev (the settings tried, the
only figures any choice was made on), measures once on ``graded_eval.jsonl.gz``
(:func:`~heartgrpo.judge.reward_model.run.evaluate_reward_model`) and writes the
``reward_model`` section of ``docs/benchmarks.md``. ``--quick`` trains on 60 dev conversations
and skips the sweep. Without the shared data it writes nothing and says why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks import ROOT, md_table, quick_mode, write_section

DATA = ROOT / ".." / "shared" / "data" / "healthbench"

#: the settings the dev sweep compares (name, changes to FitSettings())
SWEEP = (("chosen: hidden 16, L2 1e-2, GPRC 1.0, dimension heads 0.3, 300 epochs", {}),
         ("GPRC off", {"gprc_weight": 0.0}),
         ("GPRC 3.0", {"gprc_weight": 3.0}),
         ("no dimension heads", {"dim_weight": 0.0}),
         ("L2 1e-3", {"l2": 1e-3}),
         ("L2 1e-1", {"l2": 1e-1}),
         ("hidden 4", {"hidden": 4}),
         ("hidden 64, L2 1e-3", {"hidden": 64, "l2": 1e-3}),
         ("100 epochs, L2 1e-3", {"epochs": 100, "l2": 1e-3}))


def _sweep(run_dir: Path, dev: Path) -> list[list[str]]:
    import numpy as np

    from heartgrpo.judge.reward_model.data import Answers
    from heartgrpo.judge.reward_model.run import FEATURES_FILE, dev_cv, lexical_rates, targets
    from heartgrpo.judge.reward_model.train import FitSettings
    from heartgrpo.judge.verifier.examples import load_graded

    answers = Answers.from_examples(load_graded(dev))
    groups, ref, dim_refs, keep = targets(answers)
    with np.load(run_dir / FEATURES_FILE, allow_pickle=False) as data:
        x = np.array(data["x"])
    from heartgrpo.judge.agreement import pairwise_agreement
    from heartgrpo.judge.reward_model.features import FEATURE_NAMES

    base = [["verifier expected score (cross-fitted)", *_fmt(pairwise_agreement(groups, list(x[:, FEATURE_NAMES.index("expected_score")]), ref))],
            ["lexical judge (its `rate`)", *_fmt(pairwise_agreement(groups, lexical_rates(answers.subset(keep)), ref))],
            ["length (characters)", *_fmt(pairwise_agreement(groups, [float(len(answers.examples[k][0].response)) for k in keep], ref))]]
    rows = []
    for name, change in SWEEP:
        r = dev_cv(x, groups, ref, dim_refs, replace(FitSettings(), **change))
        rows.append([name, *_fmt(r["agreement"]["overall"])])
    return base + rows


#: paddings of the length adversary (appended after a blank line)
FILLERS = (("generic sign-off", "I hope this helps! Thanks so much for reaching out. Wishing you all the best."),
           ("medical boilerplate", "Please consult a qualified healthcare professional for personalised medical advice. "
            "This information is general and does not replace a consultation with your doctor."))


def _adversary(run_dir: Path, ev: Path, n: int = 300) -> list[list[str]]:
    """On ``n`` eval answers (seeded): how often padding raises the reward model's score and the verifier's expected score."""
    import random

    import numpy as np

    from heartgrpo.judge.reward_model.data import Answers
    from heartgrpo.judge.reward_model.features import FEATURE_NAMES, answer_features, sentences
    from heartgrpo.judge.reward_model.judge import RewardModelJudge
    from heartgrpo.judge.verifier.examples import load_graded

    judge = RewardModelJudge.from_dir(run_dir)
    picked = random.Random(0).sample(Answers.from_examples(load_graded(ev)).examples, n)
    ix = FEATURE_NAMES.index("expected_score")

    def both(conv, text, rubric):
        probs = judge.probabilities(conv, text, rubric)
        x = answer_features(conv, text, rubric, probs, judge.verifier.threshold)
        return float(judge.model.score(x[None, :])[0]), float(x[ix])

    rows = []
    rng = random.Random(1)
    deltas: dict[str, list[tuple[float, float]]] = {"own sentences shuffled": []} | {name: [] for name, _ in FILLERS}
    for g in picked:
        conv, answer = g[0].conversation, g[0].response
        rubric = [{"criterion": e.criterion, "points": e.points} for e in g]
        base = both(conv, answer, rubric)
        own = sentences(answer)
        rng.shuffle(own)
        pads = {"own sentences shuffled": "\n".join(own)} | dict(FILLERS)
        for name, pad in pads.items():
            new = both(conv, answer + "\n\n" + pad, rubric)
            deltas[name].append((new[0] - base[0], new[1] - base[1]))
    for name, d in deltas.items():
        a = np.array(d)
        rows.append([name, f"{np.mean(a[:, 0] > 1e-9):.1%}", f"{np.median(a[:, 0]):+.3f}", f"{np.mean(a[:, 1] > 1e-9):.1%}",
                     f"{np.median(a[:, 1]):+.4f}"])
    return rows


def _verdict(result: dict) -> str:
    """Which scorer ranks how well on eval, and whether the reward model earns the CPU demo's reward."""
    o = result["overall"]
    rm, ver, lex, length = (o[k] for k in ("reward model (GPRC on)", "verifier expected score (its `rate`)",
                                          "lexical judge (its `rate`)", "length (characters)"))
    no_gprc, on, off = o["reward model (GPRC off)"], result["between"]["gprc_on"], result["between"]["gprc_off"]
    better = rm["ci_low"] > ver["agreement"]
    return (f"Against the GPT-4.1 grader on eval: the reward model orders {rm['agreement']:.1%} of the pairs as the grader does, "
            f"the verifier's expected score {ver['agreement']:.1%}, the lexical judge {lex['agreement']:.1%}, answer length alone "
            f"{length['agreement']:.1%} (chance 50%; the grader itself 100% by construction: no second GPT-4.1 grading of these "
            f"answers is here to say how consistent the grader is with itself). The 0.70 target is "
            f"{'reached' if rm['agreement'] >= 0.70 else 'not reached'}; the reward model's CI "
            f"{'lies above' if rm['ci_low'] > length['ci_high'] else 'overlaps'} the length baseline's, and it ranks "
            f"{'better than' if better else 'no better than'} the verifier's expected score, so the CPU demo "
            f"{'can take it as its judge (`judge.kind: reward_model`)' if better else 'keeps the verifier as its judge'}"
            + ("." if better else ": over these CPU features the reward model adds nothing measurable to the verifier underneath it.")
            + f" GPRC shapes the representation as it should (the medium answer projects inside (0, 1) in "
            f"{on['projection_inside']:.1%} of the triples with it, {off['projection_inside']:.1%} without) but does not help the "
            f"ranking: without it the model orders {no_gprc['agreement']:.1%} of the eval pairs (and scores the medium answer "
            f"between in {off['score_between']:.1%} of the triples against {on['score_between']:.1%}); the dev sweep below "
            "shows the same direction. The GPRC model stays the main one because the term is the method under test; "
            "`--gprc-weight 0` trains the other.")


def _fmt(r: dict) -> list[str]:
    return [f"{r['agreement']:.3f}", f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep the verifier and dev features of a run in --run-dir (refit the model)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "bench-reward-model")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    quick = quick_mode(args.quick)
    dev, ev = args.data / "graded_dev.jsonl.gz", args.data / "graded_eval.jsonl.gz"
    if not dev.is_file() or not ev.is_file():
        print(f"reward_model benchmark skipped: {args.data} has no graded_dev/graded_eval files", file=sys.stderr)
        return 0
    from heartgrpo.judge.reward_model.run import eval_markdown, evaluate_reward_model, train_reward_model

    t0 = time.perf_counter()
    train_reward_model(dev, args.run_dir, conversations_limit=60 if quick else None, cv=False, reuse=args.reuse)
    info = json.loads((args.run_dir / "train.json").read_text(encoding="utf-8"))
    sweep = [] if quick else _sweep(args.run_dir, dev)
    result = evaluate_reward_model(args.run_dir, ev)
    adversary = _adversary(args.run_dir, ev, n=60 if quick else 300)
    s = info["reward_model.npz"]["settings"]
    body = "\n\n".join([
        "## Reward model (MR-RML-style): ranking answers as the GPT-4.1 grader does",
        f"Command: `python -m benchmarks --only reward_model{' --quick' if quick else ''}` (code: `benchmarks/reward_model.py`; "
        "the same figures as `heartgrpo reward-model train && heartgrpo reward-model eval`). What GRPO uses of a judge is the "
        "order of the answers inside a group, so the figure is the within-conversation pairwise agreement: over pairs of "
        "answers to the same conversation whose GPT-4.1 (HealthBench) scores differ, the share the scorer orders as the grader "
        "does, its ties counting half; 95% percentile bootstrap CI over conversations (1,000 resamples).",
        "The model (`heartgrpo/judge/reward_model/`) is our reading of MR-RML (arXiv 2511.16139; its code is not released): "
        "a small network over CPU features of (conversation, answer, rubric) — the verifier's per-criterion probabilities "
        "(cross-fitted on dev), their expected score, per-dimension expected scores, lexical coverage of the rubric and the "
        "answer's structure, length one feature among them — with a representation `h = tanh(zW + b)` "
        f"({s['hidden']} units), an overall head and one head per dimension (emergency, context seeking, communication, "
        "content: defined by the criterion's wording, `dimensions.py`, because the graded rows carry no axis tags). "
        "Loss: Bradley-Terry on dev answer pairs of the same conversation + "
        f"{s['dim_weight']} x the dimension heads' Bradley-Terry + {s['gprc_weight']} x GPRC (on good / medium / poor triples "
        "of the grader's scores, the medium answer's offset from the poor one projects onto the good-poor axis inside (0, 1), "
        f"perpendicular part weighted {s['perp_weight']}). Trained on dev only ({info['answers']} answers of "
        f"{info['conversations']} conversations); settings chosen on the grouped 4-fold dev cross-validation below; "
        "eval measured once. APPROXIMATE: a model of the grader, not a clinical judgement.",
        "### Held-out eval split",
        eval_markdown(result),
        _verdict(result),
        *(["### What was tried on dev (grouped 4-fold cross-validation by conversation; pooled held-out folds)",
           md_table(["setting", "dev pairwise agreement", "95% CI"], sweep)] if sweep else []),
        "### Length adversary (eval answers padded after a blank line)",
        f"{'60' if quick else '300'} eval answers drawn with seed 0. Repeated sentences are dropped before scoring and so are "
        "sentences that share no content word with the conversation or the rubric (`features.relevant_answer`); a filler "
        "sentence that shares a word with them is kept and scored. Score change: the reward model's log-odds; the verifier's "
        "expected HealthBench score (0..1) for comparison. Padding texts: " + "; ".join(f"{n}: \"{t}\"" for n, t in FILLERS) + ".",
        md_table(["padding", "reward model: share raised", "median change", "verifier expected score: share raised", "median change"], adversary),
        "So a length-only adversary is beaten only where its filler is dropped: padding with the answer's own sentences never "
        "raises the score, but a filler sentence that shares a word with the conversation or the rubric is scored, changes the "
        "answer's structure features and the verifier's probabilities, and raises the reward model's score about as often as "
        "the verifier's (the table's shares). Two remedies tried on dev (agreement by grouped 4-fold cross-validation; padding on 150 dev answers padded "
        "with these two texts and a third, \"Let me know if you have any other questions. Take care and stay well!\"; measured "
        "once, neither kept in the code) did not stop it: leaving the size features (characters, words, lines, sentences) out "
        "gave dev agreement 0.679 against 0.683 and still raised the score of 22% / 45% / 53% of the padded answers (sign-off / "
        "boilerplate / third text; 37% / 45% / 77% with them); adding training pairs in which an answer beats itself padded "
        "with 2-4 sentences of an answer to another conversation dropped dev agreement to 0.660 and still raised 30% / 35% / "
        "62%.",
        f"Training: {info['seconds']['total']:.0f} s wall (verifier underneath {info['seconds']['verifier']:.0f} s, cross-fitted "
        f"features {info['seconds']['features']:.0f} s, the two fits {info['reward_model.npz']['seconds_fit']:.0f} + "
        f"{info['reward_model_no_gprc.npz']['seconds_fit']:.0f} s) on {os.cpu_count()} CPU cores shared with other jobs; "
        f"this benchmark took {time.perf_counter() - t0:.0f} s. The transformer-head variant "
        "(`heartgrpo reward-model train --device cuda`, Qwen3-0.6B) was not run: no GPU and no model weights here; its "
        "tests run two steps on a tiny random Qwen3, which says nothing of its quality.",
    ])
    write_section("reward_model", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
