"""A tiny random-weight Qwen3 with a locally trained tokenizer, for offline tests and smoke runs.

Nothing is downloaded: the tokenizer is a byte-level BPE trained with the ``tokenizers`` library
on a built-in corpus (plus any texts given), the model is ``Qwen3ForCausalLM`` built from a
``Qwen3Config`` (hidden 64, 2 layers) with random weights. The chat template is ChatML, the
format of Qwen3's own, with ``{% generation %}`` markers so TRL's ``assistant_only_loss`` works.

Example:
    >>> path = build_tiny_qwen3("/tmp/tiny-qwen3")          # doctest: +SKIP
    >>> AutoModelForCausalLM.from_pretrained(path)           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["CHATML_TEMPLATE", "SPECIAL_TOKENS", "build_tiny_qwen3", "random_lora_adapter", "train_tokenizer"]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: ChatML with generation markers around assistant content (for assistant-only loss).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "Chest pain radiating to the left arm with sweating needs an ECG and emergency care.",
    "Atrial fibrillation raises stroke risk; anticoagulation is guided by the CHA2DS2-VASc score.",
    "Heart failure with reduced ejection fraction is treated with ACE inhibitors, beta blockers and SGLT2 inhibitors.",
    "Blood pressure above 140/90 mmHg on repeated readings suggests hypertension.",
    "Aortic stenosis causes a systolic ejection murmur, syncope and angina.",
    "<start_working_out> reasoning <end_working_out> <SOLUTION> answer </SOLUTION>",
    "<think> thinking </think> The patient should call emergency services.",
    "yes no true false criteria_met explanation {\"criteria_met\": true, \"explanation\": \"ok\"}",
]


def train_tokenizer(texts: Iterable[str] = (), vocab_size: int = 512):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on the built-in corpus plus ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = list(_CORPUS) + list(texts)
    tok.train_from_iterator(corpus * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
        model_input_names=["input_ids", "attention_mask"],  # no token_type_ids (transformers 4.x adds them)
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_qwen3(
    out_dir: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int = 512,
    seed: int = 0,
    texts: Iterable[str] = (),
) -> Path:
    """Build and save a tiny random Qwen3 and its tokenizer in ``out_dir``; returns the path.

    Reuses ``out_dir`` when it already holds a saved model and tokenizer. Writes into a temporary
    sibling and renames it, so processes building it at once never see a half-written model.
    """
    import os
    import shutil

    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    final = Path(out_dir)
    if (final / "config.json").exists() and (final / "tokenizer.json").exists():
        return final
    out = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if (final / "config.json").exists() and (final / "tokenizer.json").exists():  # another process won
        shutil.rmtree(out, ignore_errors=True)
        return final
    if final.exists():  # an empty or partial directory of an older build
        shutil.rmtree(final)
    out.rename(final)
    return final


def random_lora_adapter(base: str | Path, out: str | Path, r: int = 16, seed: int = 0) -> Path:
    """A PEFT LoRA of rank ``r`` (alpha ``2r``, ``q_proj``/``v_proj``) on ``base`` with random A and
    B ~ N(0, 0.3) (PEFT starts B at zero, which would leave the model unchanged), saved to ``out``
    with the base's tokenizer, as every trained adapter is: an adapter that changes the outputs,
    for engine tests and generation benchmarks."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.3)
    peft.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(out))
    return Path(out)
