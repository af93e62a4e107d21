"""``heartgrpo prep`` and ``heartgrpo rubrics generate|compare|check|baseline`` (commands of :mod:`heartgrpo.cli.app`).

    heartgrpo prep --config configs/cpu-demo.yaml
    heartgrpo rubrics generate --input my_questions.jsonl --out runs/my_rubrics --model M --base-url URL
    heartgrpo rubrics check --input rubrics.jsonl --out runs/check
"""

from __future__ import annotations

from pathlib import Path

import typer

from heartgrpo.cli.common import ConfigOpt, SetOpt, VerboseOpt, _fmt, _load, _run, _setup, _summary

__all__ = ["prep", "rubrics_app"]


def prep(config: Path = ConfigOpt, set_: list[str] = SetOpt, verbose: bool = VerboseOpt,
         healthbench: str = typer.Option(None, "--healthbench", help="a local HealthBench JSONL path or its published URL (sets data.healthbench)")) -> None:
    """Build the SFT, GRPO and eval datasets (and the data card)."""
    _setup(verbose)
    if healthbench:
        set_ = [*(set_ or []), f"data.healthbench={healthbench}"]

    def go() -> None:
        from heartgrpo.pipeline import stage_prep

        cfg = _load(config, set_)
        result = stage_prep(cfg)
        typer.echo(result.summary())
        _summary("prep", [("output", result.out_dir), ("sft / grpo / eval rows", f"{result.counts.get('sft')} / {result.counts.get('grpo')} / {result.counts.get('eval')}"),
                          ("data card", result.data_card), ("seconds", f"{result.seconds:.1f}")])

    _run(go)


rubrics_app = typer.Typer(no_args_is_help=True, help="Rubrics for your own questions: generate, check, compare with real rubrics.")


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
    exemplars: str = typer.Option(None, "--exemplars", help="pool of real rubrics (JSONL of `rubrics pool`, or 'default'): show the most similar cases; implies --prompt orbit"),
    prompt: str = typer.Option(None, "--prompt", help="rar (rubric_gen_v1, RaR weights) or orbit (rubric_gen_orbit_v1, HealthBench points)"),
    config: Path = typer.Option(None, "--config", "-c", help="run configuration whose rubrics: section gives the defaults"),
    set_: list[str] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write RaR-Medicine-style rubrics for a JSONL of questions, check them, report their quality."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.config.run import ConfigError
        from heartgrpo.rubricgen.generate import RubricGenSettings, generate_rubrics

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
        from heartgrpo.rubricgen.generate import ORBIT_PROMPT_NAME, PROMPT_NAME

        names = {"rar": PROMPT_NAME, "orbit": ORBIT_PROMPT_NAME}
        if (prompt or ("orbit" if exemplars else "rar")) not in names:
            raise ConfigError(f"--prompt must be rar or orbit, got {prompt!r}")
        retriever = None
        if exemplars:
            from heartgrpo.data.rubric_pool import load_pool
            from heartgrpo.rubricgen.retrieve import RubricRetriever

            from heartgrpo.rubricgen.retrieve import pool_card

            retriever = RubricRetriever(load_pool(exemplars))
            out.mkdir(parents=True, exist_ok=True)
            (out / "exemplar_pool.md").write_text(pool_card(retriever.pool), encoding="utf-8")
        r = generate_rubrics(input, out, settings, limit=limit, prompt=names[prompt or ("orbit" if exemplars else "rar")], retriever=retriever)
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


@rubrics_app.command("pool")
def rubrics_pool(
    out: Path = typer.Option(..., "--out", "-o", help="pool JSONL to write, for `rubrics generate --exemplars`"),
    rar: Path = typer.Option(None, "--rar", help="RaR-Medicine training rows (default: the bundled sample's train.jsonl)"),
    healthbench: Path = typer.Option(Path("../shared/data/healthbench"), "--healthbench", help="folder of the HealthBench dev files (skipped where absent)"),
) -> None:
    """Write the pool of real rubrics (training and dev rows only, never an eval split) that exemplars come from."""

    def go() -> None:
        from collections import Counter

        from heartgrpo.data.rubric_pool import build_pool, default_pool
        from heartgrpo.rubricgen.retrieve import pool_card, write_pool

        pool = build_pool(rar, healthbench) if rar else (default_pool() if healthbench == Path("../shared/data/healthbench") else build_pool(healthbench_dir=healthbench))
        write_pool(pool, out)
        out.with_suffix(".md").write_text(pool_card(pool), encoding="utf-8")
        _summary("rubrics pool", [("cases", len(pool)), ("by source", ", ".join(f"{k} {v}" for k, v in Counter(c["source"] for c in pool).items())),
                                  ("pool", out), ("pool card", out.with_suffix(".md"))])

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
        from heartgrpo.rubricgen.compare import compare_rubrics, write_comparison
        from heartgrpo.judge.factory import judge_in_use

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
        from heartgrpo.rubricgen.quality import check_rubric_file

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
        from heartgrpo.io.jsonl import write_jsonl
        from heartgrpo.rubricgen.compare import baseline_rubrics

        rows = baseline_rubrics(real, kind)
        typer.echo(f"{len(rows)} {kind} baseline rubrics -> {write_jsonl(rows, out)}")

    _run(go)
