"""``prepare_datasets``: from raw sources to the saved SFT, GRPO and eval datasets plus a data card.

Pipeline (every step is reported, nothing is dropped silently):

1. load RaR-Medicine (bundled sample, hub or local path) as canonical records per split;
2. keep heart records (lexicon, or the LLM classifier with keyword verification);
3. load HealthBench (bundled sample, official name, local JSONL path or URL), label heart
   conversations, draw the eval subset (``eval_n``, ``eval_seed``) and describe it (pool,
   themes, languages, multi-turn share, repeated criteria: :mod:`heartgrpo.data.heart_subset`);
4. drop training records whose question overlaps an eval conversation (n-gram containment);
5. optionally write missing reasoning traces with an LLM;
6. split the heart train split 50/50 (seed 3407) into SFT and GRPO halves and build both sets;
7. save every dataset (Arrow via ``save_to_disk`` and/or JSONL), a JSON report, the data card
   and a figure under ``out_dir``.

Example::

    result = prepare_datasets(DataSettings(source="sample"), Path("runs/data"))
    print(result.summary())
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from heartgrpo.data.builders import build_grpo_rows, build_sft_rows, select_eval_subset, split_sft_grpo
from heartgrpo.data.contamination import drop_contaminated
from heartgrpo.data.healthbench import load_healthbench, load_healthbench_meta_eval
from heartgrpo.data.rar import load_rar_medicine
from heartgrpo.io.jsonl import BadRowReport, DataError, write_jsonl
from heartgrpo.records import user_text
from heartgrpo.config.data import DataSettings, LLMSettings
from heartgrpo.data.heart_subset import describe_subset, subset_card_lines
from heartgrpo.rubrics import repeated_criteria
from heartgrpo.data.stats import dataset_stats, format_stats, plot_stats, write_data_card

__all__ = ["PrepResult", "SAMPLE_DIR", "prepare_datasets", "save_rows"]

log = logging.getLogger(__name__)

SAMPLE_DIR = Path(__file__).parent / "sample"


class PrepResult(BaseModel):
    """What :func:`prepare_datasets` built: row counts, file paths and the report."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    out_dir: Path
    counts: dict[str, int]
    paths: dict[str, Path]
    skipped: list[dict[str, str]]
    overlaps: list[dict[str, Any]]
    grpo: dict[str, Any]
    stats: dict[str, dict[str, Any]]
    data_card: Path
    figure: Path | None
    seconds: float

    def summary(self) -> str:
        """Counts, skipped rows, overlaps and per-dataset statistics as printable text."""
        head = ["datasets: " + ", ".join(f"{k}={v}" for k, v in self.counts.items()),
                f"skipped rows: {len(self.skipped)}; contamination drops: {len({o['train_id'] for o in self.overlaps})}",
                f"GRPO max prompt length: {self.grpo.get('max_prompt_length')} {self.grpo.get('length_unit', '')}",
                f"data card: {self.data_card}"]
        return "\n".join(head) + "\n" + format_stats(self.stats)


def save_rows(rows: list[dict[str, Any]], directory: Path, name: str, save_format: str) -> dict[str, Path]:
    """Save rows as ``name.jsonl`` and/or an Arrow dataset ``name/`` (``Dataset.save_to_disk``)."""
    paths: dict[str, Path] = {}
    if save_format in ("jsonl", "both"):
        paths[f"{name}.jsonl"] = write_jsonl(rows, directory / f"{name}.jsonl")
    if save_format in ("arrow", "both"):
        import datasets

        try:
            dataset = datasets.Dataset.from_list(rows)
        except Exception as exc:
            raise DataError(f"dataset {name!r}: rows do not share one Arrow schema ({exc})") from exc
        bars_were_on = not datasets.utils.are_progress_bars_disabled()
        datasets.disable_progress_bars()
        try:
            dataset.save_to_disk(str(directory / name))
        finally:
            if bars_were_on:
                datasets.enable_progress_bars()
        paths[name] = directory / name
    return paths


def _llm_kwargs(cfg: LLMSettings) -> dict[str, Any]:
    return {**cfg.endpoint_kwargs(), "cache": cfg.cache}


def _heart_filter(by_split: dict[str, list[dict[str, Any]]], settings: DataSettings) -> dict[str, list[dict[str, Any]]]:
    if settings.heart_filter == "none":
        return by_split
    if settings.heart_filter in ("llm", "lexicon+llm"):
        from heartgrpo.heart.llm import LLMHeartClassifier, two_stage_labels

        assert settings.heart_llm is not None
        clf = LLMHeartClassifier(settings.heart_llm.model, **_llm_kwargs(settings.heart_llm))
        for records in by_split.values():
            texts = [user_text(r["prompt"]) for r in records]
            labels = two_stage_labels(texts, clf) if settings.heart_filter == "lexicon+llm" else clf.classify_many(texts)
            for rec, label in zip(records, labels):
                rec.update(heart=label.heart, heart_theme=label.theme, heart_evidence=label.evidence)
    return {split: [r for r in recs if r["heart"]] for split, recs in by_split.items()}


def _sources(settings: DataSettings) -> tuple[Any, str, Any, Any]:
    sample = settings.source == "sample"
    rar = SAMPLE_DIR / "rar_medicine" if sample else settings.source
    hb = SAMPLE_DIR / "healthbench" / "heart_sample.jsonl" if settings.healthbench == "sample" else settings.healthbench
    meta = settings.meta_eval
    if meta == "sample":
        meta = SAMPLE_DIR / "healthbench" / "meta_eval_sample.jsonl"
    return rar, "sample" if sample else "rar-medicine", hb, meta


