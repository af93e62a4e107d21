"""``heartgrpo reward-model train|eval`` (a sub-command group of :mod:`heartgrpo.cli.app`).

    heartgrpo reward-model train                 # dev split -> runs/reward-model (CPU, a few minutes)
    heartgrpo reward-model train --gprc-weight 0 # the ablation as the main model
    heartgrpo reward-model eval                  # eval split: eval.json, eval.md
    heartgrpo reward-model train --device cuda --base-model Qwen/Qwen3-0.6B   # the transformer head
"""

from __future__ import annotations

from pathlib import Path

import typer

from heartgrpo.cli.common import _fmt, _run, _setup, _summary
from heartgrpo.judge.verifier.train import DEFAULT_DATA

reward_model_app = typer.Typer(add_completion=False, no_args_is_help=True,
                               help="Reward model ordering answers as the GPT-4.1 grader does (MR-RML-style).")

OutOpt = typer.Option(Path("runs/reward-model"), "--out", "-o", help="run directory of the reward model")
ConvOpt = typer.Option(None, "--conversations", help="conversations JSONL (default: hard_rebuilt_<split>.jsonl beside the graded file)")


@reward_model_app.command("train")
def train(
    graded: Path = typer.Option(DEFAULT_DATA / "graded_dev.jsonl.gz", "--graded", help="graded file to train on (the dev split)"),
    out: Path = OutOpt,
    conversations: Path = ConvOpt,
    gprc_weight: float = typer.Option(1.0, "--gprc-weight", help="weight of the GPRC term (0 = the ablation)"),
    hidden: int = typer.Option(16, "--hidden", help="hidden units of the representation"),
    epochs: int = typer.Option(300, "--epochs"),
    folds: int = typer.Option(4, "--folds", help="folds of the cross-fitted verifier probabilities (and of the dev CV)"),
    limit: int = typer.Option(None, "--limit", help="train on this many conversations (a quick fit)"),
    reuse: bool = typer.Option(False, "--reuse", help="reuse dev_features.npz of an earlier run in --out"),
    cv: bool = typer.Option(True, "--cv/--no-cv", help="grouped cross-validation on dev (GPRC on and off)"),
    device: str = typer.Option("cpu", "--device", help="cpu: the feature model; cuda: the transformer head"),
    base_model: str = typer.Option("Qwen/Qwen3-0.6B", "--base-model", help="cuda: the causal LM under the transformer head"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train on the dev split: the verifier underneath, the reward model and its GPRC-off ablation."""

    _setup(verbose)

    def go() -> None:
        from heartgrpo.judge.reward_model.train import FitSettings

        settings = FitSettings(hidden=hidden, epochs=epochs, gprc_weight=gprc_weight)
        if device != "cpu":
            from heartgrpo.judge.reward_model.transformer import train_transformer_head

            info = train_transformer_head(graded, out, base_model, device=device, gprc_weight=gprc_weight, conversations=conversations,
                                          conversations_limit=limit)
            _summary("reward-model train (transformer head)", [(k, v) for k, v in info.items() if not isinstance(v, (dict, list))])
            return
        from heartgrpo.judge.reward_model.run import train_reward_model

        info = train_reward_model(graded, out, conversations=conversations, settings=settings, folds=folds,
                                  conversations_limit=limit, reuse=reuse, cv=cv)
        rows = [("answers / conversations", f"{info['answers']} / {info['conversations']}"),
                ("seconds (verifier, features, total)", f"{info['seconds']['verifier']}, {info['seconds']['features']}, {info['seconds']['total']}")]
        rows += [(f"dev CV pairwise agreement, {k}", _fmt(v)) for k, v in info.get("cv", {}).items()]
        rows.append(("next", f"heartgrpo reward-model eval --out {out}"))
        _summary("reward-model train", rows)

    _run(go)


@reward_model_app.command("eval")
def eval_(
    out: Path = OutOpt,
    graded: Path = typer.Option(DEFAULT_DATA / "graded_eval.jsonl.gz", "--graded", help="graded file of the held-out split"),
    conversations: Path = ConvOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Pairwise agreement on the eval split (with CIs) against the verifier and length; GPRC on vs off; per dimension."""

    _setup(verbose)

    def go() -> None:
        from heartgrpo.judge.reward_model.run import evaluate_reward_model

        r = evaluate_reward_model(out, graded, conversations=conversations)
        pair = lambda p: f"{_fmt(p['agreement'])} [{_fmt(p['ci_low'])}, {_fmt(p['ci_high'])}]"  # noqa: E731
        rows = [(name, pair(p)) for name, p in r["overall"].items()]
        rows += [(f"dimension {d} (its head)", pair(x["head"])) for d, x in r["dimensions"].items()]
        rows += [(f"medium between, GPRC {k.removeprefix('gprc_')}", f"score {_fmt(b['score_between'])}, projection {_fmt(b['projection_inside'])}")
                 for k, b in r["between"].items()]
        rows.append(("report", out / "eval.md"))
        _summary("reward-model eval (held-out eval split)", rows)

    _run(go)
