"""One client layer, one SQLite store, one JSONL module: nothing in heartgrpo/ or the notebooks
makes its own ``AsyncOpenAI(``, opens SQLite itself or reads a JSONL file line by line by hand."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OWNERS = {"AsyncOpenAI(": "heartgrpo/io/endpoint.py", "sqlite3.connect(": "heartgrpo/io/store.py"}
JSONL_OWNER = "heartgrpo/io/jsonl.py"


def _sources() -> list[tuple[str, str]]:
    """(name, python source) of every package module and every notebook code cell (magics dropped)."""
    out = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "heartgrpo").rglob("*.py"))]
    for nb in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "code":
                code = "".join(cell["source"])
                code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
                out.append((f"{nb.relative_to(ROOT)}[cell {i}]", code))
    return out


def _line_sources(tree: ast.AST) -> set[str]:
    """Names that hold a file or its lines: ``with open(...) as name`` (any ``*open*`` call:
    ``gzip.open``, ``path.open``, an ``opener``) and ``name = text.splitlines()`` / ``.split("\\n")``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if _is_open(item.context_expr) and isinstance(item.optional_vars, ast.Name):
                    names.add(item.optional_vars.id)
        elif isinstance(node, ast.Assign) and _splits_lines(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _is_open(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return "open" in name


def _splits_lines(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr in ("splitlines", "readlines"):
        return True
    return node.func.attr == "split" and bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "\n"


def _reads_a_file(node: ast.AST, sources: set[str]) -> bool:
    """A loop source that yields a file's lines: ``open(...)``, a name of :func:`_line_sources`,
    ``....splitlines()`` / ``readlines()`` / ``split("\\n")``, possibly inside ``enumerate(...)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "enumerate" and node.args:
        node = node.args[0]
    return _is_open(node) or _splits_lines(node) or (isinstance(node, ast.Name) and node.id in sources)


def _calls_json_loads(nodes: list[ast.AST]) -> bool:
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "loads":
                if isinstance(node.func.value, ast.Name) and node.func.value.id == "json":
                    return True
    return False


def hand_rolled_jsonl_loops(source: str) -> list[int]:
    """Line numbers of loops (statements or comprehensions) over a file's lines that call ``json.loads``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    handles = _line_sources(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor)) and _reads_a_file(node.iter, handles) and _calls_json_loads(node.body):
            found.append(node.lineno)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            if any(_reads_a_file(g.iter, handles) for g in node.generators):
                parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                if _calls_json_loads(parts + [c for g in node.generators for c in g.ifs]):
                    found.append(node.lineno)
    return found


def test_the_detector_sees_the_shapes_that_were_replaced() -> None:
    assert hand_rolled_jsonl_loops("with open(p) as fh:\n    for n, line in enumerate(fh, 1):\n        row = json.loads(line)\n") == [2]
    assert hand_rolled_jsonl_loops("for line in path.read_text().splitlines():\n    json.loads(line)\n") == [1]
    assert hand_rolled_jsonl_loops("steps = [json.loads(line) for line in open(p, encoding='utf-8')]") == [1]
    assert hand_rolled_jsonl_loops("for lineno, row in iter_rows(p):\n    pass\n") == []
    assert hand_rolled_jsonl_loops("with opener(p, 'rt') as f:\n    for line in f:\n        json.loads(line)\n") == [2]
    assert hand_rolled_jsonl_loops("lines = text.split('\\n')\nfor i, line in enumerate(lines):\n    json.loads(line)\n") == [2]
    assert hand_rolled_jsonl_loops("data = json.loads(open('a.json').read())") == []


@pytest.mark.parametrize("needle", sorted(OWNERS))
def test_only_the_owner_makes_clients_or_connections(needle: str) -> None:
    pattern = re.compile(re.escape(needle))
    offenders = [name for name, text in _sources() if pattern.search(text) and name != OWNERS[needle]]
    assert offenders == [], f"{needle} outside {OWNERS[needle]}: {offenders}"
    assert any(name == OWNERS[needle] and needle in text for name, text in _sources())


def test_no_hand_rolled_jsonl_reader_outside_jsonl_py() -> None:
    offenders = [f"{name}:{line}" for name, text in _sources() if name != JSONL_OWNER for line in hand_rolled_jsonl_loops(text)]
    assert offenders == []