def prepare_datasets(settings: DataSettings, out_dir: Path, tokenizer: Any = None) -> PrepResult:
    """Build and save every dataset described in the module docstring; return counts and paths."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = BadRowReport()
    bad = {"on_bad_row": settings.on_bad_row, "report": report}
    rar_source, record_source, hb_source, meta_source = _sources(settings)

    if settings.generated_rubrics is not None:  # rubrics written by `heartgrpo rubrics generate`
        from heartgrpo.rubricgen.files import load_generated_records

        loaded = load_generated_records(settings.generated_rubrics, settings.splits)
        rar_source, record_source = settings.generated_rubrics, "generated"
    else:
        loaded = load_rar_medicine(rar_source, settings.splits, hub_ids=settings.hub_ids, record_source=record_source,
                                   avoidance_pitfalls=settings.rar_avoidance_pitfalls, **bad)
    counts: dict[str, int] = {f"rar_{s}_loaded": len(v) for s, v in loaded.items()}
    heart = _heart_filter(loaded, settings)
    counts.update({f"rar_{s}_heart": len(v) for s, v in heart.items()})

    hb_source_name = "sample" if settings.healthbench == "sample" else "healthbench"
    conversations = load_healthbench(hb_source, first_user_turn_only=settings.first_user_turn_only,
                                     cache_dir=settings.healthbench_cache_dir, record_source=hb_source_name, **bad)
    eval_rows = select_eval_subset(conversations, settings.eval_n, settings.eval_seed, heart_only=True)
    counts.update(healthbench_loaded=len(conversations), healthbench_heart=sum(r["heart"] for r in conversations),
                  healthbench_repeated_criteria=sum(repeated_criteria(r["rubrics"]) for r in conversations))
    subset = describe_subset(conversations, eval_rows, n=settings.eval_n, seed=settings.eval_seed)
    log.info("HealthBench %s: %d conversations, %d heart, %d selected; %d repeated criteria kept", hb_source,
             subset["pool"], subset["heart_pool"], subset["selected"], counts["healthbench_repeated_criteria"])

    overlaps: list[dict[str, Any]] = []
    if settings.contamination_check:
        for split, records in heart.items():
            heart[split], found = drop_contaminated(records, eval_rows, settings.contamination_ngram,
                                                    settings.contamination_threshold)
            overlaps += [o.to_dict() for o in found]
            counts[f"rar_{split}_contaminated"] = len(records) - len(heart[split])

    if settings.augment_reasoning is not None:
        from heartgrpo.data.augment import ReasoningAugmenter

        cfg = settings.augment_reasoning
        augmenter = ReasoningAugmenter(cfg.model, **_llm_kwargs(cfg), on_failure=settings.on_bad_row)
        heart = {split: augmenter.augment(records) for split, records in heart.items()}

    train = heart.get("train", [])
    sft_records, grpo_records = split_sft_grpo(train, settings.split_seed, settings.sft_fraction)
    sft_rows = build_sft_rows(sft_records, settings.sft_format, missing_reasoning=settings.missing_reasoning, report=report)
    grpo_rows, grpo_info = build_grpo_rows(grpo_records, settings.sft_format, min_criteria=settings.min_criteria,
                                           prompt_length_quantile=settings.prompt_length_quantile, tokenizer=tokenizer)

    outputs: dict[str, list[dict[str, Any]]] = {"sft": sft_rows, "grpo": grpo_rows, "eval": eval_rows}
    outputs.update({f"rar_heart_{split}": records for split, records in heart.items()})
    if meta_source is not None:
        outputs["meta_eval"] = load_healthbench_meta_eval(meta_source, cache_dir=settings.healthbench_cache_dir, **bad)
    paths: dict[str, Path] = {}
    for name, rows in outputs.items():
        counts[name] = len(rows)
        paths.update(save_rows(rows, out_dir, name, settings.save_format))

    sft_ids = {r["id"] for r in sft_rows}
    described = {"sft": [r for r in sft_records if r["id"] in sft_ids], "grpo": grpo_rows, "eval": eval_rows}
    stats = {name: dataset_stats(rows) for name, rows in described.items() if rows}
    if heart.get("train"):
        stats = {"rar_heart_train": dataset_stats(heart["train"]), **stats}
    figure = plot_stats(stats, out_dir / "data_stats.png") if settings.figure and stats else None
    notes = [f"RaR-Medicine source: {rar_source}; HealthBench source: {hb_source}",
             f"heart filter: {settings.heart_filter}; SFT format: {settings.sft_format}; "
             f"SFT/GRPO split seed {settings.split_seed}; eval n={settings.eval_n} seed {settings.eval_seed}"]
    if record_source == "sample":
        notes.insert(0, "SYNTHETIC SAMPLE DATA written for tests and the CPU demo; not clinical advice, not the real datasets.")
    card = write_data_card(out_dir / "DATA_CARD.md", stats, settings=settings.model_dump(mode="json"), counts=counts,
                           skipped=report.to_list(), overlaps=overlaps, figure=figure.name if figure else None, notes=notes,
                           sections=[subset_card_lines(subset, str(hb_source))])
    seconds = time.perf_counter() - start
    report_path = out_dir / "prep_report.json"
    report_path.write_text(json.dumps({"counts": counts, "healthbench_subset": subset, "skipped": report.to_list(), "overlaps": overlaps,
                                       "grpo": grpo_info, "seconds": round(seconds, 3)}, indent=2), encoding="utf-8")
    paths.update({"data_card": card, "report": report_path})
    return PrepResult(out_dir=out_dir, counts=counts, paths=paths, skipped=report.to_list(), overlaps=overlaps,
                      grpo=grpo_info, stats=stats, data_card=card, figure=figure, seconds=seconds)
