"""Generation renders prompts with the chat template training uses: the config's, else the
adapter's tokenizer's, else the model's (one resolution for the transformers and vLLM backends)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_gpu_path import fake_vllm  # noqa: F401  (the fake vLLM modules)

from heartgrpo.config.run import load_config

#: a template no tokenizer ships: every turn as <<role|content>>, the generation prompt as <<assistant|
DISTINCT = ("{% for m in messages %}<<{{ m['role'] }}|{{ m['content'] }}>>{% endfor %}"
            "{% if add_generation_prompt %}<<assistant|{% endif %}")
PROMPTS = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is chest pain after running serious?"}],
           [{"role": "user", "content": "What does a murmur mean?"}]]


def _with_template(tmp_path: Path, tiny: Path, name: str, template: str) -> Path:
    """A copy of ``tiny``'s tokenizer files whose chat template is ``template`` (as an adapter saves it)."""
    out = tmp_path / name
    out.mkdir()
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny / f, out / f)
    cfg = json.loads((out / "tokenizer_config.json").read_text())
    cfg["chat_template"] = template
    (out / "tokenizer_config.json").write_text(json.dumps(cfg))
    return out


def _training_render(cfg, prompts) -> list[str]:
    """Prompts as GRPO renders them: TRL's templating over the trainer's processing_class."""
    from trl.data_utils import maybe_apply_chat_template

    from heartgrpo.model.backend import load_for_training

    tokenizer = load_for_training(cfg).tokenizer   # what sft.py / grpo.py pass as processing_class
    return [maybe_apply_chat_template({"prompt": p}, tokenizer)["prompt"] for p in prompts]


@pytest.mark.slow
@pytest.mark.parametrize("given", ["text", "file"])
def test_transformers_generation_renders_what_training_renders(tiny_qwen3, tmp_path, given):
    from heartgrpo.eval.generators import TransformersGenerator
    from heartgrpo.pipeline import stage_generator

    template = DISTINCT
    if given == "file":
        template = str(tmp_path / "template.jinja")
        Path(template).write_text(DISTINCT)
    cfg = load_config("configs/cpu-demo.yaml", {"model.name_or_path": str(tiny_qwen3), "model.chat_template": template,
                                                "output_dir": str(tmp_path / "run")})
    gen = stage_generator(cfg, "base", max_new_tokens=2)
    assert isinstance(gen, TransformersGenerator)
    rendered = gen.render(PROMPTS)
    assert rendered[1] == "<<user|What does a murmur mean?>><<assistant|"
    assert rendered == _training_render(cfg, PROMPTS)
    assert len(gen.generate(PROMPTS)) == 2


def test_the_template_is_the_configs_then_the_adapters_then_the_models(tiny_qwen3, tmp_path):
    from transformers import AutoTokenizer

    from heartgrpo.eval.generators import resolve_chat_template

    adapter = _with_template(tmp_path, tiny_qwen3, "adapter", "{{ 'adapter template' }}")
    model_template = AutoTokenizer.from_pretrained(tiny_qwen3).chat_template
    assert model_template and "adapter template" not in model_template
    assert resolve_chat_template(DISTINCT, tiny_qwen3, adapter) == DISTINCT
    assert resolve_chat_template(None, tiny_qwen3, adapter) == "{{ 'adapter template' }}"
    no_tokenizer = tmp_path / "weights-only"
    no_tokenizer.mkdir()
    assert resolve_chat_template(None, tiny_qwen3, no_tokenizer) == model_template
    assert resolve_chat_template(None, tiny_qwen3) == model_template
    assert resolve_chat_template(None, tmp_path / "no-such-model") is None


@pytest.mark.slow
def test_local_generator_gives_both_backends_the_same_template(fake_vllm, tiny_qwen3):
    from heartgrpo.eval.generators import local_generator

    on_vllm = local_generator(str(tiny_qwen3), backend="vllm", chat_template=DISTINCT, vllm_options={"max_model_len": 256})
    on_vllm.generate(PROMPTS)
    on_hf = local_generator(str(tiny_qwen3), backend="transformers", chat_template=DISTINCT, max_new_tokens=2)
    assert fake_vllm.built and on_vllm.llm.chats[0]["chat_template"] == DISTINCT == on_hf.tokenizer.chat_template
