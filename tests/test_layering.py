"""The import contract of the house (STYLE.md): every module sits in one layer and imports
only from its own layer or lower ones (so nothing but the entry point imports the CLI); no import cycles.

Imports are read from the source (ast), function-level and TYPE_CHECKING imports included:
a lazy import is still a dependency. The layers are data, here, in one place; a new module
must be placed in one (the test names it otherwise).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "onnxlayer"

#: Lowest first. A module belongs to the layer naming it or its closest enclosing package.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("onnxlayer.errors", "onnxlayer.version", "onnxlayer.budget", "onnxlayer.fitcache", "onnxlayer.wire",
                    "onnxlayer.onnxapi", "onnxlayer.deferred")),
    ("loading", ("onnxlayer.loading",)),
    ("graph view", ("onnxlayer.graph", "onnxlayer.prepare", "onnxlayer.unroll", "onnxlayer.sequences", "onnxlayer.bounds",
                    "onnxlayer.transfer", "onnxlayer.expansion", "onnxlayer.quantization", "onnxlayer.dedupe")),
    ("fusion and registry", ("onnxlayer.registry", "onnxlayer.fusion", "onnxlayer.ops", "onnxlayer.pattern",
                             "onnxlayer.elementwise")),
    ("algebra", ("onnxlayer.algebra",)),
    ("results and summary", ("onnxlayer.result", "onnxlayer.summary", "onnxlayer.comparison", "onnxlayer.expression",
                             "onnxlayer.decompose", "onnxlayer.probe.result", "onnxlayer.audit.result",
                             "onnxlayer.policy", "onnxlayer.diff", "onnxlayer.study")),
    ("pipeline", ("onnxlayer.analysis",)),
    ("presenters", ("onnxlayer.present",)),
    ("probes, converters, audits and the API", ("onnxlayer.probe", "onnxlayer.converters", "onnxlayer.models",
                                                "onnxlayer.models_access", "onnxlayer.audit", "onnxlayer.gate",
                                                "onnxlayer.api")),
    ("command line", ("onnxlayer.cli",)),
    ("entry points", ("onnxlayer", "onnxlayer.__main__")),
)
#: Packages whose name covers only their __init__, not their submodules (the root is a facade).
EXACT = frozenset({"onnxlayer"})
#: Cycles older than this contract, in code its owners will split; the test fails when one is
#: gone (delete it here) or a new one appears.
KNOWN_CYCLES: tuple[tuple[str, ...], ...] = (
    # keras/torch take the package's shared helpers, and the package imports them lazily: helpers to a module of their own
    ("onnxlayer.converters", "onnxlayer.converters.keras", "onnxlayer.converters.torch"),
)


# ------------------------------------------------------------------ the checker


def module_files(packages: dict[str, Path]) -> dict[str, Path]:
    """Module name → file for every .py file of the given packages (name → directory), recursing
    into subdirectories that are packages themselves unless they are listed separately."""
    files: dict[str, Path] = {}
    for name, directory in packages.items():
        for path in sorted(directory.glob("*.py")):
            files[name if path.stem == "__init__" else f"{name}.{path.stem}"] = path
        for sub in sorted(directory.iterdir()):
            if (sub / "__init__.py").is_file() and f"{name}.{sub.name}" not in packages:
                files.update(module_files({f"{name}.{sub.name}": sub}))
    return files


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its source."""
    is_package = path.stem == "__init__"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name
                while target and target not in known:  # `import a.b.c` where c is a name inside a.b
                    target = target.rpartition(".")[0]
                found.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            # `from pkg import name`: the submodule pkg.name if there is one, else pkg itself
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {target for target in found if target in known and target != module}


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    files = module_files(packages)
    known = set(files)
    return {m: imports_of(m, p, known) for m, p in files.items()}


def layer_of(module: str, layers=LAYERS, exact=EXACT) -> int | None:
    """Index of the layer holding `module` (the longest matching name wins), None if none does."""
    best, best_len = None, -1
    for index, (_, names) in enumerate(layers):
        for name in names:
            covers = module == name or (name not in exact and module.startswith(name + "."))
            if covers and len(name) > best_len:
                best, best_len = index, len(name)
    return best


