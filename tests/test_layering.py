"""The package's layers, read from the source: which subpackage may import which.

Every import counts, at module level or inside a function (a deferred import is still a
dependency, and the usual way a cycle hides), with relative imports resolved.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "detector"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node, name: str, is_package: bool) -> list[str]:
    """Dotted names an Import/ImportFrom node in module ``name`` may refer to (modules or attributes)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = name if is_package else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            parent = parent.rpartition(".")[0]
        base = f"{parent}.{base}" if base else parent
    return [f"{base}.{alias.name}" for alias in node.names]


def _resolve(dotted: str, modules) -> str | None:
    """The longest prefix of ``dotted`` that is a module of the package (``a.b.attr`` -> ``a.b``)."""
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its file."""
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = {_resolve(d, files) for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                   for d in _imported(node, name, path.name == "__init__.py")}
        graph[name] = targets - {None, name}
    return graph


GRAPH = import_graph()


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports_of(package: str, banned: str) -> list[str]:
    """'a -> b' for each import by a module of ``package`` of a module of ``banned``."""
    return [f"{m} -> {t}" for m, targets in sorted(GRAPH.items()) if in_package(m, package)
            for t in sorted(targets) if in_package(t, banned)]


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as [a, b, ..., a], or [] when there is none."""
    done, stack = set(), []

    def visit(node):
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        done.add(node)
        return []

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def import_path(sources: list[str], targets: set[str]) -> list[str]:
    """The shortest chain of imports from one of ``sources`` to one of ``targets``, or [].

    The chain does not go on through ``detector`` itself: its only import (of the runtime's
    Detector) runs in the module's ``__getattr__``, never for ``from detector import __version__``.
    """
    parent = {s: None for s in sources}
    queue = list(sources)
    for node in queue:
        if node in targets:
            chain = [node]
            while parent[chain[-1]] is not None:
                chain.append(parent[chain[-1]])
            return chain[::-1]
        for nxt in sorted(GRAPH.get(node, ()) if node != "detector" else ()):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return []


def test_the_graph_sees_relative_and_function_level_imports():
    # bench/measure.py imports .flops at module level; runtime's ONNX backends export inside a function.
    assert "detector.bench.flops" in GRAPH["detector.bench.measure"]
    assert "detector.export" in GRAPH["detector.runtime.backends.base"]


def test_data_and_engine_do_not_import_the_runtime():
    found = imports_of("detector.data", "detector.runtime") + imports_of("detector.engine", "detector.runtime")
    assert not found, f"training code imports the inference runtime: {', '.join(found)}"


def test_geometry_imports_nothing_else_of_the_package():
    found = [f"{m} -> {t}" for m, targets in sorted(GRAPH.items()) if in_package(m, "detector.geometry")
             for t in sorted(targets) if not in_package(t, "detector.geometry")]
    assert not found, f"geometry must stand alone: {', '.join(found)}"


def test_export_imports_nothing_from_runtime_bench_or_cli():
    found = [line for banned in ("detector.runtime", "detector.bench", "detector.cli")
             for line in imports_of("detector.export", banned)]
    assert not found, f"export sits below runtime, bench and cli: {', '.join(found)}"


def test_no_import_cycle_inside_export():
    inside = {m: {t for t in targets if in_package(t, "detector.export")}
              for m, targets in GRAPH.items() if in_package(m, "detector.export")}
    cycle = find_cycle(inside)
    assert not cycle, f"import cycle in detector/export: {' -> '.join(cycle)}"


def test_no_cycle_between_export_and_runtime():
    export = sorted(m for m in GRAPH if in_package(m, "detector.export"))
    runtime = sorted(m for m in GRAPH if in_package(m, "detector.runtime"))
    down, up = import_path(export, set(runtime)), import_path(runtime, set(export))
    assert up, "runtime no longer reaches export: this test checks nothing"
    assert not down, (f"export and runtime import each other: {' -> '.join(down)} "
                      f"and {' -> '.join(up)}")


def test_only_the_command_line_imports_the_service():
    found = [f"{m} -> {t}" for m, targets in sorted(GRAPH.items()) if not in_package(m, "detector.serve")
             and not in_package(m, "detector.cli") for t in sorted(targets) if in_package(t, "detector.serve")]
    assert not found, f"detector/serve sits above the runtime: {', '.join(found)}"
