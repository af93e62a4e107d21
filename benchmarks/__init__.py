"""Benchmarks of heartgrpo and the registry that ``python -m benchmarks`` (``make bench``) runs.

Each benchmark is a module ``benchmarks/<name>.py`` that runs on its own as
``python -m benchmarks.<name> [--quick]`` and regenerates its section of ``docs/benchmarks.md``
(and its figures under ``docs/figures/``). A section sits between two markers::

    <!-- BEGIN <name> -->
    ## Title
    ...
    <!-- END <name> -->

:func:`write_section` replaces the text between the markers in place (or appends the section
when the markers are missing), so every section can be regenerated without touching the others.
The runner sets ``HEARTGRPO_BENCH_DOCS`` (where the doc and figures go; default ``docs/``) and
``HEARTGRPO_BENCH_QUICK=1`` for ``--quick``; :func:`docs_dir` and :func:`quick_mode` read them.

    >>> body = section_text("demo", "## Demo\\n\\n| a |\\n")
    >>> replace_section("# T\\n", "demo", body).count("<!-- BEGIN demo -->")
    1
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "REGISTRY",
    "Benchmark",
    "docs_dir",
    "figures_dir",
    "fmt_ci",
    "md_table",
    "order_sections",
    "quick_mode", "quiet_cpu_training",
    "replace_section",
    "section_text",
    "write_section",
]

ROOT = Path(__file__).resolve().parent.parent
DOC_NAME = "benchmarks.md"
DOC_HEADER = """# Benchmarks

Every table and figure below is written by a script under `benchmarks/`; regenerate them all
with `make bench` (= `python -m benchmarks`), or one section with
`python -m benchmarks --only NAME`. Each section says the command that produced it.
Each section sits between HTML comment lines `BEGIN name` and `END name` and is rewritten in
place.
"""


@dataclass(frozen=True)
class Benchmark:
    """One registered benchmark: module ``benchmarks.<name>``; ``quick_args`` are passed for
    ``--quick``; ``timeout_s`` bounds one run of it. ``default=False``: too long for the
    default run (``make bench``); it runs when named with ``--only`` or in ``--quick`` mode."""

    name: str
    title: str
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ("--quick",)
    timeout_s: float = 600.0
    default: bool = True


#: Run in this order; a module that does not exist (yet) is skipped with a note.
REGISTRY: tuple[Benchmark, ...] = (
    Benchmark("judge_throughput", "Judge throughput (reward pipeline overhead per GRPO step)", timeout_s=300),
    Benchmark("train_step", "Training step cost on CPU", timeout_s=420),
    Benchmark("learning_curve", "CPU learning curve (small proxy)", timeout_s=660),
    Benchmark("reward_signal", "Reward-signal study", timeout_s=240),
    Benchmark("verifier", "Local verifier vs the GPT-4.1 grader (eval split)", timeout_s=900),
    Benchmark("reward_model", "Reward model: within-conversation ranking vs the GPT-4.1 grader (eval split)", timeout_s=1800),
    Benchmark("strategy_race", "Strategy race: six reward strategies in real GRPO on an exact rubric task",
              timeout_s=2400, default=False),
    Benchmark("orbit_race", "ORBIT arms: pass@k prefilter and rubric curricula in the strategy race", timeout_s=2400, default=False),
    Benchmark("consult", "Consultations: multi-turn GRPO learns to ask (exact CPU task)", timeout_s=1800, default=False),
    Benchmark("refine", "Self-refined SFT data: wiring and cost against a scripted writer", timeout_s=600),
    Benchmark("soak", "Judge-layer soak: faults, dying replicas, a killed and restarted run", timeout_s=1200, default=False),
    Benchmark("vllm_cpu", "Generation on CPU: transformers against vLLM's CPU build (run in .venv-vllm)", timeout_s=900,
              default=False),
)


def docs_dir() -> Path:
    """``$HEARTGRPO_BENCH_DOCS`` or the repository's ``docs/``."""
    env = os.environ.get("HEARTGRPO_BENCH_DOCS")
    return Path(env) if env else ROOT / "docs"


