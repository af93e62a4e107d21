"""The Colab/Kaggle install cells on their first run, and the four Colab notebooks, on the T4 stack.

As on Colab: a fresh kernel in a scratch folder laid out like ``/content`` runs the variant's own
install cell (``COLAB_RELEASE_TAG`` set, so the Colab branch runs), which clones heartgrpo into
``./heartgrpo`` (``HEARTGRPO_REPO`` pointed at this checkout's committed HEAD) and installs it
editable; then the next cells import heartgrpo in the same kernel: the first-run case. The
GPU-only steps are skipped (``HEARTGRPO_SKIP_GPU_INSTALL=1``) and pip runs offline: everything the
cell asks for must already be installed, as ``make test-colab`` installs exactly those lists.

The kernel runs in a scratch venv layered on this one (a ``.pth`` line adding this venv's
site-packages, whose own ``.pth`` files it does not read): the clone's editable install lands in
the scratch venv, and this venv's own install of heartgrpo is invisible to the kernel, as nothing
of heartgrpo is on a fresh Colab.
"""

from __future__ import annotations

import importlib.util
import json
import os
import site
import subprocess
import venv
from pathlib import Path

import nbformat
import pytest
from t4_stack import t4_stack_mismatch
from test_notebooks import NOTEBOOKS, cpu_parameters

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_variants", ROOT / "notebooks" / "make_variants.py")
mv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mv)

MISMATCH = t4_stack_mismatch()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MISMATCH is not None, reason=f"needs the Colab/Kaggle T4 stack (make test-colab): {MISMATCH}"),
]

PLATFORM_ENV = {"colab": {"COLAB_RELEASE_TAG": "cpu-test"}, "kaggle": {"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}}


def _scratch_venv(where: Path) -> Path:
    """A venv whose only packages are this venv's, seen through a plain path line."""
    venv.create(where, with_pip=False, symlinks=True)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "colab-stack.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def _kernel_manager(python: Path, kernel_dir: Path, env: dict[str, str]):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = kernel_dir / "colab-scratch"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "colab scratch", "language": "python", "env": env,
    }))
    return KernelManager(kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]), kernel_name="colab-scratch")


def _env(platform: str) -> dict[str, str]:
    return {
        **PLATFORM_ENV[platform],
        mv.SKIP_GPU_ENV: "1",
        mv.REPO_ENV: f"file://{ROOT}",
        "PIP_NO_INDEX": "1",              # offline: every requirement must already be satisfied
        "PIP_NO_BUILD_ISOLATION": "0",    # and the editable build uses the installed setuptools
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONPATH": "",                 # nothing of this checkout on the kernel's path
    }


def _execute(nb, content: Path, python: Path, platform: str, timeout: int = 600):
    from nbclient import NotebookClient

    km = _kernel_manager(python, content.parent / "kernels", _env(platform))
    NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(content)}}).execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]


def _first_cells(platform: str, name: str, params: str):
    """The variant's cells up to the first code cell after ``parameters`` (the set-up cell's
    ``open_run(CONFIG, OVERRIDES)``), the parameters injected, and a check cell."""
    nb = nbformat.read(ROOT / "notebooks" / platform / name, as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    setup = next(i for i in range(idx + 1, len(nb.cells)) if nb.cells[i].cell_type == "code")
    cells = nb.cells[: setup + 1]
    cells.insert(idx + 1, nbformat.v4.new_code_cell(params))
    cells.append(nbformat.v4.new_code_cell("import heartgrpo.config.run\nprint('HEARTGRPO_FILE=' + heartgrpo.__file__)"))
    nb.cells = cells
    return nb


def _printed(nb, marker: str) -> str:
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(marker))


@pytest.fixture(scope="module")
def colab_content(tmp_path_factory):
    """A /content-like folder (empty until the install cell clones into it) and its kernel's python."""
    base = tmp_path_factory.mktemp("colab")
    content = base / "content"
    content.mkdir()
    return content, _scratch_venv(base / "venv")


@pytest.mark.parametrize("platform", ["colab", "kaggle"])
def test_install_cell_first_run_then_imports_in_the_same_kernel(platform, tmp_path, tiny_qwen3):
    content = tmp_path / "content"
    content.mkdir()
    python = _scratch_venv(tmp_path / "venv")
    nb = _first_cells(platform, NOTEBOOKS[0], cpu_parameters(tmp_path / "run", tiny_qwen3))
    errors = _execute(nb, content, python, platform)
    assert not errors, [e.get("evalue") for e in errors]
    clone = content / "heartgrpo"
    assert Path(_printed(nb, "HEARTGRPO_FILE")).resolve() == (clone / "heartgrpo" / "__init__.py").resolve()
    # the editable install is real: a restarted kernel (a new interpreter, in /content) imports the
    # clone's modules through it (there ./heartgrpo is still a namespace; its finder maps the submodules)
    fresh = subprocess.run([str(python), "-c", "import heartgrpo.config.run; print(heartgrpo.config.run.__file__)"],
                           cwd=content, capture_output=True, text=True, env={**os.environ, **_env(platform)})
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert Path(fresh.stdout.strip()).resolve() == (clone / "heartgrpo" / "config" / "run.py").resolve()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_notebook_runs_on_cpu(name, colab_content, tiny_qwen3):
    """The four Colab notebooks in order, each in a fresh kernel in the same /content, with the
    CPU config (01 writes the data 02 trains on, and so on)."""
    content, python = colab_content
    nb = nbformat.read(ROOT / "notebooks" / "colab" / name, as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(cpu_parameters(content.parent / "run", tiny_qwen3)))
    errors = _execute(nb, content, python, "colab")
    assert not errors, [f"{e.get('ename')}: {e.get('evalue')}" for e in errors]


def test_scratch_kernel_does_not_see_this_venvs_heartgrpo(tmp_path):
    """The premise of the first-run test: before the install cell, heartgrpo is not importable in
    the scratch venv from a folder holding a clone-like ./heartgrpo (just an empty namespace)."""
    python = _scratch_venv(tmp_path / "venv")
    (tmp_path / "heartgrpo" / "configs").mkdir(parents=True)
    probe = subprocess.run([str(python), "-c", "import heartgrpo; print(heartgrpo.__file__); import heartgrpo.config.run"],
                           cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert probe.stdout.strip() == "None", (probe.stdout, probe.stderr[-500:])
    assert probe.returncode == 1 and "No module named 'heartgrpo.config'" in probe.stderr