def violations(graph: dict[str, set[str]], layers=LAYERS, exact=EXACT) -> list[str]:
    """Modules in no layer, then imports of a higher layer."""
    problems = [f"{m} is in no layer: add it to LAYERS in tests/test_layering.py" for m in sorted(graph)
                if layer_of(m, layers, exact) is None]
    for module in sorted(graph):
        mine = layer_of(module, layers, exact)
        for target in sorted(graph[module]):
            theirs = layer_of(target, layers, exact)
            if mine is not None and theirs is not None and theirs > mine:
                problems.append(f"{module} ({layers[mine][0]}) imports {target} ({layers[theirs][0]}), a higher layer")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of modules that import each other (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


# ------------------------------------------------------------------ the package


def installed_packages() -> dict[str, Path]:
    """The packages pyproject.toml installs, with their source directories (its package-dir map)."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    dirs = setup.get("package-dir", {})
    out = {}
    for name in setup["packages"]:
        mapped = next((k for k in sorted(dirs, key=len, reverse=True) if name == k or name.startswith(k + ".")), None)
        rel = dirs[mapped] + name[len(mapped):].replace(".", "/") if mapped else name.replace(".", "/")
        out[name] = ROOT / rel
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(installed_packages())


def test_pyproject_installs_every_package():
    listed = {p.resolve() for p in installed_packages().values()}
    on_disk = {d.parent.resolve() for d in (ROOT / PACKAGE).rglob("__init__.py")}
    assert on_disk <= listed, sorted(str(d.relative_to(ROOT)) for d in on_disk - listed)


def test_layers(graph):
    assert violations(graph) == []


def test_only_the_entry_point_imports_the_cli(graph):
    assert LAYERS[-2] == ("command line", ("onnxlayer.cli",))  # alone in its layer: all below may not import it
    users = {m for m, deps in graph.items() if not m.startswith("onnxlayer.cli")
             and any(d == "onnxlayer.cli" or d.startswith("onnxlayer.cli.") for d in deps)}
    assert users == {"onnxlayer.__main__"}


def test_no_import_cycles(graph):
    assert cycles(graph) == [list(c) for c in KNOWN_CYCLES]


def test_the_checker_reads_the_package(graph):
    """The graph holds what the house says: the API over the pipeline, the CLI over the API."""
    assert "onnxlayer.analysis" in graph["onnxlayer.api"] and "onnxlayer.api" in graph["onnxlayer.cli.analyze"]
    assert "onnxlayer.converters" in graph["onnxlayer.api"]  # a function-level import counts
    assert "onnxlayer.models" in graph["onnxlayer.models_access"]  # `from . import models`: the subpackage
    assert layer_of("onnxlayer.probe.result") < layer_of("onnxlayer.present.probe") < layer_of("onnxlayer.probe.run")


# ------------------------------------------------------------------ the checker fails on a violation


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_catches_upward_imports_cycles_and_unplaced_modules(tmp_path):
    write(tmp_path / "pkg", {
        "__init__.py": "from .top import main\n",
        "low.py": "def f():\n    from .high import g  # lazy, still a dependency\n",
        "high.py": "from . import low\nfrom .sub import a\n",
        "top.py": "import pkg.high\ndef main(): pass\n",
        "sub/__init__.py": "",
        "sub/a.py": "from ..sub import b\n",
        "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.a import x\n",
        "stray.py": "from pkg.top import main\n",  # in no layer
    })
    layers = (("low", ("pkg.low",)), ("sub", ("pkg.sub",)), ("high", ("pkg.high",)), ("top", ("pkg.top",)),
              ("entry", ("pkg",)))
    graph = import_graph({"pkg": tmp_path / "pkg"})
    assert graph["pkg.low"] == {"pkg.high"} and graph["pkg.top"] == {"pkg.high"}
    assert graph["pkg.sub.b"] == {"pkg.sub.a"} and graph["pkg.sub.a"] == {"pkg.sub.b"}
    assert violations(graph, layers, exact=frozenset({"pkg"})) == [
        "pkg.stray is in no layer: add it to LAYERS in tests/test_layering.py",
        "pkg.low (low) imports pkg.high (high), a higher layer",
    ]
    assert cycles(graph) == [["pkg.high", "pkg.low"], ["pkg.sub.a", "pkg.sub.b"]]
    # placed low, the stray module's import of the top one is an upward import
    placed = (("stray", ("pkg.stray",)),) + layers
    assert violations(graph, placed, exact=frozenset({"pkg"}))[-1] == "pkg.stray (stray) imports pkg.top (top), a higher layer"


def test_a_clean_package_passes(tmp_path):
    write(tmp_path / "pkg", {"__init__.py": "from . import b\n", "a.py": "", "b.py": "from .a import *\n"})
    graph = import_graph({"pkg": tmp_path / "pkg"})
    layers = (("a", ("pkg.a",)), ("b", ("pkg.b",)), ("entry", ("pkg",)))
    assert violations(graph, layers, exact=frozenset({"pkg"})) == [] and cycles(graph) == []