def figures_dir() -> Path:
    """``<docs>/figures``, created if missing."""
    path = docs_dir() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def quick_mode(argv_flag: bool = False) -> bool:
    """True for ``--quick`` on the module's own command line or ``HEARTGRPO_BENCH_QUICK=1``."""
    return argv_flag or os.environ.get("HEARTGRPO_BENCH_QUICK") == "1"


def quiet_cpu_training(threads: int) -> None:
    """Set up a CPU training benchmark: library loggers at ERROR (transformers, datasets, httpx),
    no tokenizer fork warnings, ``torch`` on ``threads`` threads."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("transformers", "datasets", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"section name {name!r} must be letters, digits, '_', '.' or '-'")
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def section_text(name: str, body: str) -> str:
    """``body`` wrapped in the section's markers."""
    begin, end = _markers(name)
    return f"{begin}\n{body.strip()}\n{end}\n"


def replace_section(doc: str, name: str, section: str) -> str:
    """``doc`` with section ``name`` replaced by ``section`` (or appended when absent).

    Raises ``ValueError`` when the markers are unbalanced (a BEGIN without its END).
    """
    begin, end = _markers(name)
    starts = [m.start() for m in re.finditer(f"^{re.escape(begin)}$", doc, re.MULTILINE)]
    ends = [m.end() for m in re.finditer(f"^{re.escape(end)}$", doc, re.MULTILINE)]
    if not starts and not ends:
        return doc.rstrip("\n") + "\n\n" + section
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{DOC_NAME}: unbalanced or repeated markers for section {name!r}")
    return doc[: starts[0]] + section.rstrip("\n") + doc[ends[0] :]


def order_sections(doc: str, names: Sequence[str]) -> str:
    """``doc`` with the sections ``names`` moved into that order, after the text that precedes
    the first section; other sections follow, in their own order. Text outside sections, after
    the first one, is dropped only if it is blank.

    >>> d = "# T" + 2 * chr(10) + section_text("b", "B") + section_text("a", "A")
    >>> order_sections(d, ["a", "b"]).index("BEGIN a") < order_sections(d, ["a", "b"]).index("BEGIN b")
    True
    """
    pattern = re.compile(r"^<!-- BEGIN ([A-Za-z0-9_.-]+) -->$.*?^<!-- END \1 -->$\n?", re.DOTALL | re.MULTILINE)
    blocks = {m.group(1): m.group(0) for m in pattern.finditer(doc)}
    first = pattern.search(doc)
    if first is None:
        return doc
    rest = pattern.sub("", doc[first.start():]).strip()
    known = [blocks[n] for n in names if n in blocks]
    other = [b for n, b in blocks.items() if n not in names]
    parts = [doc[: first.start()].rstrip("\n"), *(b.rstrip("\n") for b in known + other)]
    if rest:
        parts.append(rest)
    return "\n\n".join(parts) + "\n"


def write_section(name: str, body: str, doc: Path | None = None) -> Path:
    """Write ``body`` as section ``name`` of ``docs/benchmarks.md`` (created with a header if
    missing); returns the doc's path."""
    path = doc or docs_dir() / DOC_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_HEADER
    path.write_text(replace_section(text, name, section_text(name, body)), encoding="utf-8")
    return path


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are written with 3 decimals.

    >>> print(md_table(["a", "b"], [[1, 0.5]]))
    | a | b |
    |---|---|
    | 1 | 0.500 |
    """
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``mean [low, high]``; a single value when the interval is empty; ``n/a`` for NaN.

    >>> fmt_ci(0.5, 0.4, 0.6)
    '0.500 [0.400, 0.600]'
    """
    if mean != mean:  # NaN
        return "n/a"
    if low == high:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
