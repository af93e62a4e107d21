"""SFT warm start: teach the output format on the SFT split, loss on the completion only.

Examples are TRL's conversational prompt-completion pairs, ``{"prompt": [messages...],
"completion": [{"role": "assistant", "content": ...}]}``; with ``completion_only_loss`` TRL
masks the prompt tokens out of the loss. Examples longer than ``sft.drop_longer_than *
sft.max_length`` tokens are dropped (counted, never truncated). The LoRA adapter is saved to
``<output_dir>/sft/adapter``; GRPO continues from it. Under ``accelerate launch`` every process
trains on its share of each batch and only the main process writes files.

    >>> result = run_sft(cfg)                                # doctest: +SKIP
    >>> result.adapter_dir  # doctest: +SKIP
    PosixPath('runs/cpu-demo/sft/adapter')
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.io.jsonl import read_jsonl
from heartgrpo.io.process import is_main_process

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

log = logging.getLogger(__name__)

__all__ = ["SFTResult", "build_sft_trainer", "last_checkpoint", "load_examples", "load_jsonl", "run_sft", "save", "sft_example", "train"]


@dataclass
class SFTResult:
    adapter_dir: Path
    steps: int
    train_loss: float | None
    seconds: float
    n_examples: int
    n_dropped: int
    log_history: list[dict] = field(default_factory=list)


def load_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file; a bad line raises ``DataError`` (a ``ValueError``) naming file and
    line (:func:`heartgrpo.io.jsonl.read_jsonl`)."""
    return read_jsonl(path)


def sft_example(record: dict[str, Any]) -> dict[str, list[dict]]:
    """A conversational prompt-completion pair from a prepared SFT row.

    Accepts ``{"prompt", "completion"}`` (kept; a string completion becomes an assistant turn)
    or ``{"messages"}`` ending on an assistant turn (split off as the completion).
    """
    rid = record.get("id", "?")
    if "completion" in record and "prompt" in record:
        completion = record["completion"]
        if isinstance(completion, str):
            completion = [{"role": "assistant", "content": completion}]
        return {"prompt": list(record["prompt"]), "completion": list(completion)}
    messages = record.get("messages")
    if messages and messages[-1].get("role") == "assistant":
        return {"prompt": list(messages[:-1]), "completion": [messages[-1]]}
    raise ValueError(f"SFT row {rid}: expected 'prompt' + 'completion' or 'messages' ending on an assistant turn, got keys {sorted(record)}")


def _length(tokenizer: Any, example: dict) -> int:
    ids = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return len(ids)


def filter_by_length(examples: Iterable[dict], tokenizer: Any, max_tokens: int) -> tuple[list[dict], int]:
    """Drop examples longer than ``max_tokens`` (chat-templated); returns (kept, n_dropped)."""
    kept, dropped = [], 0
    for ex in examples:
        if _length(tokenizer, ex) > max_tokens:
            dropped += 1
        else:
            kept.append(ex)
    return kept, dropped


def last_checkpoint(output_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` directory in ``output_dir`` (or None)."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    ckpts = [p for p in out.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1]), default=None)


def load_examples(cfg: RunConfig, tokenizer: Any, rows: Sequence[dict] | None = None) -> tuple[list[dict], int]:
    """Data: prompt-completion pairs from ``rows`` (default ``sft.data``, else
    ``<output_dir>/data/sft.jsonl``), those longer than ``sft.drop_longer_than *
    sft.max_length`` tokens dropped; (kept, n_dropped)."""
    if rows is None:
        rows = load_jsonl(cfg.sft.data or cfg.data_dir / "sft.jsonl")
    examples = [sft_example(r) for r in rows]
    limit = int(cfg.sft.drop_longer_than * cfg.sft.max_length)
    examples, dropped = filter_by_length(examples, tokenizer, limit)
    if dropped:
        log.info("SFT: dropped %d of %d examples longer than %d tokens", dropped, dropped + len(examples), limit)
    if not examples:
        raise ValueError(f"SFT: no example left after dropping those longer than {limit} tokens")
    return examples, dropped


def build_sft_trainer(cfg: RunConfig, loaded: Any, examples: Sequence[dict], callbacks: Sequence[Any] = ()) -> Any:
    """Trainer: TRL's ``SFTTrainer`` on ``examples`` with the ``SFTConfig`` of the config
    (:func:`heartgrpo.train.trl_config.build_sft_config`), resumable on CPU ranks."""
    from datasets import Dataset
    from trl import SFTTrainer

    from heartgrpo.io.process import CpuRankResumeMixin
    from heartgrpo.train.trl_config import build_sft_config

    args = build_sft_config(cfg, cfg.sft_dir, on_cuda=loaded.on_cuda)
    return type("ResumableSFTTrainer", (CpuRankResumeMixin, SFTTrainer), {})(
        model=loaded.model,
        args=args,
        train_dataset=Dataset.from_list(list(examples)),
        processing_class=loaded.tokenizer,
        callbacks=list(callbacks),
    )


def train(cfg: RunConfig, trainer: Any, resume: bool = False) -> tuple[Any, Path | None]:
    """Train, from the newest checkpoint in ``<output_dir>/sft`` when ``resume``; returns TRL's
    training output and the checkpoint resumed from."""
    ckpt = last_checkpoint(cfg.sft_dir) if resume else None
    return trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None), ckpt


def save(cfg: RunConfig, trainer: Any, loaded: Any) -> Path:
    """Save the LoRA adapter (and tokenizer) to ``<output_dir>/sft/adapter``, where GRPO picks it
    up, and the log history beside it (main process)."""
    adapter_dir = cfg.sft_dir / "adapter"
    trainer.save_model(str(adapter_dir))  # every rank (ZeRO-3 / FSDP gather the weights); the main one writes
    if is_main_process():
        loaded.tokenizer.save_pretrained(str(adapter_dir))
        (cfg.sft_dir / "log_history.json").write_text(json.dumps(list(trainer.state.log_history), indent=1))
    return adapter_dir


def run_sft(
    cfg: RunConfig,
    rows: Sequence[dict] | None = None,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
) -> SFTResult:
    """Train the SFT warm start; ``rows`` default to ``sft.data``, else ``<output_dir>/data/sft.jsonl``.

    The recipe, one public step each (notebook 02 calls them cell by cell): Unsloth first, the
    model (:func:`heartgrpo.model.backend.load_for_training`, no vLLM engine: SFT never
    generates), :func:`load_examples`, :func:`build_sft_trainer`, :func:`train`, :func:`save`."""
    from heartgrpo.model.backend import import_backend_first, load_for_training

    import_backend_first(cfg.model.backend, vllm_standby=cfg.model.vllm_standby)  # Unsloth before torch/trl/transformers/peft
    t0 = time.perf_counter()
    loaded = load_for_training(cfg, fast_inference=False)
    examples, dropped = load_examples(cfg, loaded.tokenizer, rows)
    trainer = build_sft_trainer(cfg, loaded, examples, callbacks)
    output, _ = train(cfg, trainer, resume)
    adapter_dir = save(cfg, trainer, loaded)
    return SFTResult(
        adapter_dir=adapter_dir,
        steps=trainer.state.global_step,
        train_loss=getattr(output, "training_loss", None),
        seconds=time.perf_counter() - t0,
        n_examples=len(examples),
        n_dropped=dropped,
        log_history=list(trainer.state.log_history),
    )
