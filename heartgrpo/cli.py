"""``heartgrpo`` command line: prep, sft, grpo, eval, report, demo; each takes ``--config``.

Every command is a thin wrapper over :mod:`heartgrpo.train.pipeline` and ends with a
one-screen summary. ``--set grpo.max_steps=2`` overrides a config key (validated like the file).
Exit codes: 0 ok, 2 bad configuration or input, 3 judge unavailable (checkpoint kept);
``doctor``: 4 no CUDA GPU for a GPU config, 5 problems found (see :mod:`heartgrpo.doctor`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import typer
import yaml

app = typer.Typer(add_completion=False, no_args_is_help=True, help="GRPO with LLM-judged rubric rewards for heart-focused medical QA.")

DEFAULT_CONFIG = Path("configs/cpu-demo.yaml")
ConfigOpt = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="run configuration YAML")
SetOpt = typer.Option(None, "--set", help="override a config key, e.g. --set grpo.max_steps=2 (repeatable)")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="log at INFO level")


def _setup(verbose: bool) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        for name in ("transformers", "datasets", "httpx"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _load(config: Path, overrides: list[str] | None):
    from heartgrpo.config import ConfigError, load_config

    parsed: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        key, value = item.split("=", 1)
        parsed[key.strip()] = yaml.safe_load(value)
    return load_config(config, parsed)


def _summary(title: str, rows: list[tuple[str, Any]]) -> None:
    from heartgrpo.train.distributed import is_main_process

    if not is_main_process():  # under accelerate launch: one summary, from the main process
        return
    width = max(len(k) for k, _ in rows) if rows else 0
    typer.secho(f"\n== {title} ==", bold=True)
    for key, value in rows:
        typer.echo(f"  {key:<{width}}  {value}")


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _run(fn, *args: Any) -> Any:
    """Call ``fn`` turning known failures into a message and an exit code."""
    from heartgrpo.config import ConfigError

    try:
        return fn(*args)
    except ConfigError as err:
        typer.secho(str(err), fg="red", err=True)
        raise typer.Exit(2) from None
    except FileNotFoundError as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from None
    except Exception as err:
        from heartgrpo.data.records import DataError
        from heartgrpo.eval.jsonl import EvalInputError
        from heartgrpo.train.judging import JudgeUnavailableError

        if isinstance(err, JudgeUnavailableError):
            typer.secho(f"judge unavailable: {err}", fg="red", err=True)
            raise typer.Exit(3) from None
        if isinstance(err, (DataError, EvalInputError)):
            typer.secho(f"bad input: {err}", fg="red", err=True)
            raise typer.Exit(2) from None
        raise


@app.command()
def prep(config: Path = ConfigOpt, set_: list[str] = SetOpt, verbose: bool = VerboseOpt,
         healthbench: str = typer.Option(None, "--healthbench", help="a local HealthBench JSONL path or its published URL (sets data.healthbench)")) -> None:
    """Build the SFT, GRPO and eval datasets (and the data card)."""
    _setup(verbose)
    if healthbench:
        set_ = [*(set_ or []), f"data.healthbench={healthbench}"]

    def go() -> None:
        from heartgrpo.train.pipeline import stage_prep

        cfg = _load(config, set_)
        result = stage_prep(cfg)
        typer.echo(result.summary())
        _summary("prep", [("output", result.out_dir), ("sft / grpo / eval rows", f"{result.counts.get('sft')} / {result.counts.get('grpo')} / {result.counts.get('eval')}"),
                          ("data card", result.data_card), ("seconds", f"{result.seconds:.1f}")])

    _run(go)


@app.command()
def sft(config: Path = ConfigOpt, resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint"), set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """SFT warm start (completion-only loss); saves the LoRA adapter."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.train.pipeline import stage_sft

        r = stage_sft(_load(config, set_), resume=resume)
        _summary("sft", [("adapter", r.adapter_dir), ("steps", r.steps), ("train loss", _fmt(r.train_loss)),
                         ("examples (dropped as too long)", f"{r.n_examples} ({r.n_dropped})"), ("seconds", f"{r.seconds:.1f}")])

    _run(go)


