"""Architecture rules for the outreach package, checked statically with ast (no imports run)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

OUTREACH = Path(__file__).resolve().parents[2] / "outreach"

OUTER_LAYERS = (
    "store",
    "ingest",
    "api",
    "web",
    "cli",
    "infra",
    "projections",
    "relay",
    "worker",
    "cases",
    "demo",
)
# Package -> top-level outreach packages it must not import, even under TYPE_CHECKING.
CORE_LAYERS: dict[str, tuple[str, ...]] = {
    "workflows": OUTER_LAYERS,
    "policy": (*OUTER_LAYERS, "workflows", "activities"),
}
MAX_MODULE_LINES = 600
MAX_INFRA_MODULES = 8

SQL_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE | re.DOTALL)
    for pattern in (
        r"\bSELECT\b.+\bFROM\b",
        r"\bINSERT\s+INTO\b",
        r"\bUPDATE\b\s+\w+\s+\bSET\b",
        r"\bDELETE\s+FROM\b",
        r"\bCREATE\s+(TABLE|INDEX)\b",
    )
)


@dataclass(frozen=True)
class Module:
    """One parsed ``.py`` file under the package root."""

    location: str  # path relative to the root's parent, e.g. outreach/workflows/case.py
    name: str  # dotted module name, e.g. outreach.workflows.case
    package: str | None  # top-level package (or module) under the root; None for the root
    is_init: bool
    tree: ast.Module
    lines: int


@dataclass(frozen=True)
class Import:
    """One imported name: where it is, what it resolves to, and how it was written."""

    location: str  # file:line
    target: str  # absolute dotted name
    text: str
    type_checking: bool

    def __str__(self) -> str:
        return f"{self.location}: {self.text}"


@dataclass(frozen=True)
class Edge:
    """A dependency of one top-level package on another, shown by one import."""

    source: str
    target: str
    example: Import

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.example})"


@dataclass(frozen=True)
class Cycle:
    """A strongly connected set of packages and one example import per edge inside it."""

    packages: tuple[str, ...]
    edges: tuple[Edge, ...]

    def __str__(self) -> str:
        lines = [f"cycle among {', '.join(self.packages)}:"]
        lines.extend(f"    {edge}" for edge in self.edges)
        return "\n".join(lines)


@dataclass(frozen=True)
class Finding:
    """Something found at a place: an SQL literal, a module's length, a module's presence."""

    location: str
    detail: str

    def __str__(self) -> str:
        return f"{self.location}: {self.detail}"


# --- parsing -------------------------------------------------------------------------------


def parse_modules(root: Path, package: str | None = None) -> list[Module]:
    """Every module under ``root`` (or only under ``root/package``), sorted by path.

    A file that disappears between listing and reading (the tree may be moving) is skipped.
    """
    base = root if package is None else root / package
    if base.is_file() or base.with_suffix(".py").is_file():
        paths = [base if base.is_file() else base.with_suffix(".py")]
    else:
        paths = sorted(base.rglob("*.py"))
    modules: list[Module] = []
    for path in paths:
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        relative = path.relative_to(root.parent)
        parts = list(relative.with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        if is_init:
            parts.pop()
        modules.append(
            Module(
                location=relative.as_posix(),
                name=".".join(parts),
                package=parts[1] if len(parts) > 1 else None,
                is_init=is_init,
                tree=ast.parse(source, filename=str(path)),
                lines=len(source.splitlines()),
            )
        )
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _import_nodes(
    nodes: Iterable[ast.AST], type_checking: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_checking
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.body, True)
            yield from _import_nodes(node.orelse, type_checking)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node), type_checking)


def _resolve_from(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.name.split(".")
    if not module.is_init:
        parts.pop()
    if node.level > 1:
        parts = parts[: max(len(parts) - (node.level - 1), 0)]
    if node.module:
        parts.append(node.module)
    return ".".join(parts)


def module_imports(module: Module, root_name: str = "outreach") -> list[Import]:
    """Every import in a module, at any depth, with relative imports made absolute.

    ``from outreach import a, b`` (or ``from .. import a`` reaching the root) yields one import
    per name, since each name is a package of its own; any other ``from`` import yields one.
    """
    imports: list[Import] = []
    for node, type_checking in _import_nodes(module.tree.body, False):
        location = f"{module.location}:{node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports.append(Import(location, alias.name, f"import {alias.name}", type_checking))
            continue
        base = _resolve_from(module, node)
        written = "." * node.level + (node.module or "")
        if base == root_name:
            for alias in node.names:
                text = f"from {written} import {alias.name}"
                target = base if alias.name == "*" else f"{base}.{alias.name}"
                imports.append(Import(location, target, text, type_checking))
        else:
            names = ", ".join(alias.name for alias in node.names)
            imports.append(Import(location, base, f"from {written} import {names}", type_checking))
    return imports


def _matches(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def _top_level(target: str, root_name: str) -> str | None:
    parts = target.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == root_name else None


# --- checkers ------------------------------------------------------------------------------


def forbidden_imports(root: Path, package: str, prefixes: Iterable[str]) -> list[Import]:
    """Imports in ``root/package`` of any dotted prefix (``outreach.store``, ``asyncpg``).

    Imports under ``if TYPE_CHECKING:`` count too: a type-only import still couples layers.
    """
    wanted = tuple(prefixes)
    return [
        found
        for module in parse_modules(root, package)
        for found in module_imports(module, root.name)
        if any(_matches(found.target, prefix) for prefix in wanted)
    ]


def layer_violations(root: Path, package: str, forbidden: Iterable[str]) -> list[Import]:
    """Imports in ``root/package`` of any of the ``forbidden`` top-level packages."""
    return forbidden_imports(root, package, (f"{root.name}.{name}" for name in forbidden))


def import_edges(root: Path) -> list[Edge]:
    """Every import from one top-level package into another, except under TYPE_CHECKING."""
    edges: list[Edge] = []
    for module in parse_modules(root):
        if module.package is None:
            continue
        for found in module_imports(module, root.name):
            target = _top_level(found.target, root.name)
            if found.type_checking or target is None or target == module.package:
                continue
            edges.append(Edge(module.package, target, found))
    return edges


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[tuple[str, ...]]:
    """Tarjan's strongly connected components, iteratively; each sorted, in sorted order."""
    nodes = set(graph) | {child for children in graph.values() for child in children}
    successors = {node: sorted(set(graph.get(node, ()))) for node in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[tuple[str, ...]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for start in sorted(nodes):
        if start in index:
            continue
        visit(start)
        work: list[tuple[str, Iterator[str]]] = [(start, iter(successors[start]))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    visit(child)
                    work.append((child, iter(successors[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(tuple(sorted(component)))
    return sorted(components)


def package_cycles(edges: Sequence[Edge]) -> list[Cycle]:
    """Each set of packages that depend on one another, with one example import per edge."""
    examples: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        examples.setdefault((edge.source, edge.target), edge)
    graph: dict[str, set[str]] = {}
    for source, target in examples:
        graph.setdefault(source, set()).add(target)
    cycles: list[Cycle] = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        inside = tuple(
            examples[pair] for pair in sorted(examples) if pair[0] in members and pair[1] in members
        )
        cycles.append(Cycle(component, inside))
    return cycles


def _docstring_nodes(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def _string_literals(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Line and text of each string literal but docstrings; an f-string as one text."""
    skip = _docstring_nodes(tree)
    for node in ast.walk(tree):  # breadth first: an f-string comes before its parts
        if isinstance(node, ast.JoinedStr):
            skip.update(id(value) for value in node.values)
            text = "".join(
                value.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str)
                else "{}"
                for value in node.values
            )
            yield node.lineno, text
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skip:
                yield node.lineno, node.value


def sql_literals(root: Path, package: str) -> list[Finding]:
    """String literals in ``root/package`` (docstrings aside) that look like SQL statements."""
    findings: list[Finding] = []
    for module in parse_modules(root, package):
        for line, text in _string_literals(module.tree):
            if any(pattern.search(text) for pattern in SQL_PATTERNS):
                shown = " ".join(text.split())
                shown = shown if len(shown) <= 70 else shown[:67] + "..."
                findings.append(Finding(f"{module.location}:{line}", repr(shown)))
    return findings


def long_modules(root: Path, limit: int) -> list[Finding]:
    """Modules under ``root`` with more than ``limit`` lines."""
    return [
        Finding(module.location, f"{module.lines} lines")
        for module in parse_modules(root)
        if module.lines > limit
    ]


def package_modules(root: Path, package: str) -> list[Finding]:
    """Every module under ``root/package``, subpackages included, ``__init__.py`` files aside."""
    return [
        Finding(module.location, module.name)
        for module in parse_modules(root, package)
        if not module.is_init
    ]


def _report(title: str, offenders: Iterable[object]) -> str:
    shown = [str(offender) for offender in offenders]
    return f"{title}: {len(shown)} offender(s)\n" + "\n".join(shown)


# --- the real tree -------------------------------------------------------------------------


@pytest.mark.parametrize("package", sorted(CORE_LAYERS))
def test_core_layers_import_no_outer_layer(package: str) -> None:
    assert (OUTREACH / package).is_dir(), f"outreach/{package} is missing"
    offenders = layer_violations(OUTREACH, package, CORE_LAYERS[package])
    assert not offenders, _report(f"outreach.{package} imports an outer layer", offenders)


@pytest.mark.xfail(
    strict=True,
    reason="issue 18 open: activities still import workflows.case_data/case_contract/review_data",
)
def test_activities_do_not_import_workflows() -> None:
    assert (OUTREACH / "activities").is_dir(), "outreach/activities is missing"
    offenders = layer_violations(OUTREACH, "activities", ["workflows"])
    assert not offenders, _report("outreach.activities imports outreach.workflows", offenders)


@pytest.mark.xfail(
    strict=True, reason="issue 18 open: channels.py, facts.py, review.py still run SQL"
)
def test_activities_hold_no_sql() -> None:
    assert (OUTREACH / "activities").is_dir(), "outreach/activities is missing"
    offenders: list[object] = [
        *sql_literals(OUTREACH, "activities"),
        *forbidden_imports(OUTREACH, "activities", ["asyncpg"]),
    ]
    assert not offenders, _report("outreach.activities holds SQL or imports asyncpg", offenders)


@pytest.mark.xfail(
    strict=True,
    reason="issue 18 open: activities<->workflows, api<->web, cases->api, cases->ingest",
)
def test_no_cycle_between_packages() -> None:
    cycles = package_cycles(import_edges(OUTREACH))
    assert not cycles, _report("top-level packages of outreach import each other", cycles)


@pytest.mark.xfail(
    strict=True,
    reason="issue 18 open: workflows/outreach_case.py passes 600 lines",
)
def test_modules_stay_short() -> None:
    offenders = long_modules(OUTREACH, MAX_MODULE_LINES)
    assert not offenders, _report(f"modules over {MAX_MODULE_LINES} lines", offenders)


def test_infra_stays_small() -> None:
    modules = package_modules(OUTREACH, "infra")
    assert len(modules) <= MAX_INFRA_MODULES, _report(
        f"outreach/infra holds more than {MAX_INFRA_MODULES} modules", modules
    )


# --- the checkers themselves, on synthetic trees --------------------------------------------


def _write(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (path relative to ``root`` -> text) and return ``root/outreach``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "outreach"


def _lines(count: int) -> str:
    return "".join(f"X{number} = {number}\n" for number in range(count))


CLEAN_TREE: dict[str, str] = {
    "outreach/__init__.py": '"""Root."""\n',
    "outreach/events/__init__.py": "from .envelope import Envelope\n",
    "outreach/events/envelope.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from outreach.store.event_store import EventStore\n"
        "class Envelope: ...\n"
    ),
    "outreach/policy/__init__.py": "",
    "outreach/policy/rules.py": "from outreach.events import Envelope\n",
    "outreach/workflows/__init__.py": "",
    "outreach/workflows/case.py": (
        "from outreach.policy.rules import Envelope\nfrom . import steps\nfrom .. import events\n"
    ),
    "outreach/workflows/steps.py": "",
    "outreach/activities/__init__.py": "",
    "outreach/activities/facts.py": (
        '"""Reads facts; the store runs SELECT x FROM y for it."""\n'
        "from outreach.events import Envelope\n"
        "from outreach.policy import rules\n"
        "class Facts:\n"
        '    """Never writes: no INSERT INTO here."""\n'
        "    def select(self, name: str) -> str:\n"
        '        """DELETE FROM is not ours."""\n'
        '        return f"select the {name} household"\n'
    ),
    "outreach/store/__init__.py": "",
    "outreach/store/event_store.py": (
        "import asyncpg\n"
        "from outreach.events import Envelope\n"
        'QUERY = "SELECT x FROM y"\n'
        "class EventStore: ...\n"
    ),
    "outreach/demo/__init__.py": "",
    "outreach/demo/city.py": _lines(MAX_MODULE_LINES),
    **{f"outreach/infra/m{number}.py": "" for number in range(MAX_INFRA_MODULES)},
    "outreach/infra/__init__.py": "",
}


@pytest.fixture
def clean_tree(tmp_path: Path) -> Path:
    return _write(tmp_path, CLEAN_TREE)


@pytest.fixture
def bad_tree(tmp_path: Path) -> Path:
    return _write(
        tmp_path,
        {
            **CLEAN_TREE,
            "outreach/workflows/bad.py": "from outreach.store.event_store import EventStore\n",
            "outreach/policy/bad.py": (  # counted although type-only; no edge, so no cycle
                "import os\n"
                "from typing import TYPE_CHECKING\n"
                "from outreach import events\n"
                "if TYPE_CHECKING:\n"
                "    from outreach import demo, workflows\n"
            ),
            "outreach/activities/query.py": (
                '"""Module docstring: SELECT x FROM y is fine here."""\n'
                'QUERY = "SELECT x FROM y"\n'
                "def columns(cols: str) -> str:\n"
                '    return f"select {cols}\\n  from t"\n'
            ),
            "outreach/activities/database.py": "import asyncpg.pool\n",
            "outreach/activities/late.py": (
                "def run() -> None:\n    from ..workflows.case import Envelope\n"
            ),
            "outreach/relay/__init__.py": "",
            "outreach/relay/publish.py": "from outreach.cases.open import open_case\n",
            "outreach/cases/__init__.py": "",
            "outreach/cases/open.py": (
                "def open_case() -> None:\n    from ..relay import publish\n"
            ),
            "outreach/demo/long.py": _lines(MAX_MODULE_LINES + 1),
            "outreach/infra/sub/__init__.py": "",
            "outreach/infra/sub/extra.py": "",
        },
    )


def test_clean_tree_has_no_offender(clean_tree: Path) -> None:
    for package, forbidden in CORE_LAYERS.items():
        assert layer_violations(clean_tree, package, forbidden) == []
    assert layer_violations(clean_tree, "activities", ["workflows"]) == []
    assert sql_literals(clean_tree, "activities") == []
    assert forbidden_imports(clean_tree, "activities", ["asyncpg"]) == []
    assert package_cycles(import_edges(clean_tree)) == []
    assert long_modules(clean_tree, MAX_MODULE_LINES) == []
    assert len(package_modules(clean_tree, "infra")) == MAX_INFRA_MODULES


def test_layer_violations_name_each_offender(bad_tree: Path) -> None:
    workflows = layer_violations(bad_tree, "workflows", CORE_LAYERS["workflows"])
    assert [str(found) for found in workflows] == [
        "outreach/workflows/bad.py:1: from outreach.store.event_store import EventStore"
    ]
    policy = layer_violations(bad_tree, "policy", CORE_LAYERS["policy"])
    assert [str(found) for found in policy] == [
        "outreach/policy/bad.py:5: from outreach import demo",
        "outreach/policy/bad.py:5: from outreach import workflows",
    ]


def test_activities_importing_workflows_are_caught(bad_tree: Path) -> None:
    offenders = layer_violations(bad_tree, "activities", ["workflows"])
    assert [str(found) for found in offenders] == [
        "outreach/activities/late.py:2: from ..workflows.case import Envelope"
    ]


def test_sql_in_activities_is_caught(bad_tree: Path) -> None:
    assert [str(found) for found in sql_literals(bad_tree, "activities")] == [
        "outreach/activities/query.py:2: 'SELECT x FROM y'",
        "outreach/activities/query.py:4: 'select {} from t'",
    ]
    assert [str(found) for found in forbidden_imports(bad_tree, "activities", ["asyncpg"])] == [
        "outreach/activities/database.py:1: import asyncpg.pool"
    ]


def test_package_cycles_are_caught(bad_tree: Path) -> None:
    cycles = package_cycles(import_edges(bad_tree))
    assert [str(cycle) for cycle in cycles] == [
        "cycle among cases, relay:\n"
        "    cases -> relay (outreach/cases/open.py:2: from ..relay import publish)\n"
        "    relay -> cases "
        "(outreach/relay/publish.py:1: from outreach.cases.open import open_case)"
    ]


def test_type_checking_imports_make_no_edge(clean_tree: Path) -> None:
    edges = {(edge.source, edge.target) for edge in import_edges(clean_tree)}
    assert ("store", "events") in edges
    assert ("events", "store") not in edges
    assert ("workflows", "events") in edges  # from .. import events


def test_long_modules_are_caught(bad_tree: Path) -> None:
    assert [str(found) for found in long_modules(bad_tree, MAX_MODULE_LINES)] == [
        f"outreach/demo/long.py: {MAX_MODULE_LINES + 1} lines"
    ]


def test_infra_modules_are_counted(bad_tree: Path) -> None:
    modules = [str(found) for found in package_modules(bad_tree, "infra")]
    assert len(modules) == MAX_INFRA_MODULES + 1
    assert "outreach/infra/sub/extra.py: outreach.infra.sub.extra" in modules
    assert not any("__init__" in module for module in modules)


def test_strongly_connected_finds_long_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d"], "f": []}
    assert strongly_connected(graph) == [("a", "b", "c"), ("d", "e"), ("f",)]
