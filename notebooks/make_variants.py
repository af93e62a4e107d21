"""Generate the Colab and Kaggle variants of the four main notebooks.

The main notebooks under ``notebooks/`` are the sources. A variant differs from its source only in
three places, each found by a cell tag:

* ``install``    the install cell: replaced by the platform's pinned install cell;
* ``install-notes`` the markdown before it: its heading kept, its text rewritten from the same
  lists (:func:`install_notes`), so it says what the cell installs;
* ``parameters`` the papermill parameter cell: ``CONFIG = "..."`` points at the T4 config;
* a new first markdown cell (tag ``badge``) with the "Open in Colab/Kaggle" badge.

The install cells are written from ``notebooks/t4-stack/*.txt`` (:data:`STACK_STEPS`), the same
files ``make test-colab`` installs, so the lists cannot drift apart. Two environment variables
change what a cell does: ``HEARTGRPO_SKIP_GPU_INSTALL=1`` skips the GPU-only steps (CI runs the
cell on CPU that way), ``HEARTGRPO_REPO`` is what it clones (default: the GitHub repository).

Run ``python notebooks/make_variants.py`` after editing a main notebook; ``--check`` exits 1 when a
checked-in variant is stale (the test suite runs the same check).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout's heartgrpo, when run as a script

from heartgrpo.doctor.stack import read_requirements as requirements  # noqa: E402  (one reader of the T4 lists)
NOTEBOOKS = ["01_data_prep.ipynb", "02_sft_warm_start.ipynb", "03_grpo_unsloth_vllm.ipynb", "04_evaluation.ipynb"]
#: notebooks that need the workstation stack: their variants keep the cells and say so at the top
WORKSTATION_ONLY = ["05_consultation_grpo.ipynb"]
WORKSTATION_NOTICE = (
    "**This notebook needs the workstation stack.** Multi-turn consultation GRPO uses TRL's "
    "`GRPOTrainer(rollout_func=...)` with `env_mask` (TRL >= 1.14); the {platform} stack pins TRL 0.22.2, "
    "which has neither `rollout_func` nor `environment_factory`, so the installation cell below stops with "
    "that reason. Run it on a workstation (`conda env create -f environment.yml`) with "
    "`configs/qwen3-4b-consult.yaml`, or on a CPU with `configs/cpu-consult.yaml`."
)
REPO_URL = "https://github.com/heartgrpo/heartgrpo"

#: the T4 stack, one requirements file per install step, in order (see notebooks/t4-stack/*.txt).
#: ``gpu``: installed on the platform's GPU only (``HEARTGRPO_SKIP_GPU_INSTALL=1`` skips them, as
#: ``make test-colab`` does on CPU); ``no_deps``: installed with ``--no-deps``.
STACK_DIR = HERE / "t4-stack"
STACK_STEPS = [
    {"file": "gpu.txt", "gpu": True, "no_deps": False},
    {"file": "gpu-override.txt", "gpu": True, "no_deps": False},
    {"file": "common.txt", "gpu": False, "no_deps": False},
    {"file": "no-deps.txt", "gpu": False, "no_deps": True},
]
SKIP_GPU_ENV = "HEARTGRPO_SKIP_GPU_INSTALL"
REPO_ENV = "HEARTGRPO_REPO"


def _pip_lines(stack_dir: Path, gpu: bool, indent: str) -> list[str]:
    lines = []
    for step in STACK_STEPS:
        if step["gpu"] != gpu:
            continue
        flags = "-q --no-deps" if step["no_deps"] else "-q"
        specs = " ".join(f'"{r}"' for r in requirements(stack_dir / step["file"]))
        lines.append(f"{indent}%pip install {flags} {specs}")
    return lines


def install_cell(platform: str, stack_dir: Path | None = None) -> str:
    """The source of ``platform``'s install cell, its pins read from ``notebooks/t4-stack/``."""
    spec = PLATFORMS[platform]
    stack = stack_dir or STACK_DIR
    flag = spec["flag"]
    head = [
        *spec["comment"],
        f"# {SKIP_GPU_ENV}=1 leaves the GPU-only packages out (make test-colab runs this cell on CPU that",
        f"# way); {REPO_ENV} clones another copy of heartgrpo (your fork, a tag, a local path).",
        "import importlib, os, sys",
        f"{flag} = {spec['detect']}",
        f"SKIP_GPU_INSTALL = os.environ.get(\"{SKIP_GPU_ENV}\") == \"1\"",
        *spec["before"],
        f"if {flag} and not SKIP_GPU_INSTALL:",
        *spec["gpu_checks"],
        *_pip_lines(stack, gpu=True, indent="    "),
        f"if {flag}:",
        *_pip_lines(stack, gpu=False, indent="    "),
        f"HEARTGRPO_REPO = os.environ.get(\"{REPO_ENV}\", \"{REPO_URL}\")",
        "if not os.path.isdir(\"heartgrpo/configs\"):",
        "    !git clone -q --depth 1 {HEARTGRPO_REPO} heartgrpo",
        "# heartgrpo itself goes in without its pinned deps: the stack above is what runs.",
        "%pip install -q --no-deps -e ./heartgrpo",
        "# This kernel started before that editable install, so it does not see it and would import the",
        "# clone's folder ./heartgrpo as an empty namespace package: put the clone on the path now.",
        "_clone = os.path.abspath(\"heartgrpo\")",
        "if _clone not in sys.path:",
        "    sys.path.insert(0, _clone)",
        "if \"heartgrpo\" in sys.modules and getattr(sys.modules[\"heartgrpo\"], \"__file__\", None) is None:",
        "    del sys.modules[\"heartgrpo\"]",
        "importlib.invalidate_caches()",
        "from importlib.metadata import version as _version",
        "_stale = [m for m in (\"numpy\", \"torch\") if m in sys.modules and sys.modules[m].__version__ != _version(m)]",
        "if _stale:  # imported before this cell replaced them",
        "    print(f\"{', '.join(_stale)} changed under this kernel: restart the session, then run this cell again\")",
        "import heartgrpo",
        "print(f\"heartgrpo {heartgrpo.__version__} from {os.path.dirname(heartgrpo.__file__)}\")",
    ]
    return "\n".join(head) + "\n"


