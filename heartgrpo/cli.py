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


from heartgrpo.cli_verifier import judge_app, verifier_app  # noqa: E402  (sub-commands; they import helpers above lazily)

app.add_typer(verifier_app, name="verifier")
app.add_typer(judge_app, name="judge")


rubrics_app = typer.Typer(no_args_is_help=True, help="Rubrics for your own questions: generate, check, compare with real rubrics.")
app.add_typer(rubrics_app, name="rubrics")


@rubrics_app.command("generate")
def rubrics_generate(
    input: Path = typer.Option(..., "--input", "-i", help="questions JSONL: question or prompt, optional reference_answer, id, split"),
    out: Path = typer.Option(..., "--out", "-o", help="output directory (rerun to resume)"),
    model: str = typer.Option(None, "--model", help="model name at the endpoint (default: config rubrics.model)"),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"),
    api_key_env: str = typer.Option(None, "--api-key-env", help="environment variable holding the API key"),
    cache: Path = typer.Option(None, "--cache", help="SQLite cache of model answers (default: <out>/cache.sqlite)"),
    max_attempts: int = typer.Option(None, "--max-attempts", help="generations per question in all, regenerations included"),
    max_concurrency: int = typer.Option(None, "--max-concurrency"),
    max_tokens: int = typer.Option(None, "--max-tokens", help="longest answer asked of the model"),
    timeout: float = typer.Option(None, "--timeout", help="seconds per request"),
    max_retries: int = typer.Option(None, "--max-retries", help="re-asks within one attempt (errors, unparseable answers)"),
    limit: int = typer.Option(None, "--limit", help="only the first N questions"),
    config: Path = typer.Option(None, "--config", "-c", help="run configuration whose rubrics: section gives the defaults"),
    set_: list[str] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write RaR-Medicine-style rubrics for a JSONL of questions, check them, report their quality."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.config import ConfigError
        from heartgrpo.data.rubric_gen import RubricGenSettings, generate_rubrics

        if set_ and config is None:
            raise ConfigError("--set needs --config (the file whose keys it overrides)")
        base = (_load(config, set_).rubrics if config else None)
        values = base.model_dump() if base is not None else {}
        given = {"model": model, "base_url": base_url, "api_key_env": api_key_env, "cache": cache,
                 "max_attempts": max_attempts, "max_concurrency": max_concurrency, "max_tokens": max_tokens, "timeout": timeout,
                 "max_retries": max_retries}
        values.update({k: v for k, v in given.items() if v is not None})
        if not values.get("model"):
            raise ConfigError("rubrics generate needs --model (or a config with a rubrics: {model: ...} section)")
        if values.get("cache") is None:
            values["cache"] = out / "cache.sqlite"
        try:
            settings = RubricGenSettings(**values)
        except ValueError as err:
            raise ConfigError(f"rubrics generate: {err}") from None
        r = generate_rubrics(input, out, settings, limit=limit)
        s = r.summary
        _summary("rubrics generate", [
            ("questions (already done, skipped)", f"{r.n_questions} ({r.n_skipped_done})"),
            ("accepted / failed this run", f"{r.n_accepted} / {r.n_failed}"),
            ("items per rubric (mean)", s["items_mean"]), ("category mix", ", ".join(f"{k} {v:.0%}" for k, v in s["category_mix"].items())),
            ("requests / cache hits", f"{r.requests} / {r.cache_hits}"),
            ("rubrics", r.out_dir / "rubrics_rar.jsonl"), ("records", r.out_dir / "records.jsonl"),
            ("quality report", r.report["md"]), ("failed", ", ".join(r.failed_ids) or "none")])
        if r.n_failed:
            typer.secho(f"{r.n_failed} question(s) still failed the checks after their last attempt: see {r.out_dir / 'failed.jsonl'}", fg="yellow", err=True)

    _run(go)


@rubrics_app.command("compare")
def rubrics_compare(
    generated: Path = typer.Option(..., "--generated", "-g", help="records.jsonl written by `rubrics generate`"),
    real: Path = typer.Option(Path("../shared/data/healthbench/hard_rebuilt_dev.jsonl"), "--real", help="HealthBench rows with the physicians' rubrics"),
    graded: Path = typer.Option(Path("../shared/data/healthbench/graded_dev.jsonl.gz"), "--graded", help="real graded answers to those conversations"),
    out: Path = typer.Option(..., "--out", "-o", help="where comparison.json / comparison.md go"),
    matcher: str = typer.Option("judge", "--matcher", help="coverage matcher: judge or lexical"),
    limit: int = typer.Option(None, "--limit", help="only the first N conversations"),
    answers: int = typer.Option(None, "--answers-per-conversation", help="at most N graded answers per conversation"),
    config: Path = ConfigOpt,
    set_: list[str] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Coverage of the physicians' items and Kendall tau of answer rankings, under the config's judge."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.data.rubric_compare import compare_rubrics, write_comparison
        from heartgrpo.train.judging import judge_in_use

        cfg = _load(config, set_)
        name = cfg.judge.kind + (f":{cfg.judge.model}" if cfg.judge.model else "")
        with judge_in_use(cfg.judge) as judge:
            report = compare_rubrics(real, graded, generated, judge, matcher=matcher, limit=limit,
                                     answers_per_conversation=answers, judge_name=name)
        paths = write_comparison(report, out)
        cov = report["coverage"]
        _summary("rubrics compare", [
            ("judge", name + (" (APPROXIMATE)" if report["judge_approximate"] else "")), ("matcher", report["matcher"]),
            ("conversations / answers scored", f"{report['n_conversations']} / {report['n_answers_scored']}"),
            ("coverage all / positive / pitfall", f"{_fmt(cov['all'])} / {_fmt(cov['positive'])} / {_fmt(cov['pitfall'])}"),
            ("tau within conversation (mean)", _fmt(report["tau_within_conversation"]["mean"])),
            ("tau pooled", _fmt(report["tau_pooled"])), ("report", paths["md"])])

    _run(go)


@rubrics_app.command("check")
def rubrics_check(
    input: Path = typer.Option(..., "--input", "-i", help="RaR-Medicine-format JSONL (question, reference_answer, rubric)"),
    out: Path = typer.Option(..., "--out", "-o", help="where quality.json / quality.md go"),
) -> None:
    """Run the generator's quality checks on any RaR-format rubric file (RaR-Medicine's own, say)."""

    def go() -> None:
        from heartgrpo.data.rubric_quality import check_rubric_file

        s = check_rubric_file(input, out)["summary"]
        _summary("rubrics check", [("rubrics (pass / fail the blocking checks)", f"{s['n_rubrics']} ({s['n_accepted']} / {s['n_failed']})"),
                                   ("items per rubric (mean)", s["items_mean"]), ("category mix", ", ".join(f"{k} {v:.0%}" for k, v in s["category_mix"].items())),
                                   ("report", out / "quality.md")])

    _run(go)


@rubrics_app.command("baseline")
def rubrics_baseline(
    kind: str = typer.Option(..., "--kind", help="real (the physicians' own rubric: ceiling) or shifted (the next conversation's: floor)"),
    out: Path = typer.Option(..., "--out", "-o", help="records.jsonl to write, for `rubrics compare --generated`"),
    real: Path = typer.Option(Path("../shared/data/healthbench/hard_rebuilt_dev.jsonl"), "--real"),
) -> None:
    """Write ceiling/floor rubrics for `rubrics compare`, so its figures have reference points."""

    def go() -> None:
        from heartgrpo.data.records import write_jsonl
        from heartgrpo.data.rubric_compare import baseline_rubrics

        rows = baseline_rubrics(real, kind)
        typer.echo(f"{len(rows)} {kind} baseline rubrics -> {write_jsonl(rows, out)}")

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
