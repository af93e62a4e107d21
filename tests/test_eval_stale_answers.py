"""An adapter retrained in the same directory is another model: its old answers are set aside."""

import json
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from heartgrpo.eval.generators import _model_id
from heartgrpo.pipeline import _set_aside_stale


def _save_adapter(base: Path, out: Path, seed: int) -> None:
    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    model.save_pretrained(out)


def test_model_id_changes_when_adapter_weights_change(tiny_qwen3, tmp_path):
    adapter = tmp_path / "adapter"
    _save_adapter(tiny_qwen3, adapter, seed=0)
    first = _model_id("base", adapter)
    assert first.startswith(f"base+{adapter}@") and first == _model_id("base", adapter)
    _save_adapter(tiny_qwen3, adapter, seed=1)  # retrained in place
    assert _model_id("base", adapter) != first
    assert _model_id("base", None) == "base"


def test_stale_answers_are_moved_aside_not_deleted(tmp_path):
    run = tmp_path / "eval" / "sft"
    run.mkdir(parents=True)
    (run / "answers.jsonl").write_text(json.dumps({"id": "a", "model_id": "m+adapter@old"}) + "\n")
    assert _set_aside_stale(run, "m+adapter@old") is None and run.exists()  # same model: resume
    moved = _set_aside_stale(run, "m+adapter@new")
    assert moved is not None and not run.exists()
    assert json.loads((moved / "answers.jsonl").read_text())["model_id"] == "m+adapter@old"
    assert _set_aside_stale(run, "anything") is None  # nothing left to move
