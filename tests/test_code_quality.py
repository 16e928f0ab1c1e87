"""ruff and mypy --strict are part of the test suite, so CI enforces them."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--no-cache", "--check", "."],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_tool_is_clean(command):
    tool = shutil.which(command[0], path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip(f"{command[0]} is not installed (pip install -e '.[dev]')")
    result = subprocess.run([tool, *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package's modules ``path`` imports anywhere: at the top, inside functions and under
    ``TYPE_CHECKING`` alike (a cycle hidden in a function is still a cycle)."""

    def closest_module(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from package import module`` names a module, ``from module import name`` not
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(module for name in names if (module := closest_module(name)))
    return found - {_module_name(path)}


def _cycle_from(start: str, imports: dict[str, set[str]]) -> list[str] | None:
    """A chain of imports that leads from ``start`` back to it, if there is one."""
    path, seen = [start], set()

    def visit(module: str) -> bool:
        for imported in sorted(imports[module]):
            if imported == start:
                path.append(start)
                return True
            if imported not in seen:
                seen.add(imported)
                path.append(imported)
                if visit(imported):
                    return True
                path.pop()
        return False

    return path if visit(start) else None


def test_the_package_has_no_import_cycles():
    files = {_module_name(path): path for path in (ROOT / "pytest_omniperf").rglob("*.py")}
    imports = {module: _imported_modules(path, set(files)) for module, path in files.items()}
    for module in sorted(files):
        # a package's __init__ imports its modules, which import their package: not a cycle
        imports[module] = {name for name in imports[module] if not module.startswith(name + ".")}
    cycles = [" -> ".join(cycle) for m in sorted(files) if (cycle := _cycle_from(m, imports))]
    assert not cycles, "\n".join(cycles)
