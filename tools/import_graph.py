"""Print the import graph between the top-level packages of src/painmrs.

Usage: python tools/import_graph.py [--cycles]

Every `import painmrs.X...` / `from painmrs.X... import` / relative import (at any depth,
including imports inside functions) in src/painmrs/<pkg>/ counts as an edge <pkg> -> X.
Top-level modules (painmrs/atomic.py, errors.py ...) are nodes of their own.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "painmrs"


def _top(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _targets(path: Path, tree: ast.AST) -> set[str]:
    rel = path.relative_to(SRC).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "painmrs" and len(parts) > 1:
                    out.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "painmrs":
                    continue
                if len(parts) > 1:
                    out.add(parts[1])
                else:
                    out.update(_module_or_init(a.name) for a in node.names)
            else:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                parts = base + ((node.module or "").split(".") if node.module else [])
                if parts:
                    out.add(parts[0])
                else:
                    out.update(_module_or_init(a.name) for a in node.names)
    return out


def _module_or_init(name: str) -> str:
    """`from painmrs import X`: X is a module or package, or a name of painmrs/__init__.py."""
    if (SRC / f"{name}.py").exists() or (SRC / name / "__init__.py").exists():
        return name
    return "__init__"


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        src = _top(path)
        graph.setdefault(src, set())
        for dst in _targets(path, ast.parse(path.read_text(), str(path))):
            if dst != src:
                graph[src].add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    graph = import_graph()
    for src in sorted(graph):
        print(f"{src:12s} -> {', '.join(sorted(graph[src])) or '-'}")
    found = cycles(graph)
    for comp in found:
        print("CYCLE:", " <-> ".join(comp))
    if not found:
        print("no cycles between top-level packages")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
