"""Notebook 05 runs top to bottom on CPU with configs/cpu-consult.yaml (a few steps); its
Colab/Kaggle copies say it needs the workstation stack; a code cell always follows narrative."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from t4_stack import consult_trl_missing

ROOT = Path(__file__).resolve().parents[1]
NAME = "05_consultation_grpo.ipynb"


def test_narrative_before_every_cell_and_the_gpu_default() -> None:
    nb = nbformat.read(ROOT / "notebooks" / NAME, as_version=4)
    for prev, cell in zip(nb.cells, nb.cells[1:]):
        if cell.cell_type == "code":
            assert prev.cell_type == "markdown", f"code cell {cell.id} has no markdown before it"
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert 'CONFIG = "configs/qwen3-4b-consult.yaml"' in params.source
    for platform in ("colab", "kaggle"):
        copy = nbformat.read(ROOT / "notebooks" / platform / NAME, as_version=4)
        assert "needs the workstation stack" in copy.cells[1].source and "TRL 0.22.2" in copy.cells[1].source


@pytest.mark.slow
@pytest.mark.skipif(consult_trl_missing() is not None, reason=str(consult_trl_missing()))
def test_notebook_runs_on_cpu(tmp_path: Path, monkeypatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this tree's heartgrpo

    nb = nbformat.read(ROOT / "notebooks" / NAME, as_version=4)
    overrides = {"output_dir": str(tmp_path / "run"), "model.name_or_path": str(tmp_path / "model"), "sft.max_steps": 2,
                 "grpo.max_steps": 2, "grpo.num_generations": 2, "grpo.per_device_train_batch_size": 4}
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(f'CONFIG = "configs/cpu-consult.yaml"\nOVERRIDES = {json.dumps(overrides)}'))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "consult/asking_rate" in text and "reward" in text
    assert (tmp_path / "run" / "grpo" / "adapter").is_dir()
