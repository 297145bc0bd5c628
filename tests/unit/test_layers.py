"""The layout stays true: which package of `withdrawguard` may import which, no package
cycles, Faust's private names in one package, and modules of a readable size.

Read from the source (an AST walk over `src/withdrawguard`), so an import anywhere in a
module counts, also inside a function or under `TYPE_CHECKING`. A new package must be
given its row in `ALLOWED` before anything may import it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "withdrawguard"

# package (or top-level module) -> the packages of ours it may import. The root module
# (`withdrawguard`, its version) may be imported by all.
ALLOWED: dict[str, frozenset[str]] = {
    name: frozenset(deps)
    for name, deps in {
        # the pure core: the engine imports nothing of ours
        "engine": (),
        "secret": (),
        "progress": (),
        "settings": ("secret",),
        "contract": ("engine", "settings"),
        "auth": ("settings",),
        # pure domains around the engine
        "registry": ("contract", "engine", "settings"),
        "notify": ("cases", "contract", "engine", "secret", "settings"),  # case events out
        "cases": ("engine",),  # case work, pure: events, fold, commands, inboxes, four eyes
        # adapters: Kafka, Redis, channels, metrics; never streaming, web or the worker
        "adapters": ("cases", "contract", "engine", "notify", "registry", "secret", "settings"),
        # case work wired: the case service (no Faust, no web: the worker's sinks, the
        # console and the CLI call it), its config, export and `withdrawguard cases`
        "casework": ("adapters", "auth", "cases", "contract", "engine", "secret", "settings"),
        "policy": ("adapters", "auth", "contract", "engine", "secret", "settings"),
        "client": ("adapters", "registry", "settings"),
        # the demo works a few cases as its people, through the case service
        "sim": (
            "adapters", "auth", "cases", "casework", "contract", "engine", "progress", "settings",
        ),
        "scan": ("adapters", "contract", "engine", "policy", "progress", "settings", "sim"),
        # the two sides of the worker, which never import each other
        "streaming": (
            "adapters", "cases", "casework", "contract", "engine", "notify", "policy", "registry",
            "settings",
        ),
        "web": (
            "adapters", "auth", "cases", "casework", "client", "contract", "engine", "policy",
            "registry", "settings",
        ),
        # the one wiring point, and the command line
        "worker": (
            "adapters", "cases", "casework", "contract", "engine", "notify", "policy", "settings",
            "streaming", "web",
        ),
        "cli": (
            "adapters", "auth", "casework", "contract", "engine", "policy", "progress", "registry",
            "scan", "settings", "sim", "streaming", "worker",
        ),
        "__main__": ("cli",),
    }.items()
}  # fmt: skip

MAX_LINES = 320
"""About 300: the house style's size for a module a reader takes in at once."""


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        yield ".".join(("withdrawguard", *parts)).removesuffix(".__init__"), path


def _package(module: str) -> str:
    """`withdrawguard.streaming.detect.pipeline` -> `streaming`; the root -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path, module: str) -> Iterator[str]:
    """Every module of ours that `module` (at `path`) imports, absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "withdrawguard")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] == "withdrawguard":
                yield target
                yield from (f"{target}.{a.name}" for a in node.names)


def _package_edges() -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) -> where, for every import across packages."""
    known = {_package(m) for m, _ in _modules()}
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in _modules():
        source = _package(module)
        for target in _imports(path, module):
            dest = _package(target)
            if dest in known and dest not in ("", source):
                edges.setdefault((source, dest), []).append(f"{module} -> {target}")
    return edges


def test_every_package_has_its_row_in_the_table() -> None:
    packages = {_package(m) for m, _ in _modules()} - {""}
    assert packages == set(ALLOWED), "give a new package its row in ALLOWED (and say why)"


def test_each_package_imports_only_what_its_row_allows() -> None:
    refused = {
        f"{src} may not import {dest}: {where[0]}"
        for (src, dest), where in _package_edges().items()
        if dest not in ALLOWED[src]
    }
    assert not refused, "\n".join(sorted(refused))


def test_the_engine_imports_nothing_of_ours_but_the_version() -> None:
    assert not any(src == "engine" for src, _ in _package_edges())


def test_streaming_and_web_never_import_each_other() -> None:
    edges = _package_edges()
    assert ("streaming", "web") not in edges and ("web", "streaming") not in edges
    assert not any(src == "adapters" and dest in ("streaming", "web") for src, dest in edges)


def test_no_two_packages_import_each_other_and_there_is_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for src, dest in _package_edges():
        graph.setdefault(src, set()).add(dest)
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = [*path[path.index(node) :], node]
            raise AssertionError("package cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])


def test_the_table_itself_has_no_cycle() -> None:
    # The table allows only a layering: were it to allow a cycle, the check above would
    # be the only guard left.
    order: list[str] = []
    remaining = dict(ALLOWED)
    while remaining:
        ready = [p for p, deps in remaining.items() if deps <= set(order)]
        assert ready, f"ALLOWED has a cycle among {sorted(remaining)}"
        order.extend(sorted(ready))
        for p in ready:
            del remaining[p]


def test_faust_private_names_are_used_only_in_faust_internals() -> None:
    internals = SRC / "streaming" / "faust_internals"
    found = []
    for module, path in _modules():
        if internals in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                "faust",
                "mode",
                "aiokafka",
            ):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or any(p.startswith("_") for p in (node.module or "").split(".")):
                    found.append(f"{module}: from {node.module} import {private}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")
                and not str(node.args[1].value).endswith("__")  # a dunder is public
            ):
                found.append(f"{module}: {node.func.id}(..., {node.args[1].value!r})")
    assert not found, "\n".join(found)


def test_no_module_is_much_over_three_hundred_lines() -> None:
    long = {
        f"{path.relative_to(SRC)}: {n} lines"
        for _, path in _modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, "split these by what they hold:\n" + "\n".join(sorted(long))


def test_the_walk_sees_relative_and_nested_imports() -> None:
    # the checks above are only as good as this reader
    edges = _package_edges()
    assert ("worker", "web") in edges and ("worker", "streaming") in edges
    assert ("web", "auth") in edges  # web/console imports auth inside a module body
