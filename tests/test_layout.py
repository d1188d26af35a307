"""The shape of the code, checked: no import cycle between the package's modules, no private
Textual name read, no process-wide import tricks, and the rules free of I/O and Textual."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ftops_tui"


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text(), str(path))


def imported(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Every module a file imports, wherever the import is (lazy ones too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, node
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node


def graph() -> dict[str, set[str]]:
    trees = dict(modules())
    edges: dict[str, set[str]] = {name: set() for name in trees}
    for name, tree in trees.items():
        for target, _node in imported(tree):
            if target in trees and target != name:
                edges[name].add(target)
    return edges


def test_the_package_has_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(edges[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])


def test_no_private_textual_name_is_read() -> None:
    for name, tree in modules():
        for target, node in imported(tree):
            if target.startswith("textual"):
                private = [p for p in target.split(".") if p.startswith("_")]
                assert not private, f"{name} imports {target} (line {node.lineno})"
        for node in ast.walk(tree):
            # Textual's private attributes this code once used: they must stay unused.
            if isinstance(node, ast.Attribute) and node.attr in (
                "_bindings",
                "_notifications",
                "_data",
                "_update_count",
                "_render_cell",
                "_display",
                "_keymap",
            ):
                raise AssertionError(f"{name} reads .{node.attr} (line {node.lineno})")


def test_no_module_changes_how_the_process_imports() -> None:
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    text = ast.unparse(target)
                    assert not text.startswith("sys.modules"), f"{name}: {text}"


def test_the_rules_do_no_io_and_know_no_textual() -> None:
    forbidden = ("textual", "httpx", "sqlite3", "sqlite_utils", "mlflow", "asyncio", "ftops_tui.")
    allowed = "ftops_tui.domain"
    for name, tree in modules():
        if not name.startswith("ftops_tui.domain"):
            continue
        for target, _node in imported(tree):
            if target.startswith(allowed):
                continue
            assert not target.startswith(forbidden), f"{name} imports {target}"


def test_data_access_knows_nothing_of_textual_or_the_console() -> None:
    for name, tree in modules():
        if not name.startswith("ftops_tui.sources"):
            continue
        for target, _node in imported(tree):
            assert not target.startswith(("textual", "ftops_tui.console", "ftops_tui.changes"))
