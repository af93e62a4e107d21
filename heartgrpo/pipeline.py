"""The stages behind the ``heartgrpo`` command, one function each, all driven by a RunConfig.

``prep -> sft -> grpo -> eval -> report``; :func:`run_demo` chains them and evaluates the
held-out prompts twice, with the SFT adapter (before GRPO) and with the GRPO adapter (after),
so the report shows the mean rubric score before and after GRPO. Run-directory layout (under
``output_dir``): ``data/``, ``sft/``, ``grpo/``, ``eval/<stage>/``, ``report/``.

    >>> cfg = load_config("configs/cpu-demo.yaml")     # doctest: +SKIP
    >>> run_demo(cfg).report["html"]  # doctest: +SKIP
    PosixPath('runs/cpu-demo/report/report.html')
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the training stages are the trainers themselves (light at import: Unsloth and TRL load inside)
from heartgrpo.train.grpo import run_grpo as stage_grpo
from heartgrpo.train.sft import run_sft as stage_sft

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

log = logging.getLogger(__name__)

__all__ = ["DemoResult", "eval_dir_for", "run_demo", "stage_eval", "stage_generator", "stage_grpo", "stage_prep", "stage_report", "stage_sft", "training_note"]

#: eval stages: which adapter each one evaluates
EVAL_STAGES = ("base", "sft", "grpo")
_STAGE_NAMES = {"base": "base model", "sft": "before GRPO (SFT)", "grpo": "after GRPO"}


def _eval_root(cfg: RunConfig) -> Path:
    """``eval.out_dir``, by default ``<output_dir>/eval``."""
    return cfg.eval.out_dir or cfg.eval_dir


def _report_dir(cfg: RunConfig) -> Path:
    """``eval.report_dir``, by default ``<output_dir>/report``."""
    return cfg.eval.report_dir or cfg.report_dir


def eval_dir_for(cfg: RunConfig, stage: str) -> Path:
    return _eval_root(cfg) / stage


def stage_prep(cfg: RunConfig) -> Any:
    """Build the SFT, GRPO and eval datasets into ``<output_dir>/data`` (prompt lengths in the
    model's tokens)."""
    from heartgrpo.data import prepare_datasets
    from heartgrpo.model.backend import load_tokenizer
    from heartgrpo.model.demo import resolve_model_path

    tokenizer = load_tokenizer(resolve_model_path(cfg.model.name_or_path), cfg.model.chat_template, cfg.model.trust_remote_code)
    return prepare_datasets(cfg.data, cfg.data_dir, tokenizer)


def _adapter_for(cfg: RunConfig, stage: str) -> Path | None:
    if stage == "base":
        return None
    adapter = (cfg.sft_dir if stage == "sft" else cfg.grpo_dir) / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter}: no adapter; run `heartgrpo {stage} --config ...` first")
    return adapter


