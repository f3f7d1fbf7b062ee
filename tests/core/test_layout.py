"""The extension's module graph (vggt_blender/), read from its source with ``ast`` (nothing is imported): no
import circles, lazy imports inside functions included, and only relative imports of the extension itself (it
is installed under another name, ``bl_ext.<repo>.vggt_blender``)."""
from __future__ import annotations

import ast
from pathlib import Path

EXT = Path(__file__).resolve().parents[2] / "vggt_blender"


def _modules() -> dict[str, Path]:
    """Dotted name (relative to the extension, "" for its ``__init__``) -> source file."""
    out = {}
    for path in EXT.rglob("*.py"):
        parts = list(path.relative_to(EXT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _defined(path: Path) -> set[str]:
    """Names a module's top level binds (definitions, assignments, imports)."""
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the extension's modules it imports (anywhere in its body). ``from PKG import NAME`` imports
    the submodule PKG.NAME when there is one, PKG itself (its ``__init__``) when that defines NAME, and else a
    module the build adds (``deps``, copied into the zip), which is not drawn. Importing a submodule initialises
    its parent packages too, which is no circle of ours, so those edges are not drawn either."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = _package_of(name, path)
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = _join(base, node.module or "")
            assert target in modules, f"{name}: from {'.' * node.level}{node.module or ''} names no module"
            for alias in node.names:
                sub = _join(target, alias.name)
                if sub in modules:
                    edges.add(sub)
                elif alias.name in _defined(modules[target]):
                    edges.add(target)
        edges.discard(name)
    return graph


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_circle_finds_a_circle_and_only_a_circle():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_extension_has_no_import_circles():
    graph = import_graph()
    assert {"", "builders", "convert"} <= set(graph)  # the walk found the packages
    assert find_circle(graph) is None, " -> ".join(find_circle(graph) or [])


def test_the_extension_imports_itself_only_relatively():
    for path in EXT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not any(n == "vggt_blender" or n.startswith("vggt_blender.") for n in names), path
