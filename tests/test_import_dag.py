"""The package imports as a DAG: no module of ``heartgrpo/`` imports itself through others.

The graph is read from the source with ``ast`` (nothing is imported). Nodes are the modules of
``heartgrpo/`` (a package is its ``__init__``). Edges:

* ``import a.b.c`` -> the longest prefix of ``a.b.c`` that is a module of the package;
* ``from X import Y`` -> ``X.Y`` when that is a module (a submodule import), else ``X``;
  relative imports are resolved first; a module's edge to itself is dropped;
* the implicit import of a parent package (``a.b`` runs ``a/__init__``) is not an edge: every
  submodule would otherwise form a circle with a package ``__init__`` that re-exports it.

Two graphs are checked:

1. **module level**: imports that run when the module is imported or run as a script (top level,
   class bodies, ``try``/``if`` blocks and ``if __name__ == "__main__":`` blocks), without
   ``if TYPE_CHECKING:`` blocks. It must be a DAG, with no exception.
2. **with lazy imports**: also the imports inside functions. Such an import only runs when the
   function is called, so it cannot break importing, but a circle through it still couples two
   rooms. It must be a DAG except :data:`KNOWN_LAZY_CIRCLES`, listed exactly, each with why it
   remains; an entry that no longer occurs must be removed.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "heartgrpo"

#: circles through imports inside functions that are allowed to remain: none (an entry here would
#: name the two rooms and say why they still lean on each other).
KNOWN_LAZY_CIRCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _imports(tree: ast.Module, lazy: bool) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and not lazy:
                continue
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(ast.Module(body=child.orelse, type_ignores=[]))
            else:
                visit(child)

    visit(tree)
    return found


@lru_cache(maxsize=2)
def import_graph(lazy: bool) -> dict[str, set[str]]:
    """module -> the package modules it imports (see the module docstring for the rules)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, (path, is_package) in modules.items():
        package = module if is_package else module.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")), lazy):
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else resolve(base) for a in node.names]
            graph[module].update(t for t in targets if t is not None and t != module)
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _describe(graph: dict[str, set[str]], component: frozenset[str]) -> str:
    edges = [f"{a} -> {b}" for a in sorted(component) for b in sorted(graph[a] & component)]
    return "{" + ", ".join(sorted(component)) + "}: " + "; ".join(edges)


def test_graph_reader_sees_the_package():
    graph = import_graph(lazy=False)
    assert len(graph) > 50
    assert "heartgrpo.rewards.strategies" in graph["heartgrpo.rewards"]
    assert "heartgrpo.answer_format" in graph["heartgrpo.rewards.trl"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_module_level_imports_form_a_dag():
    graph = import_graph(lazy=False)
    found = circles(graph)
    assert not found, "import circles at module level:\n" + "\n".join(_describe(graph, c) for c in found)


def test_lazy_imports_add_only_the_known_circles():
    graph = import_graph(lazy=True)
    found = set(circles(graph))
    new = found - KNOWN_LAZY_CIRCLES
    gone = KNOWN_LAZY_CIRCLES - found
    assert not new, "new import circles (through imports inside functions):\n" + "\n".join(_describe(graph, c) for c in new)
    assert not gone, f"circles fixed: remove them from KNOWN_LAZY_CIRCLES: {[sorted(c) for c in gone]}"


def test_reward_package_has_no_circle_and_stays_inside_its_room():
    graph = import_graph(lazy=True)
    rewards = {m for m in graph if m == "heartgrpo.rewards" or m.startswith("heartgrpo.rewards.")}
    for module in rewards:
        outside = {t for t in graph[module] if t not in rewards}
        assert outside <= {"heartgrpo.answer_format", "heartgrpo.io.asyncs", "heartgrpo.io.process", "heartgrpo.rubrics"}, (
            module, outside)


#: The rooms of ``heartgrpo/`` from the top floor down (DESIGN.md §2). A room imports only rooms on
#: floors below its own; rooms on one floor do not import each other. A new room gets a floor here.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"doctor", "pipeline", "notebook"},
    {"consult", "refine"},
    {"data"},
    {"rubricgen"},
    {"train", "eval", "signal"},
    {"judge", "model", "heart"},
    {"config"},
    {"rewards"},
    {"records"},
    {"io", "rubrics", "answer_format"},
]

#: loose modules allowed at the top of ``heartgrpo/`` beside its packages
MAX_LOOSE_MODULES = 8


def room(module: str) -> str:
    """``heartgrpo.judge.verifier.model`` -> ``judge``; the package itself is ``heartgrpo``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def room_graph(graph: dict[str, set[str]]) -> dict[str, dict[str, list[str]]]:
    """room -> {room it imports: the module-level arrows behind it}, the package root left out."""
    out: dict[str, dict[str, list[str]]] = {}
    for a, targets in graph.items():
        out.setdefault(room(a), {})
        for b in targets:
            if room(b) not in (room(a), "heartgrpo"):
                out[room(a)].setdefault(room(b), []).append(f"{a} -> {b}")
    out.pop("heartgrpo", None)
    return out


def test_rooms_form_a_dag_counting_lazy_imports():
    rooms = room_graph(import_graph(lazy=True))
    found = circles({r: set(deps) for r, deps in rooms.items()})
    assert circles({"a": {"b"}, "b": {"a"}}) == [frozenset("ab")]
    assert not found, "rooms that import each other:\n" + "\n".join(
        f"{sorted(c)}: " + "; ".join(arrow for r in sorted(c) for d in sorted(rooms[r]) if d in c for arrow in rooms[r][d][:3])
        for c in found)


def test_every_room_has_a_floor_and_imports_only_downwards():
    floor = {r: i for i, rooms in enumerate(LAYERS) for r in rooms}
    rooms = room_graph(import_graph(lazy=True))
    assert set(rooms) <= set(floor), f"rooms without a floor in LAYERS: {sorted(set(rooms) - set(floor))}"
    upward = [arrow for r, deps in rooms.items() for d, arrows in deps.items() if floor[d] <= floor[r] for arrow in arrows]
    assert not upward, "imports from a room to one on its own floor or above:\n" + "\n".join(sorted(upward))


def test_few_loose_modules_at_the_top():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, f"{len(loose)} loose modules at the top of heartgrpo/: {loose}"


def test_no_module_is_two_rooms():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"files past 400 lines (split them): {long}"