def install_notes(platform: str, heading: str, stack_dir: Path | None = None) -> str:
    """The markdown above ``platform``'s install cell: ``heading``, then what the cell does, each
    requirement named as the cell installs it (read from the same ``notebooks/t4-stack/`` files)."""
    spec = PLATFORMS[platform]
    stack = stack_dir or STACK_DIR

    def listed(gpu: bool, no_deps: bool) -> str:
        reqs = [r for step in STACK_STEPS if step["gpu"] == gpu and step["no_deps"] == no_deps
                for r in requirements(stack / step["file"])]
        return ", ".join(f"`{r}`" for r in reqs)

    lines = [
        heading,
        "",
        spec["notes"],
        "This cell installs the stack Unsloth's own T4 GRPO notebooks use, pinned in `notebooks/t4-stack/`",
        "(the same lists `make test-colab` installs):",
        "",
        f"- on the GPU only (`{SKIP_GPU_ENV}=1` leaves them out): {listed(True, False)};",
        f"- then: {listed(False, False)};",
        f"- without their dependencies (`--no-deps`): {listed(False, True)}.",
        "",
        f"It then clones heartgrpo (`{REPO_ENV}`, default {REPO_URL}) into `./heartgrpo` and installs it",
        "editable without its own dependencies (the stack above is what runs). If it reports that numpy or",
        "torch changed under the kernel, restart the session and run this cell again.",
    ]
    return "\n".join(lines)


PLATFORMS = {
    "colab": {
        "config": "configs/qwen3-4b-colab-t4.yaml",
        "badge": (
            "<a href=\"https://colab.research.google.com/github/heartgrpo/heartgrpo/blob/main/notebooks/colab/{name}\">"
            "<img src=\"https://colab.research.google.com/assets/colab-badge.svg\" alt=\"Open In Colab\"/></a>"
        ),
        "comment": [
            "# Colab (T4, 15 GB): the stack Unsloth's own T4 GRPO notebooks install, pinned (notebooks/t4-stack/).",
        ],
        "notes": "On Colab (a T4 runtime: Runtime > Change runtime type > T4 GPU).",
        "flag": "IN_COLAB",
        "detect": "\"COLAB_RELEASE_TAG\" in os.environ or \"COLAB_GPU\" in os.environ",
        "before": [],
        "gpu_checks": [],
    },
    "kaggle": {
        "config": "configs/qwen3-4b-kaggle-t4.yaml",
        "badge": (
            "<a href=\"https://kaggle.com/kernels/welcome?src=https://github.com/heartgrpo/heartgrpo/blob/main/notebooks/kaggle/{name}\">"
            "<img src=\"https://kaggle.com/static/images/open-in-kaggle.svg\" alt=\"Open In Kaggle\"/></a>"
        ),
        "comment": [
            "# Kaggle (Settings: Accelerator \"GPU T4 x1\", Internet on): the stack Unsloth's own T4 GRPO notebooks",
            "# install, pinned (notebooks/t4-stack/). Work happens in /kaggle/working, which Kaggle keeps.",
        ],
        "notes": ("On Kaggle (Settings: Accelerator \"GPU T4 x1\", Internet on; with \"GPU T4 x2\" it trains on the "
                  "first GPU only)."),
        "flag": "IN_KAGGLE",
        "detect": "\"KAGGLE_KERNEL_RUN_TYPE\" in os.environ",
        "before": [
            "if IN_KAGGLE:  # \"GPU T4 x2\" shows two GPUs: train (and run vLLM, colocated) on the first only",
            "    os.environ.setdefault(\"CUDA_VISIBLE_DEVICES\", \"0\")",
        ],
        "gpu_checks": [
            "    import urllib.request",
            "    try:  # Kaggle notebooks start offline, and pip's own errors do not say so",
            "        urllib.request.urlopen(\"https://pypi.org/simple/pip/\", timeout=20).close()",
            "    except OSError as e:",
            "        raise RuntimeError(\"no internet: turn it on in the notebook's Settings (Internet), then run this cell again\") from e",
        ],
    },
}