@app.command()
def grpo(config: Path = ConfigOpt, resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint, same data order"), set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """GRPO with judged rubric rewards; continues from the SFT adapter when it exists."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.train.pipeline import stage_grpo

        r = stage_grpo(_load(config, set_), resume=resume)
        from heartgrpo.train.callbacks import read_steps  # after training: it imports transformers, which must follow Unsloth

        steps = read_steps(r.log_path)
        last = steps[-1] if steps else {}
        rows = [("adapter", r.adapter_dir), ("steps", r.steps), ("resumed from", r.resumed_from or "—"), ("step log", r.log_path)]
        rows += [(k, _fmt(v)) for k, v in last.items() if k.startswith(("reward", "frac_reward_zero_std", "judge/"))]
        rows.append(("seconds", f"{r.seconds:.1f}"))
        _summary("grpo (last logged step)", rows)

    _run(go)


@app.command("eval")
def eval_(config: Path = ConfigOpt, stage: str = typer.Option("grpo", "--stage", help="which model: base, sft or grpo"), set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """Generate and grade answers on the eval subset; saves answers, verdicts and a summary."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.train.pipeline import eval_dir_for, stage_eval

        cfg = _load(config, set_)
        s = stage_eval(cfg, stage)
        hb = s["healthbench"]
        _summary(f"eval {stage}", [("run", eval_dir_for(cfg, stage)), ("HealthBench score", f"{_fmt(hb['score'])} [{_fmt(hb['ci_low'])}, {_fmt(hb['ci_high'])}]"),
                                   ("scored / answers", f"{s['n_scored']} / {s['n_answers']}"), ("paper accuracy", _fmt(s["paper"].get("accuracy"))),
                                   ("judge", ", ".join(j.get("id", "?") + (" (approximate)" if j.get("approximate") else "") for j in s["judge"]))])

    _run(go)


@app.command()
def report(config: Path = ConfigOpt, set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """Markdown + HTML report over every evaluated stage, with GRPO reward curves."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.train.pipeline import stage_report

        paths = stage_report(_load(config, set_))
        _summary("report", [(k, v) for k, v in paths.items()])

    _run(go)


@app.command()
def demo(config: Path = ConfigOpt, set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """The embedded default: prep -> SFT -> eval -> GRPO -> eval -> report, on CPU, offline."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.train.pipeline import run_demo

        t0 = time.perf_counter()
        cfg = _load(config, set_)
        typer.secho(f"heartgrpo demo: {cfg.name} (model {cfg.model.name_or_path}, judge {cfg.judge.kind})", bold=True)
        r = run_demo(cfg, on_stage=lambda name: typer.secho(f"--> {name}", fg="cyan"))
        approx = " (approximate judge)" if cfg.judge.kind == "approximate" else ""
        rows = [(f"mean rubric score before GRPO{approx}", f"{_fmt(r.score_before)}  (n={r.before['n_scored']})"),
                (f"mean rubric score after GRPO{approx}", f"{_fmt(r.score_after)}  (n={r.after['n_scored']})")]
        if r.trend is not None:
            t = r.trend
            rows.append(("training reward, first -> last quarter",
                         f"{t['first']:.3f} -> {t['last']:.3f}  (change {t['diff']:+.3f}, 95% CI [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}])"))
        rows += [(f"{k} seconds", f"{v:.1f}") for k, v in r.seconds.items()]
        rows += [("total seconds", f"{time.perf_counter() - t0:.1f}"), ("report", r.report.get("html")), ("report (markdown)", r.report.get("md"))]
        _summary("demo", rows)

    _run(go)


@app.command()
def doctor(config: Path = ConfigOpt, run: bool = typer.Option(False, "--run", help="also train 3 SFT + 3 GRPO steps and check them"),
           out: Path = typer.Option(None, "--out", help="report directory (default <output_dir>/doctor)"),
           model: str = typer.Option(None, "--model", help="model for --run (default: the config's shapes or a tiny Qwen3)"),
           set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """Will this machine run this config? Environment, pins, packages, memory estimate; --run trains briefly."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.doctor import run_doctor

        r = run_doctor(_load(config, set_), run=run, out_dir=out, model=model)
        mem = r["memory"]
        rows = [("status", f"{r['status']} (exit {r['exit_code']})"),
                ("GPU", ", ".join(g["name"] for g in r["environment"]["gpus"]) or "no CUDA GPU")]
        for key in ("target", "present"):
            if key in mem:
                e = mem[key]
                verdict = "fits" if e["fits"] else "does not fit, because " + "; ".join(e["reasons"])
                rows.append((f"memory on {e['card']} ({e['card_gib']:g} GiB)", f"peak {e['peak_gib']} GiB: {verdict}"))
        rows += [("run check " + c["name"], ("ok  " if c["ok"] else "FAILED  ") + c["detail"]) for c in r.get("run", {}).get("checks", [])]
        rows += [("problem", p) for p in r["problems"]]
        rows += [("report", r["paths"]["md"]), ("report (json)", r["paths"]["json"])]
        _summary("doctor", rows)
        if r["exit_code"]:
            raise typer.Exit(r["exit_code"])

    _run(go)


@app.command()
def version() -> None:
    """Print the package version."""
    from heartgrpo import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
