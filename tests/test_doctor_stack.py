"""``heartgrpo doctor`` checks the installed stack against its own pins: ``pyproject.toml`` on the
pinned stack, the T4 install cells' lists (``notebooks/t4-stack/*.txt``) on the Colab/Kaggle stack.
Run on both venvs: each asserts what its own stack must show."""

from __future__ import annotations

import importlib.util

import pytest
from packaging.requirements import Requirement
from t4_stack import ROOT, on_t4_stack, t4_stack_mismatch

from heartgrpo.config.run import load_config
from heartgrpo.doctor.report import pinned_versions, render_markdown, static_report
from heartgrpo.doctor.stack import STACK_DIR, T4_STEPS, pin_source, read_requirements, t4_requirements, which_stack

CPU_ENV = {"python": "3.11", "platform": "linux", "torch": "2.13.0+cpu", "torch_cuda": None, "driver": None, "cuda_available": False, "gpus": []}


def _cpu_report():
    return static_report(load_config("configs/cpu-demo.yaml", {"judge.kind": "approximate", "model.name_or_path": "Qwen/Qwen3-0.6B"}),
                         env=CPU_ENV)


def test_the_stack_found_is_the_one_installed():
    # the T4 stack is installed exactly when its TRL line is (the full list check of tests/t4_stack.py)
    assert on_t4_stack() is (t4_stack_mismatch() is None)
    assert (which_stack("0.22.2"), which_stack("0.29.0"), which_stack("1.0.0"), which_stack("1.14.2")) == ("t4", "t4", "pinned", "pinned")


def test_the_report_names_its_pin_source_and_finds_no_mismatch_on_this_stack():
    report = _cpu_report()
    src = report["pin_source"]
    assert src["stack"] == which_stack()
    pin_problems = [p for p in report["problems"] if " pins " in p]
    if on_t4_stack():
        wanted = {Requirement(r).name for name, gpu_only in T4_STEPS if not gpu_only for r in read_requirements(STACK_DIR / name)}
        assert {p["package"] for p in report["pins"]} == wanted          # the lists the CPU install cells install
        assert src["source"].startswith("notebooks/t4-stack/") and src["left_out"] == ["gpu.txt (installed on a GPU only)",
                                                                                         "gpu-override.txt (installed on a GPU only)"]
        assert all(p["ok"] is True for p in report["pins"]), [p for p in report["pins"] if p["ok"] is not True]
        assert {p["source"] for p in report["pins"]} == {"common.txt", "no-deps.txt"}
    else:
        assert src["source"] == "pyproject.toml" and not src["left_out"]
        assert all(p["ok"] is not False for p in report["pins"] if p["group"] == "core")
        assert {"trl", "transformers", "torch"} <= {p["package"] for p in report["pins"] if p["group"] == "core"}
    assert pin_problems == []
    md = render_markdown(report)
    assert f"Stack: {src['stack']}; pins from {src['source']}" in md


def test_the_t4_reader_reads_the_lists_the_install_cells_install():
    spec = importlib.util.spec_from_file_location("make_variants", ROOT / "notebooks" / "make_variants.py")
    mv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mv)
    assert [(s["file"], s["gpu"]) for s in mv.STACK_STEPS] == list(T4_STEPS)   # the cells' steps, in their order
    rows = t4_requirements(gpu=True)
    for name, _ in T4_STEPS:
        assert [r for r, _, f in rows if f == name] == mv.requirements(STACK_DIR / name)
    assert ("trl==0.22.2", "core", "no-deps.txt") in rows and ("torch==2.7.0", "gpu", "gpu.txt") in rows
    assert {g for _, g, _ in t4_requirements(gpu=False)} == {"core"}
    on_gpu = pin_source(gpu=True, stack="t4")
    assert on_gpu.left_out == [] and {f for _, _, f in on_gpu.requirements} == {n for n, _ in T4_STEPS}


def _stack(tmp_path, common: str, no_deps: str = "packaging>=20  # inline comment\n"):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "gpu.txt").write_text("# step 1\ntorch==0.0.1\n")
    (tmp_path / "gpu-override.txt").write_text("triton==0.0.1\n")
    (tmp_path / "common.txt").write_text(common)
    (tmp_path / "no-deps.txt").write_text(no_deps)
    return tmp_path


def test_the_t4_reader_on_a_list_of_its_own(tmp_path):
    stack = _stack(tmp_path / "stack", "# a header\n\npytest>=1\n  nosuch-distribution-here==1.0   # not installed\npackaging<1\n")
    assert read_requirements(stack / "common.txt") == ["pytest>=1", "nosuch-distribution-here==1.0", "packaging<1"]
    source = pin_source(gpu=False, stack="t4", stack_dir=stack)
    assert [r for r, _, _ in source.requirements] == ["pytest>=1", "nosuch-distribution-here==1.0", "packaging<1", "packaging>=20"]
    assert len(source.left_out) == 2
    rows = {(p["package"], p["wanted"]): p for p in pinned_versions(source)}
    assert rows[("pytest", ">=1")]["ok"] is True and rows[("packaging", ">=20")]["ok"] is True
    assert rows[("nosuch-distribution-here", "==1.0")]["ok"] is None and rows[("nosuch-distribution-here", "==1.0")]["installed"] is None
    assert rows[("packaging", "<1")]["ok"] is False and rows[("packaging", "<1")]["source"] == "common.txt"
    on_gpu = {p["package"]: p for p in pinned_versions(pin_source(gpu=True, stack="t4", stack_dir=stack))}
    assert on_gpu["torch"]["ok"] is False and on_gpu["torch"]["group"] == "gpu"      # a GPU box checks step 1 too
    with pytest.raises(ValueError, match="no requirement"):
        read_requirements(_stack(tmp_path / "empty", "# nothing but a comment\n") / "common.txt")
    gone = pin_source(gpu=False, stack="t4", stack_dir=tmp_path / "absent")
    assert gone.source.startswith("pyproject.toml") and gone.left_out
