"""``heartgrpo`` command line: prep, sft, grpo, eval, report, demo; each takes ``--config``.

Every command is a thin wrapper over :mod:`heartgrpo.pipeline` and ends with a
one-screen summary. ``--set grpo.max_steps=2`` overrides a config key (validated like the file).
Exit codes: 0 ok, 2 bad configuration or input, 3 judge unavailable (checkpoint kept);
``doctor``: 4 no CUDA GPU for a GPU config, 5 problems found (see :mod:`heartgrpo.doctor.report`).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from heartgrpo.cli.common import DEFAULT_CONFIG, ConfigOpt, SetOpt, VerboseOpt, _fmt, _load, _run, _setup, _summary  # noqa: F401
from heartgrpo.cli.consult import cases_app, consult
from heartgrpo.cli.data import prep, rubrics_app
from heartgrpo.cli.orbit import filter_
from heartgrpo.cli.refine import refine
from heartgrpo.cli.reward_model import reward_model_app
from heartgrpo.cli.verifier import judge_app, verifier_app

app = typer.Typer(add_completion=False, no_args_is_help=True, help="GRPO with LLM-judged rubric rewards for heart-focused medical QA.")
app.command()(prep)  # heartgrpo/cli/data.py, with the rubrics group
app.command("filter")(filter_)  # heartgrpo/cli/orbit.py: the pass@k prefilter


@app.command()
def sft(config: Path = ConfigOpt, resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint"), set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """SFT warm start (completion-only loss); saves the LoRA adapter."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.pipeline import stage_sft

        r = stage_sft(_load(config, set_), resume=resume)
        _summary("sft", [("adapter", r.adapter_dir), ("steps", r.steps), ("train loss", _fmt(r.train_loss)),
                         ("examples (dropped as too long)", f"{r.n_examples} ({r.n_dropped})"), ("seconds", f"{r.seconds:.1f}")])

    _run(go)


@app.command()
def grpo(config: Path = ConfigOpt, resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint, same data order"), set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """GRPO with judged rubric rewards; continues from the SFT adapter when it exists."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.pipeline import stage_grpo

        r = stage_grpo(_load(config, set_), resume=resume)
        from heartgrpo.train.callbacks import read_steps  # after training: it imports transformers, which must follow Unsloth

        steps = read_steps(r.log_path)
        last = steps[-1] if steps else {}
        rows = [("adapter", r.adapter_dir), ("steps", r.steps), ("resumed from", r.resumed_from or "—"), ("step log", r.log_path)]
        from heartgrpo.eval.length import LENGTH_KEY  # the mean completion length, beside the reward

        rows += [(k, _fmt(v)) for k, v in last.items() if k.startswith(("reward", LENGTH_KEY, "frac_reward_zero_std", "judge/"))]
        rows.append(("seconds", f"{r.seconds:.1f}"))
        _summary("grpo (last logged step)", rows)

    _run(go)


@app.command("eval")
def eval_(config: Path = ConfigOpt, stage: str = typer.Option("grpo", "--stage", help="which model: base, sft or grpo"), set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """Generate and grade answers on the eval subset; saves answers, verdicts and a summary."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.pipeline import eval_dir_for, stage_eval

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
        from heartgrpo.pipeline import stage_report

        paths = stage_report(_load(config, set_))
        _summary("report", [(k, v) for k, v in paths.items()])

    _run(go)


@app.command()
def demo(config: Path = ConfigOpt, set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """The embedded default: prep -> SFT -> eval -> GRPO -> eval -> report, on CPU, offline."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.pipeline import run_demo

        t0 = time.perf_counter()
        cfg = _load(config, set_)
        typer.secho(f"heartgrpo demo: {cfg.name} (model {cfg.model.name_or_path}, judge {cfg.judge.kind})", bold=True)
        r = run_demo(cfg, on_stage=lambda name: typer.secho(f"--> {name}", fg="cyan"))
        approx = " (approximate judge)" if cfg.judge.kind in ("approximate", "verifier") else ""
        rows = [(f"mean rubric score before GRPO{approx}", f"{_fmt(r.score_before)}  (n={r.before['n_scored']})"),
                (f"mean rubric score after GRPO{approx}", f"{_fmt(r.score_after)}  (n={r.after['n_scored']})")]
        rows.append(("judge", ", ".join(j.get("id", "?") for j in r.after.get("judge", []))))
        if r.trend is not None:
            t = r.trend
            rows.append(("training reward, first -> last quarter",
                         f"{t['first']:.3f} -> {t['last']:.3f}  (change {t['diff']:+.3f}, 95% CI [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}])"))
        if r.held_out is not None and r.held_out["healthbench"].get("diff") is not None:
            h = r.held_out["healthbench"]
            rows.append(("held-out change, after - before", f"{h['diff']:+.3f}  (95% CI [{h['ci_low']:+.3f}, {h['ci_high']:+.3f}], "
                                                             f"paired over {r.held_out['n']} prompts)"))
        rows += [(f"{k} seconds", f"{v:.1f}") for k, v in r.seconds.items()]
        rows += [("total seconds", f"{time.perf_counter() - t0:.1f}"), ("report", r.report.get("html")), ("report (markdown)", r.report.get("md"))]
        _summary("demo", rows)

    _run(go)



app.add_typer(verifier_app, name="verifier")
app.add_typer(judge_app, name="judge")
app.add_typer(reward_model_app, name="reward-model")
app.add_typer(rubrics_app, name="rubrics")
app.command()(refine)  # heartgrpo/cli/refine.py
app.add_typer(cases_app, name="cases")
app.command("consult")(consult)


@app.command()
def doctor(config: Path = ConfigOpt, run: bool = typer.Option(False, "--run", help="also train 3 SFT + 3 GRPO steps and check them"),
           out: Path = typer.Option(None, "--out", help="report directory (default <output_dir>/doctor)"),
           model: str = typer.Option(None, "--model", help="model for --run (default: the config's shapes or a tiny Qwen3)"),
           set_: list[str] = SetOpt, verbose: bool = VerboseOpt) -> None:
    """Will this machine run this config? Environment, pins, packages, memory estimate; --run trains briefly."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.doctor.report import run_doctor

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
