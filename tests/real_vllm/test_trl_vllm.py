"""TRL 1.14.2's two vLLM modes on the CPU build, as far as they run: ``grpo.vllm_mode: server``
generates through the real server but cannot sync weights (NCCL needs CUDA), ``trl vllm-serve``
itself does not start, and colocated vLLM fails at its first weight sync. docs/scaling.md says
what follows; each test here fails when the library behind it changes, so the doc can be revisited.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from vllm_helpers import free_port


def _root(base_url: str) -> str:
    return base_url.removesuffix("/v1")


def test_health_check_and_trl_client_generation_against_the_server(vllm_server):
    from trl.generation.vllm_client import VLLMClient

    from heartgrpo.config.run import GRPOSettings
    from heartgrpo.model.vllm_server import require_vllm_server

    base_url, _ = vllm_server
    host, port = _root(base_url).removeprefix("http://").split(":")
    grpo = GRPOSettings(use_vllm=True, vllm_mode="server", vllm_server_host=host, vllm_server_port=int(port))
    assert require_vllm_server(grpo).ok  # the pre-flight check of run_grpo, against the real server
    client = VLLMClient(base_url=_root(base_url), connection_timeout=60)
    assert client.get_world_size() == 1
    out = client.generate(["The heart pumps"], max_tokens=6, temperature=0.0)
    assert len(out["prompt_ids"]) == 1 and len(out["completion_ids"][0]) == 6 and len(out["logprobs"][0]) == 6
    # what GRPOTrainer calls next with vllm_mode server, on the CPU trainer's device
    with pytest.raises(NotImplementedError, match="NCCL weight-transfer engine, which needs a CUDA device"):
        client.init_communicator(device="cpu")


def test_trl_vllm_serve_does_not_start_on_the_cpu_build(demo_model):
    proc = subprocess.run([sys.executable, "-m", "trl.scripts.vllm_serve", "--model", str(demo_model), "--host", "127.0.0.1",
                           "--port", str(free_port())], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "No package metadata was found for vllm" in proc.stderr, proc.stderr[-2000:]


def test_colocated_weight_sync_fails_on_the_cpu_build(demo_model):
    import torch
    from transformers import AutoModelForCausalLM

    from heartgrpo.eval.generators import VLLMGenerator

    gen = VLLMGenerator(demo_model, temperature=0.0, max_new_tokens=4, max_model_len=256)
    # TRL's colocate sync_weights (trl/generation/vllm_generation.py) pushes each parameter so:
    runner_model = gen.llm.llm_engine.model_executor.driver_worker.model_runner.model
    hf = AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32)
    name, param = next((n, p) for n, p in hf.named_parameters() if n.endswith("q_proj.weight"))
    with pytest.raises(AttributeError, match="'Parameter' object has no attribute 'weight_loader'"):
        runner_model.load_weights([(name, param.detach())])
