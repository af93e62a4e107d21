"""The four main notebooks run top to bottom on CPU with the embedded default config.

Parameters are injected after the cell tagged ``parameters``, as papermill does, so the cells
that run are exactly the notebook's own: ``configs/cpu-demo.yaml`` with a few overrides that keep
the suite fast (the tiny offline Qwen3 in place of SmolLM2, two steps per stage; ``make demo``
runs the full embedded default). The notebooks share one output directory and run in
order (01 builds the data that 02 trains on, and so on).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from t4_stack import t4_stack_mismatch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["01_data_prep.ipynb", "02_sft_warm_start.ipynb", "03_grpo_unsloth_vllm.ipynb", "04_evaluation.ipynb"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook-run")


def _inject(nb, params: str):
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(idx + 1, cell)
    return nb


def test_parameter_cell_defaults_to_the_paper_config():
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        tree = ast.parse(params.source)
        values = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
        assert values["CONFIG"] == "configs/qwen3-14b-rtx6000pro.yaml", name
        assert (ROOT / values["CONFIG"]).exists()
        # narrative before every code cell, as in Unsloth's notebooks
        for prev, cell in zip(nb.cells, nb.cells[1:]):
            if cell.cell_type == "code":
                assert prev.cell_type == "markdown", f"{name}: code cell {cell.id} has no markdown before it"


def cpu_parameters(run_dir: Path, tiny_qwen3: Path) -> str:
    """The parameters injected after the ``parameters`` cell: the CPU config, kept fast."""
    overrides = {
        "output_dir": str(run_dir),
        "model.name_or_path": str(tiny_qwen3),
        "lora.r": 4,
        "lora.alpha": 8,
        "sft.max_steps": 2,
        "sft.save_steps": 2,
        "sft.max_length": 2048,
        "grpo.max_steps": 2,
        "grpo.save_steps": 2,
        "grpo.num_generations": 2,
        "grpo.per_device_train_batch_size": 2,
        "grpo.max_completion_length": 6,
        "data.eval_n": 3,
        "eval.n": 3,
        "eval.max_new_tokens": 6,
        "eval.n_bootstrap": 50,
        "judge.kind": "approximate",
    }
    return f'CONFIG = "configs/cpu-demo.yaml"\nOVERRIDES = {json.dumps(overrides)}\nMAX_NEW_TOKENS = 6'


@pytest.mark.slow
@pytest.mark.skipif(t4_stack_mismatch() is None, reason="on the Colab/Kaggle T4 stack the Colab variants run instead (test_colab_notebooks.py)")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_on_cpu(name, run_dir, tiny_qwen3):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    _inject(nb, cpu_parameters(run_dir, tiny_qwen3))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
