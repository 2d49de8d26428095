"""The layering in ARCHITECTURE.md, checked on the source: which package may import which,
no import cycles, the unit of work's session kept inside storage, and no long functions.

Every import counts, including the lazy ones inside functions: a lazy import hides a
cycle from Python but not from a reader.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "storage", "monitoring", "delivery", "services", "handlers", "sandbox", "bot")

# What each layer may import from this project (besides itself). Lower layers never
# know the higher ones; `telegram` is for handlers, delivery, the sandbox and wiring only.
ALLOWED: Mapping[str, frozenset[str]] = {
    "core": frozenset(),
    "storage": frozenset({"core"}),
    "monitoring": frozenset({"core"}),
    "delivery": frozenset({"core", "storage", "monitoring"}),
    "services": frozenset({"core", "storage"}),
    "handlers": frozenset({"core", "storage", "monitoring", "delivery", "services"}),
    "sandbox": frozenset({"core", "storage", "monitoring", "delivery", "services", "handlers"}),
    "bot": frozenset(PACKAGES),
}
NO_TELEGRAM = ("core", "storage", "monitoring", "services")
MAX_FUNCTION_LINES = 60
LONG_REASON = "# Long because"
SESSION = re.compile(r"\buow\._?session\b")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(packages: Iterable[str] = PACKAGES) -> list[Path]:
    files: list[Path] = []
    for package in packages:
        files += sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)
    return files


def imports_of(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(ast.parse(path.read_text(), str(path)), package)


def imports_in(tree: ast.AST, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def module_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (names that are not modules, such
    as `from handlers.base import Turn`, fall back to their module)."""
    files = source_files()
    modules = {module_name(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        targets = set()
        for imported in imports_of(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != module_name(path):
                targets.add(imported)
        graph[module_name(path)] = targets
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle in a directed graph, as the list of its nodes, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def top(module: str) -> str:
    return module.split(".")[0]


def test_find_cycle_finds_one_and_only_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_imports_of_counts_lazy_and_relative_imports() -> None:
    assert "sandbox.telegram_html" in imports_of(ROOT / "sandbox" / "spec.py")  # relative
    assert "handlers.base" in imports_in(ast.parse(_LAZY), "sandbox")


_LAZY = "def f():\n    from handlers.base import Turn\n"


def test_each_layer_imports_only_the_layers_below_it() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in module_graph().items()
        for target in targets
        if top(target) != top(module) and top(target) not in ALLOWED[top(module)]
    ]
    assert upward == []


def test_the_domain_and_storage_know_nothing_of_telegram() -> None:
    offending = [
        f"{module_name(path)} imports {name}"
        for path in source_files(NO_TELEGRAM)
        for name in imports_of(path)
        if top(name) in ("telegram", "aiohttp", "httpx")
    ]
    assert offending == []


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for module, targets in module_graph().items():
        packages[top(module)].update(top(t) for t in targets if top(t) != top(module))
    assert find_cycle(packages) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_a_package(package: str) -> None:
    inside = {
        module: {t for t in targets if top(t) == package}
        for module, targets in module_graph().items()
        if top(module) == package
    }
    assert find_cycle(inside) is None


def test_only_storage_touches_the_unit_of_works_session() -> None:
    outside = [p for p in source_files() if top(module_name(p)) != "storage"]
    uses = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in outside
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SESSION.search(line)
    ]
    assert uses == []


def long_functions(files: Iterable[Path]) -> list[str]:
    found = []
    for path in files:
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = node.body[0].lineno - 1  # the line before the body: signature or docstring end
            head = "\n".join(lines[node.lineno - 1 : first + 2])
            if length > MAX_FUNCTION_LINES and LONG_REASON not in head:
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{where}:{node.lineno} {node.name} {length}")
    return found


def test_long_functions_are_found(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def f():\n{body}\n")
    assert long_functions([tmp_path / "long.py"]) != []
    (tmp_path / "said.py").write_text(f"def f():\n    {LONG_REASON}: a table\n{body}\n")
    assert long_functions([tmp_path / "said.py"]) == []


def test_no_function_over_60_lines_without_saying_why() -> None:
    files = source_files() + sorted((ROOT / "bench").glob("*.py"))
    assert long_functions(files) == []


def test_architecture_names_the_module_of_every_command() -> None:
    """A newcomer finds each command in one hop: ARCHITECTURE.md's map names the module
    whose function answers it, and that is the module the command table registers."""
    from handlers.commands import COMMANDS

    mapped: dict[str, str] = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        if found := re.fullmatch(r"\| (`/.*`) \| `handlers/(\w+)\.py` \|", line):
            for name in re.findall(r"`/(\w+)`", found[1]):
                mapped[name] = f"handlers.{found[2]}"
    assert mapped, "the command map is missing from ARCHITECTURE.md"
    registered = {command.name: command.callback.__module__ for command in COMMANDS}
    assert mapped == registered
