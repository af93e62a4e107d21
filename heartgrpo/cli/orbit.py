"""``heartgrpo filter``: the pass@k prefilter of GRPO prompts (:mod:`heartgrpo.data.filter`).

    heartgrpo filter --config configs/cpu-demo.yaml --limit 4
    heartgrpo filter --config C --model M --base-url http://localhost:8000/v1   # answers from an endpoint

Then ``--set data.filter=<out>`` (or ``data: {filter: <out>}`` in the config) trains GRPO on the kept prompts.
"""

from __future__ import annotations

from pathlib import Path

import typer

from heartgrpo.cli.common import ConfigOpt, SetOpt, VerboseOpt, _fmt, _load, _run, _setup, _summary

__all__ = ["filter_"]


def filter_(
    config: Path = ConfigOpt,
    out: Path = typer.Option(None, "--out", "-o", help="output directory (default <output_dir>/filter)"),
    input: Path = typer.Option(None, "--input", "-i", help="GRPO rows to filter (default <output_dir>/data/grpo.jsonl)"),
    k: int = typer.Option(None, "--k", help="answers per prompt (default orbit.filter.k)"),
    stage: str = typer.Option(None, "--stage", help="local model answering: auto (grpo, else sft, else base), base, sft or grpo"),
    model: str = typer.Option(None, "--model", help="answer with this model at an OpenAI-compatible endpoint instead"),
    base_url: str = typer.Option(None, "--base-url", help="that endpoint, e.g. http://localhost:8000/v1"),
    limit: int = typer.Option(None, "--limit", help="only the first N prompts"),
    set_: list[str] = SetOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Sample k answers per GRPO prompt, judge them, keep the prompts that can teach; writes a report."""
    _setup(verbose)

    def go() -> None:
        from heartgrpo.data.filter import filter_prompts, write_filter_report
        from heartgrpo.io.jsonl import read_jsonl
        from heartgrpo.judge.factory import judge_in_use

        cfg = _load(config, set_)
        f = cfg.orbit.filter
        kk = k or f.k
        source = input or cfg.data_dir / "grpo.jsonl"
        if not Path(source).is_file():
            raise FileNotFoundError(f"{source}: no GRPO rows; run `heartgrpo prep --config {config}` first (or give --input)")
        rows = read_jsonl(source)[:limit]
        sampling = {"temperature": f.temperature, "max_new_tokens": f.max_new_tokens}
        if model:
            from heartgrpo.eval.generators import OpenAIGenerator

            # no seed: k requests with one seed would return one answer k times
            generator = OpenAIGenerator(model, base_url=base_url, seed=None, concurrency=cfg.eval.concurrency, **sampling)
        else:
            from heartgrpo.pipeline import stage_generator

            chosen = stage or f.stage
            if chosen == "auto":
                chosen = next((s for s in ("grpo", "sft") if ((cfg.grpo_dir if s == "grpo" else cfg.sft_dir) / "adapter" / "adapter_config.json").is_file()), "base")
            generator = stage_generator(cfg, chosen, records=source, seed=f.seed, **sampling)
        with judge_in_use(cfg.judge) as judge:
            result = filter_prompts(rows, generator, judge, k=kk, strategy=f.strategy, mastered_above=f.mastered_above,
                                    hopeless_below=f.hopeless_below, batch_size=cfg.eval.batch_size,
                                    strip_reasoning=cfg.reward.strip_reasoning)
        paths = write_filter_report(result, out or cfg.output_dir / "filter")
        c = result.counts
        _summary("filter", [("answers from", result.settings["generator"]),
                            ("judge", result.settings["judge"] + (" (APPROXIMATE)" if result.settings["judge_approximate"] and "APPROXIMATE" not in result.settings["judge"] else "")),
                            ("prompts kept / in", f"{len(result.kept_rows)} / {len(rows)}"),
                            ("dropped: zero-variance / mastered / hopeless", f"{c['zero_variance']} / {c['mastered']} / {c['hopeless']}"),
                            ("unjudged (kept)", c["unjudged"]),
                            ("seconds sampling / judging", f"{_fmt(result.seconds['sampling'])} / {_fmt(result.seconds['judging'])}"),
                            ("kept prompts", paths["kept"]), ("report", paths["md"]),
                            ("train on them", f"--set data.filter={paths['kept'].parent}")])

    _run(go)
