"""The layers run one way (docs/architecture.md, "Layers"): read from the source with ast.

Every ``import`` of a simsales module counts, at module level or inside a function, except
those under ``if TYPE_CHECKING:`` (annotations only, never run). A module may import its own
package, the layers below its own, and siblings of its own layer as long as no two packages
import each other (directly or round a longer loop); modules import no loop of each other.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "simsales"

# bottom to top; packages of one layer are siblings
LAYERS: list[tuple[str, ...]] = [
    ("errors", "io", "lazy", "i18n"),
    ("scenario",),
    ("engine",),
    ("results",),
    ("report", "optimize", "calibrate"),
    ("api",),
    ("commands",),
    ("cli", "__main__"),  # python -m simsales: the same command line
    ("simsales",),  # the package's own __init__: the public names
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """The layer part a module belongs to: simsales.results.forecast -> results."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "simsales"


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                out.update(id(n) for n in ast.walk(stmt))
    return out


def imports() -> Iterator[tuple[str, str, int, str]]:
    """(importing module, file:line, line, imported simsales module) for every import."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_only(tree)
        here = _module_name(path)
        where = str(path.relative_to(PACKAGE.parent))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    f"{node.module}.{a.name}"
                    if _is_module(f"{node.module}.{a.name}")
                    else node.module
                    for a in node.names
                ]
            for target in targets:
                if target == "simsales" or target.startswith("simsales."):
                    yield here, f"{where}:{node.lineno}", node.lineno, target


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its nodes in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_part_has_a_layer() -> None:
    parts = {_part(m) for m, *_ in imports()} | {_part(t) for *_, t in imports()}
    assert parts <= set(RANK), f"put {sorted(parts - set(RANK))} in a layer of LAYERS"


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = {  # one line per import statement, in file order
        f"{where} imports {target}: {_part(here)} may not import {_part(target)}, a layer above": 1
        for here, where, _, target in imports()
        if RANK[_part(target)] > RANK[_part(here)]
    }
    assert not upward, "\n".join(upward)


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    first: dict[tuple[str, str], str] = {}
    for here, where, _, target in imports():
        a, b = _part(here), _part(target)
        if a != b:
            graph.setdefault(a, set()).add(b)
            first.setdefault((a, b), f"{where} imports {target}")
    cycle = _cycle(graph)
    assert cycle is None, "packages import each other: " + "; ".join(
        first[a, b] for a, b in itertools.pairwise(cycle)
    )


def test_no_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    first: dict[tuple[str, str], str] = {}
    for here, where, _, target in imports():
        if here != target and not here.startswith(target + "."):  # a package's own __init__
            graph.setdefault(here, set()).add(target)
            first.setdefault((here, target), f"{where} imports {target}")
    cycle = _cycle(graph)
    assert cycle is None, "modules import each other: " + "; ".join(
        first[a, b] for a, b in itertools.pairwise(cycle)
    )


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[str] | None
) -> None:
    assert _cycle(graph) == expected
