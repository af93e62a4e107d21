"""Local-model generation through transformers (tiny offline Qwen3), with and without a LoRA adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_fakes import make_records

from heartgrpo.eval.generate import generate_answers, load_answers
from heartgrpo.eval.generators import TransformersGenerator, generation_settings, local_generator


@pytest.mark.slow
def test_transformers_generator_answers_resumably(tiny_qwen3: Path, tmp_path: Path):
    gen = local_generator(tiny_qwen3, temperature=0.0, max_new_tokens=6)
    assert isinstance(gen, TransformersGenerator)  # no GPU here: auto picks transformers
    assert gen.settings == {"backend": "transformers", "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 6, "seed": 0}
    out = tmp_path / "answers.jsonl"
    stats = generate_answers(make_records()[:3], gen, out, batch_size=2, progress=False)
    assert stats["done"] == 3
    answers = load_answers(out)
    assert set(answers) == {"hb-1", "hb-2", "hb-3"} and answers["hb-1"]["model_id"] == str(tiny_qwen3)
    # greedy decoding of a left-padded batch equals decoding the prompt alone
    alone = gen.generate([make_records()[0]["prompt"]])[0]
    assert answers["hb-1"]["response"] == alone
    assert len(gen.tokenizer(alone, add_special_tokens=False)["input_ids"]) <= 6
    assert generate_answers(make_records()[:3], gen, out, progress=False)["skipped"] == 3


@pytest.mark.slow
def test_transformers_generator_with_lora_adapter(tiny_qwen3: Path, tmp_path: Path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_qwen3)
    peft_model = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(tiny_qwen3).save_pretrained(adapter)
    plain = TransformersGenerator(tiny_qwen3, temperature=0.0, max_new_tokens=4)
    tuned = TransformersGenerator(tiny_qwen3, adapter=adapter, temperature=0.0, max_new_tokens=4)
    assert tuned.model_id.startswith(f"{tiny_qwen3}+{adapter}@")  # + a fingerprint of the adapter weights
    prompt = [make_records()[2]["prompt"]]
    enc = plain.tokenizer(plain.tokenizer.apply_chat_template(prompt[0], tokenize=False, add_generation_prompt=True), return_tensors="pt")
    with torch.no_grad():
        assert not torch.allclose(plain.model(**enc).logits, tuned.model(**enc).logits)  # the adapter is applied
    assert isinstance(tuned.generate(prompt)[0], str)


def test_generation_settings_record_every_non_empty_option():
    thinking_off = {"enable_thinking": False}
    with_kwargs = generation_settings("vllm", 0.7, 0.9, 64, 1, chat_template_kwargs=thinking_off)
    assert with_kwargs["chat_template_kwargs"] == thinking_off and with_kwargs["backend"] == "vllm"
    assert with_kwargs != generation_settings("vllm", 0.7, 0.9, 64, 1)  # a resume across them is refused
    assert "extra_body" not in generation_settings("openai", 0.7, 0.9, 64, None, extra_body={})
