"""Helpers of the real-vLLM tests: PEFT adapters that change the model, this process's RSS, a free port."""

from __future__ import annotations

import socket
from pathlib import Path


def make_adapter(base: Path, out: Path, r: int, seed: int) -> Path:
    """A PEFT LoRA of rank ``r`` on ``base`` with random A and B (PEFT starts B at zero, which would
    leave the model unchanged), saved with the base's tokenizer as every trained adapter is."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.3)
    peft.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def rss_mib() -> float:
    """Resident memory of this process (``VmRSS`` of /proc/self/status), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
