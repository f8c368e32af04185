"""The package's shape: no import cycles, and the layout the README's table promises.

A cycle makes the import order decide what works, and it is the first sign of
a shared type living in the wrong module: shared types live at the bottom.
Function-level imports count too (laziness keeps start-up light, it does not
make a cycle go away); ``if TYPE_CHECKING:`` blocks never run and don't count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tokentool

PACKAGE = Path(tokentool.__file__).parent
ROOT = PACKAGE.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run, function-level ones included (a lazy import is still
    a dependency: it only moves the cycle's failure to run time)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "_sample_project" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                submodules = [f"{base}.{alias.name}" for alias in node.names]
                targets = [t for t in submodules if t in paths] or [base]
            edges.update(t for t in targets if t in paths and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle, as a path, or None (iterative DFS: no recursion on the graph's depth)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph[nxt])))
    return None


def test_the_package_has_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_design_card_top_level() -> None:
    for name in (
        "tasks.py",
        "tokentool",
        "sample_project",
        "tests",
        ".env.example",
        "pyproject.toml",
    ):
        assert (ROOT / name).exists(), name
    assert (ROOT / "sample_project" / "pyproject.toml").is_file()


def _verdict_strings(tree: ast.Module) -> list[str]:
    """Literal text (plain strings and the fixed parts of f-strings) that words a verdict."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith("SECURITY:") or any(mark in text for mark in VERDICT_MARKS):
                found.append(text)
    return found


#: Words only the probe's one printer (``tokentool.probe.describe``) may write.
VERDICT_MARKS = (
    "refused as expected:",
    "not because of the token's restriction",
    "can't be probed, so nothing was sent",
    "the index accepted an expired token",
    "the index accepted a token restricted to",
)


def test_only_the_probe_words_a_verdict() -> None:
    """probe, invoke probe, verify-rejection (and conformance's SECURITY line): one printer."""
    printer = PACKAGE / "probe.py"
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in PACKAGE.rglob("*.py")
        if path != printer
        and (found := _verdict_strings(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert offenders == {}
    assert _verdict_strings(ast.parse(printer.read_text(encoding="utf-8")))


def test_the_verdict_finder_finds_one() -> None:
    assert _verdict_strings(ast.parse('x = f"SECURITY: the index accepted {y}"')) == [
        "SECURITY: the index accepted "
    ]
    assert _verdict_strings(ast.parse('x = f"refused as expected: {a.summary}"'))
    assert not _verdict_strings(ast.parse('"""Exit codes: 4  SECURITY: accepted."""'))


#: Command-line entry points: the only modules outside ``tokentool/cli/`` that may import it.
#: ``tokentool.__main__`` is ``python -m tokentool``, ``tokentool.index.__main__`` the
#: stand-in's own command line (``tokentool index`` delegates to it), built on the same
#: ``Parser`` and ``guarded`` as every subcommand.
ENTRY_POINTS = {"tokentool.__main__", "tokentool.index.__main__"}


def test_nothing_below_the_command_line_imports_it() -> None:
    """The library layers (token, probe, workflow, index, tasks) word failures with
    ``tokentool._errors``; only the command line and its entry points import ``tokentool.cli``."""
    graph = import_graph()
    offenders = {
        module: sorted(t for t in targets if t == "tokentool.cli" or t.startswith("tokentool.cli."))
        for module, targets in graph.items()
        if not (module == "tokentool.cli" or module.startswith("tokentool.cli."))
        and module not in ENTRY_POINTS
    }
    assert {m: t for m, t in offenders.items() if t} == {}
    assert "tokentool.cli._base" in graph["tokentool.index.__main__"]  # the rule sees imports
