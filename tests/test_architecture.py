"""The layers of service/ only look down, and no two modules need each other (issue 17).

A cycle means neither module can be read, tested or changed without the other, and lets a
start-up import order decide whether a name exists yet; a clinical layer that reaches up into
the protocol or into Flask can no longer be run, or checked against the record, on its own. Both
crept in unseen before (the catalogue imported the CLI for its error class), so they are checked
on every run rather than by review.

The graph is read from the source with `ast`, not by importing it: every import counts, also one
inside a function or under `if TYPE_CHECKING`, because a deferred import is still a dependency.
`from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg`; importing
`a.b.c` is an edge to `a.b.c` only (Python also runs `a` and `a.b` first, but every module
depends on its parents that way, and counting it would make every package a cycle with its
submodules).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "service"
Graph = Mapping[str, frozenset[str]]  # module -> every module or package it imports

# The clinical rules must run without the web, the database, the templates or the FHIR model.
DECISION_MAY_NOT_IMPORT = ("service.fhir", "service.render", "service.hooks", "service.config",
                           "flask", "requests", "sqlalchemy", "jinja2")
FHIR_MAY_NOT_IMPORT = ("service.decision", "service.render")
ENTRY_POINT = "service.__main__"  # the only module that may import the CLI
ERRORS = "service.errors"  # a leaf: every layer may import it, so it may import nothing of ours


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(tree: ast.AST, module: str, is_package: bool, modules: Iterable[str]) -> Iterator[str]:
    """Every name `module` imports, resolved as the module docstring says."""
    known = set(modules)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package this module is in (or is)
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in known else base


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> Graph:
    """`module -> imported names` for every module under root/package, standard and third-party
    names included (the layer checks need them; the cycle check ignores them)."""
    files = {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, frozenset[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = frozenset(_imports(tree, module, _is_package(path), files))
    return graph


def _inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _internal(graph: Graph) -> dict[str, list[str]]:
    return {m: sorted(t for t in targets if t in graph and t != m) for m, targets in graph.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """Closed paths [a, b, ..., a], enough that every module in a cycle is named in one (the
    shortest through each module not named yet); empty when the graph is acyclic. The groups of
    modules that reach each other are found by Tarjan's algorithm, iteratively."""
    edges = _internal(graph)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    found: list[list[str]] = []
    for group in sorted(groups):
        named: set[str] = set()
        for start in group:
            if start not in named:
                found.append(_shortest_cycle(edges, set(group), start))
                named.update(found[-1])
    return found


def _shortest_cycle(edges: Mapping[str, list[str]], members: set[str], start: str) -> list[str]:
    """The shortest closed path from `start` within `members`, by breadth-first search."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in edges[node]:
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in no cycle in {sorted(members)}")  # Tarjan said it was


def forbidden_edges(graph: Graph, importers: str, targets: Iterable[str]) -> list[str]:
    """`a -> b` for every import by a module in `importers` of anything inside `targets`."""
    return sorted(f"{module} -> {name}"
                  for module, names in graph.items() if _inside(module, importers)
                  for name in names if any(_inside(name, t) for t in targets))


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_the_graph_is_read_from_every_module(graph: Graph) -> None:
    # a broken reader would pass every check below on an empty graph
    assert {"service", "service.cli", "service.decision.rules", ERRORS} <= set(graph)
    assert "service.cli" in graph[ENTRY_POINT]
    assert "flask" in graph["service.app"]  # third-party names are kept for the layer checks


def test_service_has_no_import_cycles(graph: Graph) -> None:
    found = cycles(graph)
    assert not found, "import cycles in service/ (each module in a cycle needs every other):\n" + \
        "\n".join("  " + " -> ".join(cycle) for cycle in found)


def test_decision_does_not_reach_up_into_protocol_fhir_render_config_or_the_web(
        graph: Graph) -> None:
    broken = forbidden_edges(graph, "service.decision", DECISION_MAY_NOT_IMPORT)
    assert not broken, "service.decision must run on facts alone; these imports break that:\n" + \
        "\n".join("  " + edge for edge in broken)


def test_fhir_does_not_import_decision_or_render(graph: Graph) -> None:
    broken = forbidden_edges(graph, "service.fhir", FHIR_MAY_NOT_IMPORT)
    assert not broken, "service.fhir turns FHIR into facts and must not know what the rules " \
        "or cards do with them; these imports break that:\n" + \
        "\n".join("  " + edge for edge in broken)


def test_only_the_entry_point_imports_the_cli(graph: Graph) -> None:
    broken = [edge for edge in forbidden_edges(graph, PACKAGE, ["service.cli"])
              if not edge.startswith(f"{ENTRY_POINT} -> ")]
    assert not broken, "service.cli is the top of the stack (it wires and runs everything); " \
        "nothing below may import it:\n" + "\n".join("  " + edge for edge in broken)


def test_the_errors_module_imports_nothing_of_the_service(graph: Graph) -> None:
    broken = forbidden_edges(graph, ERRORS, [PACKAGE])
    assert not broken, f"{ERRORS} is imported by every layer, so it may import none of them:\n" \
        + "\n".join("  " + edge for edge in broken)


# The checks themselves, on small graphs: a check that cannot fail proves nothing.

def test_a_cycle_is_named_by_its_path() -> None:
    toy = {"service.a": frozenset({"service.b", "os"}), "service.b": frozenset({"service.c"}),
           "service.c": frozenset({"service.a"}), "service.d": frozenset({"service.a"})}
    assert cycles(toy) == [["service.a", "service.b", "service.c", "service.a"]]
    assert cycles({"service.a": frozenset({"service.a"})}) == []  # `import self` is no cycle


def test_a_forbidden_edge_is_named() -> None:
    toy = {"service.decision.rules": frozenset({"flask", "service.decision.model"}),
           "service.render.cards": frozenset({"flask"})}
    assert forbidden_edges(toy, "service.decision", DECISION_MAY_NOT_IMPORT) == \
        ["service.decision.rules -> flask"]


def test_from_package_import_name_resolves_to_the_submodule_when_there_is_one(
        tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.sub import thing\n")
    (pkg / "sub" / "__init__.py").write_text("thing = 1\n")
    (pkg / "sub" / "mod.py").write_text("")
    (pkg / "user.py").write_text(
        "import pkg.sub.mod\nfrom pkg import sub\nfrom pkg.sub import thing\n"
        "def f() -> None:\n    from . import other\n    from .sub import mod\n")
    (pkg / "other.py").write_text("")
    found = import_graph(tmp_path, "pkg")
    assert found["pkg.user"] == {"pkg.sub.mod", "pkg.sub", "pkg.other"}
    assert found["pkg"] == {"pkg.sub"}
