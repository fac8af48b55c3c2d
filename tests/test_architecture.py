"""The tree is the architecture: every package says what it owns, packages import each other
without a cycle (function-local imports included), and an import deferred into a function says
why on the line above it. Checked on the code's syntax tree."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "fsr"


def unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: fsr.bus.mesh -> fsr.bus."""
    return ".".join(module.split(".")[:2])


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path, ast.parse(path.read_text())


def fsr_imports(tree: ast.AST) -> Iterator[tuple[ast.stmt, list[str]]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "fsr":
            yield node, ([node.module] if node.module != "fsr"
                         else [f"fsr.{a.name}" for a in node.names])
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "fsr"]
            if names:
                yield node, names


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, _, tree in modules():
        for _, targets in fsr_imports(tree):
            for target in targets:
                if unit(target) not in (unit(name), "fsr"):
                    graph.setdefault(unit(name), set()).add(unit(target))
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the packages, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_every_package_says_what_it_owns() -> None:
    packages = sorted(p for p in ROOT.rglob("*") if p.is_dir() and any(p.glob("*.py")))
    assert len(packages) >= 10
    silent = [str(p.relative_to(ROOT.parent)) for p in packages
              if not (p / "__init__.py").exists()
              or not ast.get_docstring(ast.parse((p / "__init__.py").read_text()))]
    assert silent == []


def test_no_package_import_cycle() -> None:
    graph = package_graph()
    assert {"fsr.agents", "fsr.bus", "fsr.protocols"} <= set(graph)
    assert cycle(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_every_deferred_import_says_why() -> None:
    """A function-local import block has a comment right above it (or on its line) saying why
    it is deferred: start-up time, or an optional dependency."""
    silent = []
    for _, path, tree in modules():
        lines = path.read_text().splitlines()
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                above = node.lineno - 2  # index of the line above
                while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
                    above -= 1
                if "#" not in lines[node.lineno - 1] and not (
                        above >= 0 and lines[above].strip().startswith("#")):
                    silent.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert silent == []
