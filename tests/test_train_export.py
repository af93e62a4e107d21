"""A merged 16-bit export computes what base + adapter computes."""

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from heartgrpo.model.export import save_merged


def test_merged_model_matches_adapter(tiny_qwen3, tmp_path):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen3)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    out = save_merged(tmp_path / "adapter", tmp_path / "merged", base=str(tiny_qwen3), dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(out)
    ids = torch.tensor([[1, 5, 9, 13, 17]])
    with torch.no_grad():
        ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_qwen3), tmp_path / "adapter")(ids).logits
        got = merged(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_qwen3)(ids).logits
    assert torch.allclose(got, ref, atol=1e-4)
    assert not torch.allclose(got, plain, atol=1e-4)  # the adapter really changed the model
    assert (out / "tokenizer.json").exists() and not (out / "adapter_config.json").exists()


def test_missing_adapter_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        save_merged(tmp_path, tmp_path / "m")


def test_lora_on_a_tied_lm_head_merges_into_the_head_only(tiny_qwen3, tmp_path):
    """The tiny Qwen3 ties lm_head to the input embeddings; merging a LoRA on lm_head into the
    shared matrix would change the embeddings too. The export unties them first."""
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen3)
    assert base.lm_head.weight.data_ptr() == base.get_input_embeddings().weight.data_ptr()  # the premise
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "lm_head"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    out = save_merged(tmp_path / "adapter", tmp_path / "merged", base=str(tiny_qwen3), dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(out)
    ids = torch.tensor([[1, 5, 9, 13, 17]])
    with torch.no_grad():
        ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_qwen3), tmp_path / "adapter")(ids).logits
        got = merged(ids).logits
    assert torch.allclose(got, ref, atol=1e-4)
    plain = AutoModelForCausalLM.from_pretrained(tiny_qwen3)
    assert torch.equal(merged.get_input_embeddings().weight, plain.get_input_embeddings().weight)
