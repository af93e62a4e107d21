"""GPU memory estimate of a run configuration on one card, from the model's shapes.

Shapes (layers, hidden size, MLP size, attention and KV heads, head dim, vocabulary) come from the
model's ``config.json`` when it is on disk or in the Hugging Face cache, else from a built-in
table of the Qwen3 sizes our configs use. Sums, in GiB (2**30 bytes):

- **weights**: linear layers at 0.5 B/param + 3 % for the NF4 block scales when 4-bit
  (bitsandbytes keeps embeddings and ``lm_head`` in 16-bit), else 2 B/param (4 in float32);
- **vLLM share** (``fast_inference``): what the engine reserves, ``share x card``, weights and
  KV cache inside it; under ``vllm_standby`` Unsloth picks the share itself
  (:func:`unsloth_standby_share`, copied from unsloth_zoo's ``load_vllm``) and the KV cache
  sleeps while training runs. The KV cache must hold at least one longest sequence
  (``model.max_seq_length``) or vLLM refuses to start: KV bytes/token =
  ``2 x layers x kv_heads x head_dim x 2``;
- **LoRA + optimizer**: ``r x (in + out)`` per wrapped projection, fp32 weights and grads plus
  8 B/param of Adam states (2 B for the 8-bit optimizers);
- **activations** of the larger of the SFT and GRPO micro-batches: one layer in flight,
  ``tokens x (8 hidden + 3 mlp) x 2 B``, plus the layer checkpoints ``tokens x hidden x 2 B x
  layers`` (on the GPU for the hf backend; Unsloth's gradient checkpointing offloads them to
  CPU), plus fp32 logits of the completion tokens (hf: the micro-batch; Unsloth: one sequence);
- 1 GiB of CUDA context and allocator slack.

The peak is the larger of the generation phase and the training phase. Figures are estimates
to within roughly 20 %: a "does not fit" is a reason to shrink the config before a long run,
a "fits" near the line is a reason for ``heartgrpo doctor --run``.

    >>> s = shapes_for("unsloth/Qwen3-14B-Base")
    >>> s.source, round(s.params / 1e9, 1), s.kv_bytes_per_token
    ('built-in table (Qwen3-14B)', 14.8, 163840)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig

__all__ = ["ModelShapes", "estimate_memory", "shapes_for", "unsloth_standby_share"]

GIB = 2**30
CUDA_CONTEXT_GIB = 1.0

#: name fragment -> (layers, hidden, intermediate, heads, kv_heads, head_dim, vocab, tied embeddings)
_KNOWN = {
    "qwen3-0.6b": (28, 1024, 3072, 16, 8, 128, 151936, True),
    "qwen3-1.7b": (28, 2048, 6144, 16, 8, 128, 151936, True),
    "qwen3-4b": (36, 2560, 9728, 32, 8, 128, 151936, True),
    "qwen3-8b": (36, 4096, 12288, 32, 8, 128, 151936, False),
    "qwen3-14b": (40, 5120, 17408, 40, 8, 128, 151936, False),
    "qwen3-32b": (64, 5120, 25600, 64, 8, 128, 151936, False),
    "smollm2-135m": (30, 576, 1536, 9, 3, 64, 49152, True),
}
_PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShapes:
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    source: str

    def proj_dims(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each projection a LoRA can wrap."""
        h, i, q, kv = self.hidden, self.intermediate, self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def linear_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.proj_dims().values())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def params(self) -> int:
        return self.linear_params + self.embedding_params

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * 2


