"""The manager's parts import each other without a circle: collaborators see a narrow
``ScopeContext``, never the scope itself (so each part can be tested on its own)."""

from __future__ import annotations

import ast
from importlib.resources import files


def _graph() -> dict[str, set[str]]:
    base = files("exitguard") / "manager"
    graph: dict[str, set[str]] = {}
    for entry in base.iterdir():
        if not entry.name.endswith(".py"):
            continue
        tree = ast.parse(entry.read_text())
        deps: set[str] = set()
        for node in ast.walk(tree):  # TYPE_CHECKING imports count too: a circle is a circle
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.level == 1:
                    deps.add(node.module.split(".")[0])
                elif node.module.startswith("exitguard.manager."):
                    deps.add(node.module.split(".")[2])
        graph[entry.name[:-3]] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            if dep in path:
                found.append([*path[path.index(dep) :], dep])
            elif len(path) < len(graph):
                walk(dep, [*path, dep])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_manager_has_no_import_circle():
    graph = _graph()
    assert {"scope", "apply", "submit", "fallback", "adopt", "context"} <= set(graph)
    assert _cycles(graph) == []


def test_collaborators_do_not_import_the_scope():
    graph = _graph()
    for part in ("apply", "submit", "fallback", "adopt", "verdicts", "tasks", "health"):
        assert "scope" not in graph[part], part


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"a"}}) != []
