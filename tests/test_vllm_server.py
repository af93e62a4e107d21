"""``grpo.vllm_mode: server``: config validation, the health check against loopback servers that
answer, hang or are not there, the TRL arguments, and the judge's replica/limit settings."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from heartgrpo.config.run import ConfigError, config_from_dict
from heartgrpo.io.loopback import LoopbackServer, Reply
from heartgrpo.model.vllm_server import VLLMServerUnavailable, check_vllm_server, require_vllm_server


def _raw(**grpo) -> dict:
    return {"name": "t", "model": {"name_or_path": "m", "backend": "hf"},
            "grpo": {"use_vllm": True, "vllm_mode": "server", "num_generations": 2, "per_device_train_batch_size": 2, **grpo}}


def _host_port(server: LoopbackServer) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").removesuffix("/v1").rsplit(":", 1)
    return host, int(port)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("vllm_server_port", 0, "greater than or equal to 1"),
    ("vllm_server_port", 70000, "less than or equal to 65535"),
    ("vllm_server_timeout", -1, "greater than 0"),
    ("vllm_server_host", "", "at least 1 character"),
    ("vllm_server_host", "http://x y", "should match pattern"),
    ("vllm_mode", "remote", "'colocate' or 'server'"),
])
def test_nonsense_server_settings_are_config_errors(key: str, value, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        config_from_dict(_raw(**{key: value}))
    assert f"grpo.{key}" in str(err.value)


def test_backend_rules_are_stated() -> None:
    with pytest.raises(ConfigError, match="Unsloth is single-GPU with colocated vLLM"):
        config_from_dict({**_raw(), "model": {"name_or_path": "m", "backend": "unsloth"}})
    with pytest.raises(ConfigError, match="needs grpo.vllm_mode 'server'"):
        config_from_dict(_raw(vllm_mode="colocate"))
    cfg = config_from_dict(_raw(vllm_server_host="10.0.0.2", vllm_server_port=8001, vllm_server_timeout=30))
    assert (cfg.grpo.vllm_server_host, cfg.grpo.vllm_server_port) == ("10.0.0.2", 8001)


def test_trl_receives_the_server_settings() -> None:
    from trl import GRPOConfig

    from heartgrpo.train.trl_config import grpo_kwargs

    cfg = config_from_dict(_raw(vllm_server_host="10.0.0.2", vllm_server_port=8001, vllm_server_timeout=30))
    kwargs = grpo_kwargs(GRPOConfig, cfg, Path("/tmp/x"), on_cuda=True)
    assert (kwargs["use_vllm"], kwargs["vllm_mode"], kwargs["vllm_server_host"], kwargs["vllm_server_port"],
            kwargs["vllm_server_timeout"]) == (True, "server", "10.0.0.2", 8001, 30)


def test_health_check_passes_against_a_server_that_answers() -> None:
    with LoopbackServer(lambda req, i: Reply(body={"status": "ok"})) as server:
        host, port = _host_port(server)
        check = check_vllm_server(host, port, timeout=5)
        cfg = config_from_dict(_raw(vllm_server_host=host, vllm_server_port=port))
        assert check.ok and require_vllm_server(cfg.grpo).ok
        assert server.requests == [{"raw": ""}, {"raw": ""}]  # two bodiless GET /health


def test_health_check_fails_fast_when_the_server_hangs_or_is_absent() -> None:
    with LoopbackServer(lambda req, i: Reply(body={}, delay=5)) as server:
        host, port = _host_port(server)
        t0 = time.perf_counter()
        check = check_vllm_server(host, port, timeout=0.5)
        assert not check.ok and "within 0.5 s" in check.detail and time.perf_counter() - t0 < 3
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check = check_vllm_server("127.0.0.1", port, timeout=2)
    assert not check.ok and "cannot connect" in check.detail
    cfg = config_from_dict(_raw(vllm_server_host="127.0.0.1", vllm_server_port=port))
    with pytest.raises(VLLMServerUnavailable, match=f"127.0.0.1:{port} does not answer.*trl vllm-serve"):
        require_vllm_server(cfg.grpo)
    with LoopbackServer(lambda req, i: Reply(status=503, body={"error": "loading"})) as server:
        assert "HTTP 503" in check_vllm_server(*_host_port(server), timeout=2).detail


def test_run_grpo_checks_the_server_before_loading_any_model(tmp_path: Path, monkeypatch) -> None:
    from heartgrpo.model import backend
    from heartgrpo.train import grpo

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the server check")

    monkeypatch.setattr(backend, "load_for_training", no_load)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = config_from_dict({**_raw(vllm_server_port=port), "output_dir": str(tmp_path)})
    with pytest.raises(VLLMServerUnavailable):
        grpo.run_grpo(cfg, [{"id": "a", "prompt": "q", "rubrics": [{"criterion": "c", "points": 1}]}], judge=object())


def test_judge_replicas_and_limits_in_the_config() -> None:
    from heartgrpo.judge.factory import build_judge

    base = {"kind": "openai", "model": "judge"}
    cfg = config_from_dict({"name": "t", "model": {"name_or_path": "m"},
                            "judge": {**base, "base_url": ["http://a/v1", "http://b/v1"], "requests_per_minute": 120, "workers": 1}})
    judge = build_judge(cfg.judge)
    assert [r.url for r in judge.endpoints.replicas] == ["http://a/v1", "http://b/v1"]
    assert judge.endpoints.limiter.requests_per_minute == 120
    for bad in ({"base_url": []}, {"base_url": ["http://a/v1", "http://a/v1"]}, {"requests_per_minute": 0}):
        with pytest.raises(ConfigError):
            config_from_dict({"name": "t", "model": {"name_or_path": "m"}, "judge": {**base, **bad}})


@pytest.mark.parametrize(("name", "kind", "detail"), [
    ("ddp", "MULTI_GPU", None), ("zero2", "DEEPSPEED", 2), ("zero3", "DEEPSPEED", 3), ("fsdp2", "FSDP", 2), ("cpu-2proc", "MULTI_GPU", None),
])
def test_shipped_accelerate_configs_load_and_are_documented(name: str, kind: str, detail) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    root = Path(__file__).resolve().parent.parent
    cfg = load_config_from_file(str(root / "configs" / "accelerate" / f"{name}.yaml"))
    assert cfg.distributed_type.name == kind and cfg.num_processes == 2
    if kind == "DEEPSPEED":
        assert cfg.deepspeed_config["zero_stage"] == detail
    if kind == "FSDP":
        assert cfg.fsdp_config["fsdp_version"] == detail and cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert cfg.use_cpu is (name == "cpu-2proc")
    assert f"configs/accelerate/{name}.yaml" in (root / "docs" / "scaling.md").read_text()


def test_doctor_reports_whether_the_generation_server_answers() -> None:
    from heartgrpo.doctor.report import render_markdown, static_report

    env = {"python": "3.11", "platform": "linux", "torch": "2.13.0+cpu", "torch_cuda": None, "driver": None,
           "cuda_available": False, "gpus": []}
    with LoopbackServer(lambda req, i: Reply(body={"status": "ok"})) as server:
        host, port = _host_port(server)
        report = static_report(config_from_dict(_raw(vllm_server_host=host, vllm_server_port=port)), env=env)
    assert report["vllm_server"]["ok"] and not [p for p in report["problems"] if "vLLM server" in p]
    assert "answers (GET /health answered 200)" in render_markdown(report)
    report = static_report(config_from_dict(_raw(vllm_server_host=host, vllm_server_port=port)), env=env)  # now stopped
    assert not report["vllm_server"]["ok"] and report["status"] == "problems"
    assert any(f"{host}:{port} does not answer" in p for p in report["problems"])
    assert "vllm_server" not in static_report(config_from_dict({"name": "t", "model": {"name_or_path": "m", "backend": "hf"}}), env=env)