_CONFIG_LINE = re.compile(r'^CONFIG\s*=\s*"[^"]*"', re.MULTILINE)


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _find(nb: dict, tag: str, name: str) -> dict:
    cells = [c for c in nb["cells"] if tag in _tags(c)]
    if len(cells) != 1:
        raise ValueError(f"{name}: expected exactly one cell tagged {tag!r}, found {len(cells)}")
    return cells[0]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def make_variant(nb: dict, platform: str, name: str) -> dict:
    """The ``platform`` variant of notebook ``nb`` (a parsed .ipynb dict named ``name``)."""
    spec = PLATFORMS[platform]
    out = copy.deepcopy(nb)
    install = _find(out, "install", name)
    install["source"] = install_cell(platform)
    install["outputs"], install["execution_count"] = [], None
    notes = _find(out, "install-notes", name)
    notes["source"] = install_notes(platform, _source(notes).splitlines()[0])
    params = _find(out, "parameters", name)
    text = _source(params)
    if not _CONFIG_LINE.search(text):
        raise ValueError(f"{name}: the parameters cell has no CONFIG = \"...\" line")
    params["source"] = _CONFIG_LINE.sub(f'CONFIG = "{spec["config"]}"', text, count=1)
    badge = {
        "cell_type": "markdown",
        "id": f"{platform}-badge",
        "metadata": {"tags": ["badge"]},
        "source": spec["badge"].format(name=name),
    }
    out["cells"].insert(0, badge)
    for cell in out["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    out.setdefault("metadata", {})["accelerator"] = "GPU"
    return out


def workstation_only_variant(nb: dict, platform: str, name: str) -> dict:
    """The ``platform`` copy of a workstation-only notebook: its badge and a notice that it needs
    the workstation stack, then the notebook's own cells (outputs cleared)."""
    spec = PLATFORMS[platform]
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notice = {"cell_type": "markdown", "id": f"{platform}-workstation-only", "metadata": {"tags": ["workstation-only"]},
              "source": WORKSTATION_NOTICE.format(platform=platform.capitalize())}
    badge = {"cell_type": "markdown", "id": f"{platform}-badge", "metadata": {"tags": ["badge"]},
             "source": spec["badge"].format(name=name)}
    out["cells"][:0] = [badge, notice]
    return out


def render(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def expected_variants(root: Path = HERE) -> dict[Path, str]:
    """Every variant path with the text it should hold."""
    out = {}
    for name in NOTEBOOKS:
        nb = json.loads((root / name).read_text(encoding="utf-8"))
        for platform in PLATFORMS:
            out[root / platform / name] = render(make_variant(nb, platform, name))
    for name in WORKSTATION_ONLY:
        nb = json.loads((root / name).read_text(encoding="utf-8"))
        for platform in PLATFORMS:
            out[root / platform / name] = render(workstation_only_variant(nb, platform, name))
    return out


def stale_variants(root: Path = HERE) -> list[Path]:
    """Variant files that are missing or differ from what their source generates."""
    return [
        path for path, text in expected_variants(root).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a variant is stale, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_variants()
        for path in stale:
            print(f"stale: {path.relative_to(HERE.parent)} (run python notebooks/make_variants.py)")
        return 1 if stale else 0
    for path, text in expected_variants().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
