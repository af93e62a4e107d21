"""``heartgrpo refine`` (a command of :mod:`heartgrpo.cli.app`): self-refined SFT data, and ``--measure``.

    heartgrpo refine --config C --model M --base-url URL          # build or resume runs/refine
    heartgrpo refine --config C --measure --rubrics R/records.jsonl   # refined vs original, judged
"""

from __future__ import annotations

from pathlib import Path

import typer

from heartgrpo.cli.common import SetOpt, VerboseOpt, _load, _run, _setup, _summary

__all__ = ["refine"]


def refine(
    config: Path = typer.Option(None, "--config", "-c", help="run configuration whose refine: section gives the defaults"),
    out: Path = typer.Option(None, "--out", "-o", help="output directory (default: refine.out_dir; rerun to resume)"),
    model: str = typer.Option(None, "--model", help="model that writes queries, critiques and refinements"),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"),
    api_key_env: str = typer.Option(None, "--api-key-env", help="environment variable holding the API key"),
    n_queries: int = typer.Option(None, "--n-queries", help="attribute profiles to sample (one query each)"),
    limit: int = typer.Option(None, "--limit", help="only the first N profiles"),
    measure: bool = typer.Option(False, "--measure", help="grade originals and refinements with the configured judge"),
    rubrics: Path = typer.Option(None, "--rubrics", help="--measure: records with rubrics (records.jsonl of `rubrics generate` on <out>/questions.jsonl)"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    set_: list[str] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Self-refined SFT data: sampled askers' questions, answered, critiqued per facet, refined."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.config.run import ConfigError
        from heartgrpo.config.refine import RefineSettings

        if set_ and config is None:
            raise ConfigError("--set needs --config (the file whose keys it overrides)")
        cfg = _load(config, set_) if config else None
        values = cfg.refine.model_dump(exclude_unset=True) if cfg is not None and cfg.refine is not None else {}
        given = {"model": model, "base_url": base_url, "api_key_env": api_key_env, "n_queries": n_queries, "out_dir": out, "rubrics": rubrics}
        values.update({k: v for k, v in given.items() if v is not None})
        try:
            settings = RefineSettings(**values)
        except ValueError as err:
            raise ConfigError(f"refine: {err}") from None
        if measure:
            _measure(cfg, settings)
            return
        from heartgrpo.refine.pipeline import run_refine

        if not settings.model:
            raise ConfigError("refine needs --model (or a config with a refine: {model: ...} section)")
        r = run_refine(settings, limit=limit, progress=progress)
        c = r.report["counts"]
        req = r.report["requests"]
        _summary("refine", [
            ("profiles / queries", f"{c['profiles']} / {c['queries']}"), ("rows / failed", f"{c['rows']} / {c['failed']}"),
            ("dropped: near-duplicate / contaminated", f"{c['dropped_near_duplicate']} / {c['dropped_contaminated']}"),
            ("requests / cache hits", f"{sum(v['requests'] for v in req.values())} / {sum(v['cache_hits'] for v in req.values())}"),
            ("dataset (sft.data)", r.dataset), ("failures", r.failed), ("report", r.paths["md"]), ("data card", r.paths["card"])])

    _run(go)


def _measure(cfg, settings) -> None:
    from heartgrpo.config.run import ConfigError
    from heartgrpo.judge.factory import judge_in_use, judge_label
    from heartgrpo.refine.measure import measure_refinement
    from heartgrpo.refine.pipeline import DATASET_FILE

    if cfg is None:
        raise ConfigError("refine --measure needs --config (its judge: section grades the answers)")
    if settings.rubrics is None:
        raise ConfigError("refine --measure needs --rubrics (or refine.rubrics): run `heartgrpo rubrics generate "
                          f"--input {settings.out_dir / 'questions.jsonl'}` first for new queries")
    with judge_in_use(cfg.judge) as judge:
        s = measure_refinement(settings.out_dir / DATASET_FILE, settings.rubrics, judge, settings.out_dir,
                               judge_label=judge_label(judge), n_bootstrap=settings.n_bootstrap, seed=settings.seed)
    o = s["overall"]
    _summary("refine --measure", [
        ("rows graded (no rubric, judge failures)", f"{s['graded']} ({s['no_rubric']}, {s['excluded_judge_failures']})"),
        ("win rate [95% CI]", f"{o['win_rate']} {o['win_ci']}"), ("mean score change [95% CI]", f"{o['mean_change']} {o['change_ci']}"),
        ("words original -> refined", f"{o['length']['original_words']} -> {o['length']['refined_words']}"),
        ("report", settings.out_dir / "measure.md")])
