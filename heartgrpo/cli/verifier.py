"""``heartgrpo verifier train|eval`` and ``heartgrpo judge validate`` (sub-commands of :mod:`heartgrpo.cli.app`).

    heartgrpo verifier train                       # dev split of ../shared/data/healthbench -> runs/verifier
    heartgrpo verifier eval                        # eval split: eval.json, eval.md, plots
    heartgrpo judge validate --kind verifier --n 200
    heartgrpo judge validate --kind openai --model M --base-url http://127.0.0.1:8000/v1 --n 50
"""

from __future__ import annotations

from pathlib import Path

import typer

from heartgrpo.cli.common import _fmt, _run, _setup, _summary
from heartgrpo.judge.verifier.train import DEFAULT_DATA

verifier_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Local verifier distilled from real grader (GPT-4.1) verdicts.")
judge_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Judge utilities.")

RunDirOpt = typer.Option(Path("runs/verifier"), "--out", "-o", help="run directory of the verifier")
ConvOpt = typer.Option(None, "--conversations", help="conversations JSONL (default: hard_rebuilt_<split>.jsonl beside the graded file)")


@verifier_app.command("train")
def train(
    source: list[Path] = typer.Option(None, "--source", "-s", help="graded file or recorded verdict log (repeatable); default: graded_dev.jsonl.gz"),
    out: Path = RunDirOpt,
    conversations: Path = ConvOpt,
    c: float = typer.Option(0.015, "--c", help="inverse L2 regularisation strength of the logistic regression"),
    threshold: float = typer.Option(0.44, "--threshold", help="p(met) from which a verdict is met (chosen on dev)"),
    answers: int = typer.Option(None, "--answers", help="train on a seeded sample of this many answers"),
    quick: bool = typer.Option(False, "--quick", help="train on a sample of 600 answers (about a minute)"),
    features: int = typer.Option(2, "--features", help="feature set: 2 (default) or 1 (the first, smaller one)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train the verifier on the dev split (and any recorded verdict logs); saves verifier.npz."""

    _setup(verbose)

    def go() -> None:
        from heartgrpo.judge.verifier.train import QUICK_ANSWERS, train_verifier

        sources = source or [DEFAULT_DATA / "graded_dev.jsonl.gz"]
        info = train_verifier(sources, out, conversations=conversations, c=c, threshold=threshold, features=features,
                              answers=QUICK_ANSWERS if quick and answers is None else answers)
        t = info["trained_on"]
        _summary("verifier train", [("model", info["model"]), ("size", f"{info['model_bytes'] / 1e6:.1f} MB"),
                                    ("verdicts / answers", f"{t['verdicts']} / {t['answers']}"),
                                    ("seconds (load, features, fit)", f"{info['seconds']['load']}, {info['seconds']['features']}, {info['seconds']['fit']}"),
                                    ("next", f"heartgrpo verifier eval --out {out}")])

    _run(go)


@verifier_app.command("eval")
def eval_(
    out: Path = RunDirOpt,
    graded: Path = typer.Option(DEFAULT_DATA / "graded_eval.jsonl.gz", "--graded", help="graded file of the held-out split"),
    conversations: Path = ConvOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Agreement with the grader on the eval split: verifier, lexical judge, DistilledJudge."""

    _setup(verbose)

    def go() -> None:
        from heartgrpo.judge.verifier.train import MODEL_FILE, evaluate_verifier

        r = evaluate_verifier(out / MODEL_FILE, graded, out, conversations=conversations)
        v = r["verifier"]
        rows = [("verdicts / answers", f"{v['all']['n']} / {v['answers']['n_answers']}"),
                ("kappa (positive / pitfalls)", f"{_fmt(v['all']['kappa'])} ({_fmt(v['positive']['kappa'])} / {_fmt(v['pitfall']['kappa'])})"),
                ("accuracy, F1 met", f"{_fmt(v['all']['accuracy'])}, {_fmt(v['all']['f1_met'])}"),
                ("ECE", _fmt(v["calibration"]["ece"])),
                ("answer score Pearson / Spearman", f"{_fmt(v['answers']['pearson'])} / {_fmt(v['answers']['spearman'])}")]
        rows += [(f"lexical judge {t} kappa", _fmt(a["all"]["kappa"])) for t, a in r["lexical"].items()]
        rows += [(f"pairwise agreement, {name}", _pair(p)) for name, p in r.get("ranking", {}).items()]
        rows += [("ms per GRPO step (6 answers)", f"{r['latency_ms_per_grpo_step']:.1f}"), ("report", out / "eval.md")]
        _summary("verifier eval (held-out eval split)", rows)

    _run(go)


@judge_app.command("validate")
def validate(
    kind: str = typer.Option("verifier", "--kind", help="openai, verifier, reward_model or approximate (the lexical judge)"),
    graded: Path = typer.Option(DEFAULT_DATA / "graded_eval.jsonl.gz", "--graded", help="graded answers (graded_*.jsonl.gz format)"),
    conversations: Path = ConvOpt,
    n: int = typer.Option(50, "--n", help="answers to sample (0 = all)"),
    seed: int = typer.Option(0, "--seed"),
    model: str = typer.Option(None, "--model", help="openai: the judge model"),
    base_url: str = typer.Option(None, "--base-url", help="openai: the endpoint, e.g. http://127.0.0.1:8000/v1"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="openai: environment variable holding the key"),
    mode: str = typer.Option("per_criterion", "--mode", help="openai: per_criterion or batched"),
    concurrency: int = typer.Option(16, "--concurrency"),
    cache: Path = typer.Option(Path("runs/judge-validate/judge.sqlite"), "--cache", help="openai: verdict cache (a rerun sends no request)"),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="openai: longest answer asked of the judge"),
    verifier: Path = typer.Option(Path("runs/verifier/verifier.npz"), "--verifier", help="verifier: the model file"),
    reward_model: Path = typer.Option(Path("runs/reward-model"), "--reward-model", help="reward_model: the run directory"),
    threshold: float = typer.Option(0.5, "--threshold", help="approximate: word-overlap threshold"),
    out: Path = typer.Option(None, "--out", "-o", help="where validate.json / validate.md go (default runs/judge-validate/KIND, "
                             "so two judges' reports stand side by side)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Measure a judge against a file of GPT-4.1-graded answers: kappa, accuracy, per polarity, score correlation."""

    _setup(verbose)

    def go() -> None:
        from heartgrpo.eval.judge_check import validate_on_graded, write_validation
        from heartgrpo.judge.factory import close_judge

        judge = _judge(kind, model, base_url, api_key_env, mode, concurrency, cache, verifier, threshold, reward_model,
                       max_tokens=max_tokens)
        try:
            r = validate_on_graded(judge, graded, conversations=conversations, n=n or None, seed=seed,
                                   concurrency=concurrency, progress=True)
        finally:
            close_judge(judge)
        paths = write_validation(r, out or Path("runs/judge-validate") / kind)
        a = r["agreement"]
        rows = [("judge", r["judge"]["id"]), ("answers / verdicts", f"{r['n_answers']} / {r['n_verdicts']}"),
                ("kappa (positive / pitfalls)", f"{_fmt(a['all']['kappa'])} ({_fmt(a['positive']['kappa'])} / {_fmt(a['pitfall']['kappa'])})"),
                ("accuracy, F1 met", f"{_fmt(a['all']['accuracy'])}, {_fmt(a['all']['f1_met'])}"),
                ("answer score Pearson / Spearman", f"{_fmt(a['answers']['pearson'])} / {_fmt(a['answers']['spearman'])}"),
                ("mean score judge - grader", _fmt(a["answers"]["mean_score_difference"])),
                ("judge failures", a["judge_failures"])]
        rows += [(f"pairwise agreement, {name}", _pair(p)) for name, p in r["ranking"].items()]
        if r["stats"]:
            rows.append(("requests sent / cache hits", f"{r['stats'].get('requests', 0)} / {r['stats'].get('cache_hits', 0)}"))
        rows.append(("report", paths["md"]))
        _summary("judge validate", rows)

    _run(go)


def _pair(p: dict) -> str:
    """``0.648 [0.637, 0.659] (7663 pairs)``: a pairwise agreement with its CI."""
    return f"{_fmt(p['agreement'])} [{_fmt(p['ci_low'])}, {_fmt(p['ci_high'])}] ({p['n_pairs']} pairs)"


def _judge(kind: str, model: str | None, base_url: str | None, api_key_env: str, mode: str, concurrency: int,
           cache: Path, verifier: Path, threshold: float, reward_model: Path | None = None, max_tokens: int = 1024):
    from heartgrpo.config.run import ConfigError

    if kind == "openai":
        from heartgrpo.judge import OpenAIJudge

        if not model:
            raise ConfigError("--kind openai needs --model")
        return OpenAIJudge(model, base_url=base_url, api_key_env=api_key_env, mode=mode, max_concurrency=concurrency,
                           cache=cache, temperature=0.0, max_tokens=max_tokens)
    if kind == "verifier":
        from heartgrpo.judge.verifier.model import VerifierJudge

        if not verifier.is_file():
            raise FileNotFoundError(f"{verifier}: no verifier; run `heartgrpo verifier train` first")
        return VerifierJudge.from_file(verifier)
    if kind == "reward_model":
        from heartgrpo.judge.reward_model.judge import RewardModelJudge

        return RewardModelJudge.from_dir(reward_model or Path("runs/reward-model"))
    if kind == "approximate":
        from heartgrpo.judge import LexicalJudge

        return LexicalJudge(threshold=threshold)
    raise ConfigError(f"--kind must be openai, verifier, reward_model or approximate, got {kind!r}")
