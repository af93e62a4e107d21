"""API drift: every keyword the notebooks and configs send to TRL, PEFT, our own API, Unsloth and
vLLM is accepted by the installed (pinned) versions, checked by signature inspection.

A keyword the installed TRL does not know is dropped by ``filter_kwargs`` at run time; here the
pinned TRL must accept every one except the spellings kept for older TRL on purpose.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
from pathlib import Path

import nbformat
import pytest
from t4_stack import loadable_configs, t4_stack_mismatch

from heartgrpo.config.run import load_config
from heartgrpo.model.backend import _lora_config_kwargs
from heartgrpo.train.trl_config import config_fields, grpo_kwargs, sft_kwargs

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
#: spellings for TRL < 0.20 / < 0.28, sent on purpose so Colab's TRL 0.22 also gets them
LEGACY = {"SFTConfig": {"max_seq_length"}, "GRPOConfig": set()}
#: arguments TRL 0.22.2 (the Colab/Kaggle pin) does not have yet: filter_kwargs drops them there, logged
NEWER_THAN_T4_TRL = {"vllm_importance_sampling_correction"}


@pytest.mark.parametrize("on_cuda", [False, True])
@pytest.mark.parametrize("path", loadable_configs(CONFIGS), ids=lambda p: p.name)
def test_trl_config_keywords_are_accepted_by_pinned_trl(path, on_cuda, tmp_path):
    from trl import GRPOConfig, SFTConfig

    cfg = load_config(path)
    for cls, kwargs in (
        (SFTConfig, sft_kwargs(SFTConfig, cfg, tmp_path, on_cuda=on_cuda, bf16_supported=on_cuda)),
        (GRPOConfig, grpo_kwargs(GRPOConfig, cfg, tmp_path, on_cuda=on_cuda, bf16_supported=on_cuda, reward_weights=[1.0])),
    ):
        fields = config_fields(cls)
        unknown = set(kwargs) - fields - LEGACY[cls.__name__] - (NEWER_THAN_T4_TRL if t4_stack_mismatch() is None else set())
        assert not unknown, f"{path.name}: {cls.__name__} of the installed TRL rejects {sorted(unknown)}"
        assert not (LEGACY[cls.__name__] & fields), "a legacy spelling is a real field again: drop it from LEGACY"


@pytest.mark.parametrize("path", loadable_configs(CONFIGS), ids=lambda p: p.name)
def test_lora_keywords_are_accepted_by_pinned_peft(path):
    from peft import LoraConfig

    kwargs = _lora_config_kwargs(load_config(path))
    fields = {f.name for f in dataclasses.fields(LoraConfig)}
    assert set(kwargs) <= fields, sorted(set(kwargs) - fields)


def _calls(source: str):
    """(module, function name, keywords) for every call of a name imported with `from m import f`."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported:
            keywords = [k.arg for k in node.keywords if k.arg is not None]
            yield (*imported[node.func.id], keywords)


def _check_calls(source: str) -> tuple[int, list[str]]:
    """(number of calls checked, problems) for the package/TRL/transformers/PEFT calls in ``source``."""
    checked, problems = 0, []
    for module, name, keywords in _calls(source):
        if module.split(".")[0] not in {"heartgrpo", "trl", "transformers", "peft"} or not keywords:
            continue
        params = inspect.signature(getattr(importlib.import_module(module), name)).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue
        problems += [f"{module}.{name} takes no keyword {k!r}" for k in keywords if k not in params]
        checked += 1
    return checked, problems


def test_notebook_calls_use_keywords_the_functions_accept():
    total = 0
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        checked, problems = _check_calls("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
        assert not problems, f"{path.name}: {problems}"
        total += checked
    assert total >= 4  # the notebooks really call the package with keywords


def test_drift_check_catches_a_renamed_keyword():
    checked, problems = _check_calls("from heartgrpo.pipeline import stage_grpo\nstage_grpo(cfg, resume_training=True)")
    assert checked == 1 and problems == ["heartgrpo.pipeline.stage_grpo takes no keyword 'resume_training'"]


@pytest.mark.skipif(importlib.util.find_spec("unsloth") is None, reason="Unsloth is installed only on GPU machines")
def test_unsloth_keywords():  # pragma: no cover - GPU only
    from unsloth import FastLanguageModel

    params = inspect.signature(FastLanguageModel.from_pretrained).parameters
    for key in ("model_name", "max_seq_length", "load_in_4bit", "fast_inference", "max_lora_rank", "gpu_memory_utilization"):
        assert key in params


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed here (GPU machines; make test-vllm runs the CPU build)")
def test_vllm_sampling_keywords():  # pragma: no cover - GPU only
    from vllm import SamplingParams

    params = inspect.signature(SamplingParams).parameters
    for key in ("temperature", "top_p", "top_k", "min_p", "max_tokens", "seed"):
        assert key in params
