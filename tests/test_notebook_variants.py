"""Colab/Kaggle variants are generated from the main notebooks, valid, and not stale."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_variants", ROOT / "notebooks" / "make_variants.py")
mv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mv)


def _tagged(nb, tag):
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("platform", sorted(mv.PLATFORMS))
@pytest.mark.parametrize("name", mv.NOTEBOOKS)
def test_variant_is_valid_and_differs_only_where_it_should(platform, name):
    src = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    path = ROOT / "notebooks" / platform / name
    var = nbformat.read(path, as_version=4)
    nbformat.validate(var)
    badge = var.cells[0]
    assert "badge" in badge.metadata.get("tags", []) and name in badge.source
    assert ("colab" if platform == "colab" else "kaggle") in badge.source.lower()
    (params,) = _tagged(var, "parameters")
    assert f'CONFIG = "{mv.PLATFORMS[platform]["config"]}"' in params.source
    assert (ROOT / mv.PLATFORMS[platform]["config"]).exists()
    (install,) = _tagged(var, "install")
    assert "trl==0.22.2" in install.source and "--no-deps" in install.source
    # every other cell is the source's cell, unchanged
    rest_src = [c.source for c in src.cells if not {"install", "install-notes", "parameters"} & set(c.metadata.get("tags", []))]
    rest_var = [c.source for c in var.cells[1:] if not {"install", "install-notes", "parameters"} & set(c.metadata.get("tags", []))]
    assert rest_src == rest_var


@pytest.mark.parametrize("platform", sorted(mv.PLATFORMS))
@pytest.mark.parametrize("name", mv.NOTEBOOKS)
def test_install_notes_say_what_the_install_cell_installs(platform, name):
    src = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    var = nbformat.read(ROOT / "notebooks" / platform / name, as_version=4)
    (notes,), (install,) = _tagged(var, "install-notes"), _tagged(var, "install")
    assert var.cells[var.cells.index(notes) + 1] is install  # the markdown right above the cell
    assert notes.source.splitlines()[0] == _tagged(src, "install-notes")[0].source.splitlines()[0]  # heading, anchor
    installed = [spec for _, spec in _pip_specs(install.source)]
    assert installed and all(f"`{spec}`" in notes.source for spec in installed), [s for s in installed if s not in notes.source]
    assert "installs nothing" not in notes.source and mv.PLATFORMS[platform]["notes"] in notes.source
    no_deps = [line for line in notes.source.splitlines() if "--no-deps" in line]
    assert no_deps and all(f"`{s}`" in no_deps[0] for s in mv.requirements(mv.STACK_DIR / "no-deps.txt"))


def test_variants_are_not_stale():
    stale = mv.stale_variants()
    assert stale == [], f"regenerate with: python notebooks/make_variants.py ({stale})"


def test_stale_check_detects_an_edit(tmp_path):
    for name in mv.NOTEBOOKS + mv.WORKSTATION_ONLY:
        (tmp_path / name).write_text((ROOT / "notebooks" / name).read_text())
    for path, text in mv.expected_variants(tmp_path).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert mv.stale_variants(tmp_path) == []
    nb = json.loads((tmp_path / mv.NOTEBOOKS[0]).read_text())
    nb["cells"].append({"cell_type": "markdown", "id": "new-cell", "metadata": {}, "source": "new"})
    (tmp_path / mv.NOTEBOOKS[0]).write_text(json.dumps(nb))
    assert set(mv.stale_variants(tmp_path)) == {tmp_path / p / mv.NOTEBOOKS[0] for p in mv.PLATFORMS}


def test_missing_tag_is_a_clear_error():
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None}]}
    with pytest.raises(ValueError, match="tagged 'install'"):
        mv.make_variant(nb, "colab", "x.ipynb")


ML_PACKAGES = {"torch", "torchvision", "torchaudio", "xformers", "transformers", "trl", "vllm", "triton", "unsloth",
               "unsloth_zoo", "bitsandbytes", "peft", "datasets", "accelerate", "torchao"}


def _pip_specs(source: str) -> list[tuple[str, str]]:
    """(block, requirement) for every quoted requirement of a ``%pip install`` line; block is the
    ``if`` line the install sits under ('' at top level)."""
    import re

    out, block = [], ""
    for line in source.splitlines():
        if line.startswith("if "):
            block = line
        elif line and not line.startswith(" "):
            block = ""
        if line.strip().startswith("%pip install"):
            out += [(block, spec) for spec in re.findall(r'"([^"]+)"', line)]
    return out


@pytest.mark.parametrize("platform", sorted(mv.PLATFORMS))
def test_install_cell_pins_the_ml_stack_and_bounds_the_rest(platform):
    from packaging.requirements import Requirement

    var = nbformat.read(ROOT / "notebooks" / platform / mv.NOTEBOOKS[0], as_version=4)
    (install,) = _tagged(var, "install")
    specs = _pip_specs(install.source)
    reqs = {Requirement(s).name.lower().replace("-", "_"): Requirement(s) for _, s in specs}
    assert ML_PACKAGES <= set(reqs), sorted(ML_PACKAGES - set(reqs))
    for name, req in reqs.items():
        ops = {s.operator for s in req.specifier}
        if name in ML_PACKAGES:
            assert ops == {"=="}, f"{platform}: {req} must be pinned exactly"
        else:
            assert ops & {"==", "<", "<=", "~="}, f"{platform}: {req} has no upper bound"
    # the lists are the stack files' (one definition), GPU-only steps under the skip switch
    for step in mv.STACK_STEPS:
        for r in mv.requirements(mv.STACK_DIR / step["file"]):
            (block,) = [b for b, s in specs if s == r]
            assert ("not SKIP_GPU_INSTALL" in block) is step["gpu"], (r, block)
    assert reqs["vllm"].specifier == Requirement("vllm==0.9.2").specifier  # V0 engine: a T4 is compute capability 7.5
    assert reqs["triton"].specifier == Requirement("triton==3.2.0").specifier
    assert reqs["openai"].specifier.contains("1.90.0") and not reqs["openai"].specifier.contains("3.0.0")
    assert "httpx_aiohttp" in reqs  # the judge's aiohttp transport
    assert '"--no-deps" ' not in install.source and '%pip install -q --no-deps "trl==0.22.2"' in install.source


def test_kaggle_cell_is_its_own_not_a_copy():
    colab, kaggle = (_tagged(nbformat.read(ROOT / "notebooks" / p / mv.NOTEBOOKS[0], as_version=4), "install")[0].source
                     for p in ("colab", "kaggle"))
    assert "COLAB_RELEASE_TAG" in colab and "KAGGLE_KERNEL_RUN_TYPE" not in colab
    assert "KAGGLE_KERNEL_RUN_TYPE" in kaggle and "COLAB" not in kaggle
    assert "Internet" in kaggle and "urlopen" in kaggle  # Kaggle notebooks start offline
    assert 'CUDA_VISIBLE_DEVICES", "0"' in kaggle          # "GPU T4 x2": one process, one GPU
    assert colab.replace("COLAB", "KAGGLE") != kaggle


def test_t4_stack_installs_every_runtime_dependency_of_the_package():
    """heartgrpo goes in with --no-deps there, so the stack files must name each of its dependencies."""
    import tomllib

    from packaging.requirements import Requirement

    def norm(name):
        return name.lower().replace("-", "_")

    deps = {norm(Requirement(d).name) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    stack = {norm(Requirement(r).name) for step in mv.STACK_STEPS for r in mv.requirements(mv.STACK_DIR / step["file"])}
    assert deps <= stack, f"add to notebooks/t4-stack/common.txt: {sorted(deps - stack)}"
