"""Print the Python files and functions that are longer than the project's size limits.

Usage: python tools/code_sizes.py [--check] [ROOT ...]

Limits (issue 12): a file of at most MAX_FILE_LINES lines, a function or method of at most
MAX_FUNCTION_LINES lines (``end_lineno - lineno + 1`` of its ``def``, decorators excluded).
Checked: every ``*.py`` under ``src/``, ``scripts/`` and ``tools/`` of the repository (or the
ROOTs given).

Exemptions say why, next to the code:
- a function: a comment line ``# size: <reason>`` directly above its ``def`` (or above its
  first decorator);
- a file: a comment line ``# size: <reason>`` at the top of the file, i.e. before its first
  statement other than the module docstring.

With ``--check`` the exit status is 1 when an un-exempted offender exists.
"""
from __future__ import annotations

import ast
import dataclasses
import re
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("src", "scripts", "tools")
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80

_EXEMPT = re.compile(r"^\s*#\s*size:\s*\S")


@dataclasses.dataclass(frozen=True, order=True)
class Offender:
    path: str  # relative to the repository (or as given), with forward slashes
    name: str  # "" for the whole file, else the qualified function name (Class.method, outer.inner)
    line: int  # first line of the def (1 for a file)
    lines: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.name)

    def __str__(self) -> str:
        if not self.name:
            return f"{self.path}: file of {self.lines} lines (limit {MAX_FILE_LINES})"
        return f"{self.path}:{self.line} {self.name}: {self.lines} lines (limit {MAX_FUNCTION_LINES})"


def _file_exempt(lines: list[str], tree: ast.Module) -> bool:
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the module docstring
    first = body[0].lineno if body else len(lines) + 1
    return any(_EXEMPT.match(line) for line in lines[: first - 1])


def _function_exempt(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    top = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return top >= 2 and bool(_EXEMPT.match(lines[top - 2]))


def _functions(tree: ast.AST, prefix: str = "") -> Iterable[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def check_source(text: str, path: str = "<source>", *, max_file: int = MAX_FILE_LINES,
                 max_function: int = MAX_FUNCTION_LINES) -> list[Offender]:
    """Un-exempted offenders of one Python source text."""
    lines = text.splitlines()
    tree = ast.parse(text, path)
    out: list[Offender] = []
    if len(lines) > max_file and not _file_exempt(lines, tree):
        out.append(Offender(path, "", 1, len(lines)))
    for name, node in _functions(tree):
        n = node.end_lineno - node.lineno + 1
        if n > max_function and not _function_exempt(lines, node):
            out.append(Offender(path, name, node.lineno, n))
    return out


def python_files(roots: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files += [root] if root.is_file() else sorted(p for p in root.rglob("*.py") if ".venv" not in p.parts)
    return files


def offenders(roots: Iterable[Path] | None = None, base: Path = REPO) -> list[Offender]:
    """Un-exempted offenders in every Python file under ``roots`` (default: src, scripts, tools)."""
    roots = [base / r for r in ROOTS] if roots is None else list(roots)
    out: list[Offender] = []
    for path in python_files(r for r in roots if r.exists()):
        try:
            rel = path.resolve().relative_to(base).as_posix()
        except ValueError:
            rel = path.as_posix()
        out += check_source(path.read_text(), rel)
    return sorted(out)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    roots = [Path(a).resolve() for a in argv if a != "--check"] or None
    found = offenders(roots)
    for o in found:
        print(o)
    n_files = sum(1 for o in found if not o.name)
    print(f"{n_files} file(s) over {MAX_FILE_LINES} lines, {len(found) - n_files} function(s) over "
          f"{MAX_FUNCTION_LINES} lines (not exempted by a '# size:' comment)")
    return 1 if (check and found) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