def _set_aside_stale(run_dir: Path, model_id: str) -> Path | None:
    """Rename ``run_dir`` to ``<run_dir>.stale-<time>`` when its answers came from another model
    (e.g. an adapter retrained since): resuming must not mix them, and nothing is deleted."""
    from heartgrpo.io.jsonl import DataError, iter_rows

    answers = run_dir / "answers.jsonl"
    if not answers.is_file():
        return None
    try:
        first = next(iter_rows(answers), None)
    except DataError:
        return None  # a damaged file: evaluate() reports it with its line number
    old_id = first[1].get("model_id") if first else None
    if old_id is None or old_id == model_id:
        return None
    stale = run_dir.with_name(f"{run_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.rename(stale)
    log.warning("%s holds answers of %s, not %s: moved to %s", run_dir, old_id, model_id, stale)
    return stale


def stage_generator(cfg: RunConfig, stage: str = "grpo", *, records: str | Path | None = None, **sampling: Any) -> Any:
    """The local generator for the ``stage`` model (base, or the sft/grpo adapter), sampling as
    ``cfg.eval`` unless ``sampling`` overrides it, on the backend ``cfg.eval.backend`` picks. On
    vLLM it runs on the process's one engine (:mod:`heartgrpo.model.engines`), sized from the
    config: GPU share, LoRA rank and context = longest prompt of ``records`` (default: the eval
    split) + ``max_new_tokens``. Either backend renders prompts with the chat template training
    used (``model.chat_template``, else the adapter's, else the model's)."""
    from heartgrpo.eval.generators import local_generator, pick_backend
    from heartgrpo.model.demo import resolve_model_path

    if stage not in EVAL_STAGES:
        raise ValueError(f"eval stage must be one of {EVAL_STAGES}, got {stage!r}")
    e = cfg.eval
    options = {"temperature": e.temperature, "top_p": e.top_p, "max_new_tokens": e.max_new_tokens, "seed": e.generation_seed, **sampling}
    model_path = resolve_model_path(cfg.model.name_or_path)
    adapter = _adapter_for(cfg, stage)
    vllm_options = None
    backend = pick_backend(e.backend)
    if backend == "vllm":  # pragma: no cover - needs vLLM
        from heartgrpo.eval.records import eval_prompts
        from heartgrpo.model.engines import vllm_options_for
        from heartgrpo.model.tokenizer import load_tokenizer, longest_prompt_tokens

        records = records or e.records_path or cfg.data_dir / "eval.jsonl"
        tokenizer = load_tokenizer(str(adapter or model_path), cfg.model.chat_template, cfg.model.trust_remote_code)
        longest = max(1, longest_prompt_tokens(eval_prompts(records, e.first_user_turn_only), tokenizer))
        vllm_options = vllm_options_for(cfg, longest, options["max_new_tokens"])
    return local_generator(model_path, adapter=adapter, backend=backend, vllm_options=vllm_options,
                           chat_template=cfg.model.chat_template, **options)


def stage_eval(cfg: RunConfig, stage: str = "grpo", *, judge: Any = None, progress: bool = True) -> dict:
    """Generate answers for the eval subset with the ``stage`` model (base, sft or grpo adapter),
    grade them with the configured judge, save and return the summary."""
    from heartgrpo.eval.run import evaluate
    from heartgrpo.judge.factory import judge_in_use

    if stage not in EVAL_STAGES:
        raise ValueError(f"eval stage must be one of {EVAL_STAGES}, got {stage!r}")
    e = cfg.eval
    records = e.records_path or cfg.data_dir / "eval.jsonl"
    generator = stage_generator(cfg, stage, records=records)
    _set_aside_stale(eval_dir_for(cfg, stage), generator.model_id)
    with judge_in_use(cfg.judge, judge) as used:
        return evaluate(
            records,
            used,
            eval_dir_for(cfg, stage),
            generator=generator,
            settings=e,
            name=_STAGE_NAMES[stage],
            progress=progress,
        )


def stage_report(cfg: RunConfig, stages: tuple[str, ...] | None = None, title: str | None = None,
                 notes: tuple[str, ...] = ()) -> dict[str, Path]:
    """Report over the evaluated stages (the first is the baseline of paired comparisons);
    ``notes``: paragraphs placed after the paired comparisons (default, with an offline judge
    configured: :func:`judge_note`'s sentence on what it rewards, of
    :func:`heartgrpo.judge.factory.offline_judge`)."""
    from heartgrpo.eval.run import report

    if not notes:
        from heartgrpo.judge.factory import offline_judge

        judge = offline_judge(cfg.judge)
        notes = () if judge is None else (judge_note(judge),)
    notes = (*notes, *filter(None, [training_note(cfg)]))

    stages = stages or tuple(s for s in EVAL_STAGES if (eval_dir_for(cfg, s) / "answers.jsonl").is_file())
    if not stages:
        raise FileNotFoundError(f"{_eval_root(cfg)}: no evaluated stage; run `heartgrpo eval` first")
    logs = [p for p in [cfg.grpo_dir / "steps.jsonl", *cfg.eval.grpo_logs] if Path(p).is_file()]
    results_md = cfg.eval.results_md if "results_md" in cfg.eval.model_fields_set else None
    return report(
        [eval_dir_for(cfg, s) for s in stages],
        _report_dir(cfg),
        grpo_logs=logs,
        results_md=results_md,
        settings=cfg.eval,
        title=title or f"heartgrpo evaluation: {cfg.name}",
        notes=notes,
    )


@dataclass
class DemoResult:
    report: dict[str, Path]
    before: dict
    after: dict
    seconds: dict[str, float] = field(default_factory=dict)
    #: first- vs last-quarter change of the GRPO training reward (:func:`heartgrpo.eval.trend.reward_trend`)
    trend: dict | None = None
    #: held-out after - before, paired over prompts (:func:`heartgrpo.eval.summary.compare_runs`)
    held_out: dict | None = None

    @property
    def score_before(self) -> float:
        return self.before["healthbench"]["score"]

    @property
    def score_after(self) -> float:
        return self.after["healthbench"]["score"]


def run_demo(cfg: RunConfig, *, progress: bool = True, on_stage: Any = None) -> DemoResult:
    """prep -> SFT -> eval (before GRPO) -> GRPO -> eval (after) -> report. ``on_stage(name)`` is
    called as each stage starts (the CLI prints it)."""
    from heartgrpo.model.backend import import_backend_first

    import_backend_first(cfg.model.backend, vllm_standby=cfg.model.vllm_standby)  # before prep loads transformers
    from heartgrpo.judge.factory import judge_in_use, judge_label

    seconds: dict[str, float] = {}

    def timed(name: str, fn, *args, **kwargs):
        if on_stage:
            on_stage(name)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        seconds[name] = time.perf_counter() - t0
        return out

    with judge_in_use(cfg.judge) as judge:
        timed("prep", stage_prep, cfg)
        if cfg.sft.enabled:
            timed("sft", stage_sft, cfg)
        first = "sft" if cfg.sft.enabled else "base"
        before = timed(f"eval {first} (before GRPO)", stage_eval, cfg, first, judge=judge, progress=progress)
        timed("grpo", stage_grpo, cfg, judge=judge)
        after = timed("eval grpo (after GRPO)", stage_eval, cfg, "grpo", judge=judge, progress=progress)
    from heartgrpo.eval.trend import reward_trend
    from heartgrpo.train.callbacks import read_steps

    label = judge_label(judge)
    paths = timed("report", stage_report, cfg, (first, "grpo"), title=f"heartgrpo demo: {cfg.name}{label}",
                  notes=(judge_note(judge),))  # stage_report adds training_note(cfg)
    trend = reward_trend(read_steps(cfg.grpo_dir / "steps.jsonl"))
    from heartgrpo.eval.jsonl import EvalInputError
    from heartgrpo.eval.summary import compare_runs

    try:
        held_out = compare_runs(after, before, n_bootstrap=cfg.eval.n_bootstrap, seed=cfg.eval.bootstrap_seed)
    except EvalInputError as exc:  # no shared scored prompt: the report says why
        log.warning("no paired held-out comparison: %s", exc)
        held_out = None
    return DemoResult(report=paths, before=before, after=after, seconds=seconds, trend=trend, held_out=held_out)


def training_note(cfg: RunConfig) -> str | None:
    """One sentence on which prompts GRPO trained on when ``grpo.prompt_ids`` or
    ``grpo.max_prompts`` narrows them (None otherwise): the held-out change is then transfer.

    >>> from heartgrpo.config.run import config_from_dict
    >>> cfg = config_from_dict({"name": "t", "model": {"name_or_path": "m"}, "grpo": {"prompt_ids": ["p1"], "max_steps": 32}})
    >>> training_note(cfg)[:52]
    'GRPO trained on 1 prompt (p1) for 32 steps; the held'
    """
    g = cfg.grpo
    if g.prompt_ids is None and g.max_prompts is None:
        return None
    if g.prompt_ids is not None:
        n = len(g.prompt_ids) if g.max_prompts is None else min(len(g.prompt_ids), g.max_prompts)
        which = f"{n} prompt{'s' if n != 1 else ''} ({', '.join(g.prompt_ids[:n])})"
    else:
        which = f"the first {g.max_prompts} GRPO prompts"
    return (f"GRPO trained on {which} for {g.max_steps} steps; the held-out prompts were never "
            "trained on, so the training reward shows learning on what was trained and the held-out change shows how "
            "much of it transfers.")


def judge_note(judge: Any) -> str:
    """One sentence on what the judge rewards, and so what a gain in the demo means: the meaning
    of :func:`heartgrpo.judge.types.describe_judge` (a judge may state it in ``describe()`` or in
    a ``rewards_description`` attribute)."""
    from heartgrpo.judge.types import describe_judge

    return describe_judge(judge).meaning