def _from_config(data: dict[str, Any], source: str) -> ModelShapes:
    heads = int(data["num_attention_heads"])
    return ModelShapes(
        layers=int(data["num_hidden_layers"]), hidden=int(data["hidden_size"]), intermediate=int(data["intermediate_size"]),
        heads=heads, kv_heads=int(data.get("num_key_value_heads") or heads),
        head_dim=int(data.get("head_dim") or data["hidden_size"] // heads), vocab=int(data["vocab_size"]),
        tied=bool(data.get("tie_word_embeddings", False)), source=source,
    )


def _cached_config(name: str) -> Path | None:
    """``config.json`` of a local directory or of a hub id in the Hugging Face cache (no download)."""
    if Path(name, "config.json").is_file():
        return Path(name, "config.json")
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
    snapshots = hub / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json")) if snapshots.is_dir() else []
    return found[-1] if found else None


def shapes_for(name: str) -> ModelShapes:
    """Shapes of ``name`` (hub id or directory); ``KeyError`` when neither its config nor the
    built-in table knows it."""
    from heartgrpo.model.export import sixteen_bit_base

    path = _cached_config(name)
    if path is not None:
        return _from_config(json.loads(path.read_text()), f"config.json ({path})")
    key = sixteen_bit_base(name).lower().split("/")[-1].removeprefix("demo:")
    for fragment in sorted(_KNOWN, key=len, reverse=True):
        if key.startswith(fragment):
            title = "SmolLM2-135M" if fragment.startswith("smollm2") else "Qwen3-" + fragment.split("-")[1].upper()
            return ModelShapes(*_KNOWN[fragment], source=f"built-in table ({title})")
    raise KeyError(f"no config.json for {name!r} on disk or in the Hugging Face cache, and it is not in the built-in table "
                   f"({', '.join(sorted(_KNOWN))})")


def unsloth_standby_share(total_gib: float) -> float:
    """vLLM's GPU share Unsloth sets under standby for vLLM >= 0.11 (unsloth_zoo 2026.10.7,
    ``load_vllm``: a tier by 10 % of the card, times 0.95).

    >>> round(unsloth_standby_share(96), 4), round(unsloth_standby_share(15), 4)
    (0.8788, 0.76)
    """
    ten = total_gib * 0.1
    tier = 0.925 if ten >= 4.0 else 0.9 if ten >= 2.5 else 0.825 if ten >= 2.0 else 0.8 if ten >= 1.4 else 0.775 if ten >= 1.0 else 0.75
    return tier * 0.95


def _bytes_per_param(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


def estimate_memory(cfg: RunConfig, total_gib: float, shapes: ModelShapes | None = None) -> dict[str, Any]:
    """The estimate for ``cfg`` on a card of ``total_gib`` GiB: parts, peak, ``fits`` and the reason."""
    s = shapes or shapes_for(cfg.model.name_or_path)
    m, g, sft = cfg.model, cfg.grpo, cfg.sft
    unsloth = m.backend in ("unsloth", "auto")
    vllm = unsloth and m.fast_inference
    wbytes = _bytes_per_param(m.dtype)
    if m.load_in_4bit:
        weights = s.linear_params * 0.5 * 1.03 + s.embedding_params * 2
    else:
        weights = s.params * wbytes
    dims = s.proj_dims()
    lora_params = s.layers * sum(cfg.lora.r * sum(dims[t]) for t in cfg.lora.target_modules if t in dims)
    optim_bytes = 2 if "8bit" in g.optim or "8bit" in sft.optim else 8
    lora = lora_params * (4 + 4 + optim_bytes)

    def activations(batch: int, seq: int, completion: int, checkpointing: bool) -> float:
        tokens = batch * seq
        layer = tokens * (8 * s.hidden + 3 * s.intermediate) * 2
        ckpt = tokens * s.hidden * 2 * s.layers if not unsloth else 0
        if not checkpointing:
            layer, ckpt = layer * s.layers, 0
        logits = (completion if unsloth else batch * completion) * s.vocab * 4
        return layer + ckpt + logits

    seq = m.max_seq_length
    act_sft = activations(sft.per_device_train_batch_size, min(sft.max_length, seq), min(sft.max_length, seq), sft.gradient_checkpointing)
    act_grpo = activations(g.per_device_train_batch_size, seq, g.max_completion_length, g.gradient_checkpointing)
    act = max(act_sft, act_grpo)
    kv_one = s.kv_bytes_per_token * seq
    kv_group = kv_one * g.num_generations
    ctx = CUDA_CONTEXT_GIB * GIB
    total = total_gib * GIB
    parts: dict[str, float] = {"weights": weights, "lora_and_optimizer": lora, "activations": act, "cuda_context": ctx}
    reasons: list[str] = []
    share = None
    if vllm:
        share = unsloth_standby_share(total_gib) if m.vllm_standby else m.gpu_memory_utilization
        reserved = share * total
        kv_room = reserved - weights - 0.05 * reserved  # vLLM keeps some of its share for its own activations
        parts.update(vllm_reserved=reserved, kv_cache_room=max(kv_room, 0.0))
        generation_peak = max(reserved, weights + kv_one) + lora + ctx  # the weights live inside vLLM's share
        training_peak = (weights + lora + act + ctx) if m.vllm_standby else (reserved + lora + act + ctx)
        peak = max(generation_peak, training_peak)
        if kv_room < kv_one:
            reasons.append(f"vLLM's KV cache room ({kv_room / GIB:.1f} GiB of its {reserved / GIB:.1f} GiB share) cannot hold one "
                           f"{seq}-token sequence ({kv_one / GIB:.2f} GiB): engine creation fails")
        elif kv_room < kv_group:
            reasons.append(f"note: KV room {kv_room / GIB:.1f} GiB holds fewer than {g.num_generations} full-length sequences "
                           f"({kv_group / GIB:.1f} GiB); rollouts are batched in turns (slower, not an error)")
    else:
        peak = weights + lora + act + ctx
    fits = peak <= total and not any(not r.startswith("note:") for r in reasons)
    if peak > total:
        biggest = max(parts, key=parts.get)
        reasons.insert(0, f"peak {peak / GIB:.1f} GiB > {total_gib:.0f} GiB card; largest part: {biggest} {parts[biggest] / GIB:.1f} GiB")
    return {
        "card_gib": total_gib,
        "shapes": asdict(s),
        "params_billion": round(s.params / 1e9, 2),
        "vllm_share": None if share is None else round(share, 4),
        "kv_cache_per_token_kib": round(s.kv_bytes_per_token / 1024, 1),
        "kv_cache_one_sequence_gib": round(kv_one / GIB, 3),
        "kv_cache_group_gib": round(kv_group / GIB, 3),
        "parts_gib": {k: round(v / GIB, 2) for k, v in parts.items()},
        "peak_gib": round(peak / GIB, 2),
        "fits": fits,
        "reasons": reasons,
    }
