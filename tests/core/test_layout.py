"""The layout of both packages, read from their source with ``ast``.

vggt_blender/: no import circles (lazy imports inside functions included), and only relative imports of the
extension itself (it is installed under another name, ``bl_ext.<repo>.vggt_blender``).

vggt_core/: no import circles between modules nor between its stage folders (plate/, network/, solve/, stitch/,
deliver/, run/), at most six modules at its top level, no bpy; code outside it (the extension, bench, farm,
examples, install) imports only its public API: ``vggt_core`` or a folder's own ``__init__``, and only the names
that folder's ``__all__`` lists. The public API imports no torch until a name that needs it is used."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "vggt_blender"
CORE = REPO / "vggt_core"
OUTSIDE = ("vggt_blender", "bench", "farm", "examples", "install")  # code that uses vggt_core from outside


def _modules(root: Path = EXT) -> dict[str, Path]:
    """Dotted name (relative to the package ``root``, "" for its ``__init__``) -> source file."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
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


def import_graph(root: Path = EXT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in its body). ``from PKG import NAME`` imports
    the submodule PKG.NAME when there is one, PKG itself (its ``__init__``) when that defines NAME, and else a
    module the build adds (``deps``, copied into the zip), which is not drawn. Importing a submodule initialises
    its parent packages too, which is no circle of ours, so those edges are not drawn either."""
    modules = _modules(root)
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


def _folder(module: str) -> str:
    """A vggt_core module's stage folder, or the module itself at the top level ("" for the package)."""
    return module.split(".")[0]


def test_the_core_has_no_import_circles_between_modules_or_folders():
    graph = import_graph(CORE)
    assert {"", "plate.frames", "network.engine", "solve", "stitch.align", "deliver.colmap", "run.pipeline"} <= set(graph)
    assert find_circle(graph) is None, " -> ".join(find_circle(graph) or [])
    folders: dict[str, set[str]] = {}
    for module, targets in graph.items():
        folders.setdefault(_folder(module), set()).update(_folder(t) for t in targets if _folder(t) != _folder(module))
    folders.pop("", None)  # the package's __init__ (the lazy public API) and lazy_exports, used by every folder
    for targets in folders.values():
        targets.discard("")
    assert find_circle(folders) is None, " -> ".join(find_circle(folders) or [])
    # the stages in the order the data flows: none imports a stage after it
    order = ["plate", "network", "solve", "stitch", "deliver", "run"]
    for i, stage in enumerate(order):
        assert not folders[stage] & set(order[i + 1:]), f"{stage}/ imports {folders[stage] & set(order[i + 1:])}"


def test_the_core_keeps_its_top_level_small_and_blender_free():
    top = sorted(p.name for p in CORE.glob("*.py"))
    assert len(top) <= 6, top
    folders = sorted(p.name for p in CORE.iterdir() if (p / "__init__.py").is_file())
    assert folders == ["deliver", "network", "plate", "run", "solve", "stitch"], folders
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not any(n.split(".")[0] in ("bpy", "mathutils") for n in names), path


def _public(package: str) -> set[str]:
    """The names ``package``'s ``__all__`` lists, read from its source (a lazy table or a plain list)."""
    import importlib

    return set(importlib.import_module(package).__all__)


def test_code_outside_the_core_imports_only_its_public_api():
    checked = 0
    for folder in OUTSIDE:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("vggt_core."):
                            assert (REPO / alias.name.replace(".", "/") / "__init__.py").is_file(), (path, alias.name)
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        and node.module.split(".")[0] == "vggt_core"):
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}: from {node.module} import"
                assert (REPO / node.module.replace(".", "/") / "__init__.py").is_file(), f"{where}: a module, not a folder"
                missing = {a.name for a in node.names} - _public(node.module)
                assert not missing, f"{where} {sorted(missing)}: not in {node.module}.__all__"
                checked += 1
    assert checked > 50  # the walk found the extension's and the bench's imports


def test_every_public_name_resolves_and_the_api_imports_no_torch():
    import subprocess
    import sys

    packages = ["vggt_core", *(f"vggt_core.{f}" for f in ("plate", "network", "solve", "stitch", "deliver", "run"))]
    probe = ("import sys\nimport vggt_core\nfrom vggt_core import Reconstruction, InputError, ReconstructSettings, "
             "list_frames, select_points\nfrom vggt_core.plate import file_number, FrameSelection\n"
             "from vggt_core.solve import TRACK_FRAMES\nimport vggt_core.network, vggt_core.deliver, vggt_core.run\n"
             "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for package in packages:
        module = __import__(package, fromlist=["_"])
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"
