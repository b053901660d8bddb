"""The shape of the package, read from its source with ``ast``.

* no import circle among the modules (imports inside functions and under
  ``TYPE_CHECKING`` count: they tie files together for a reader and a type checker);
* the jobs are the top floor: nothing but the command line imports them, and ``plots``
  imports no job;
* every file is written through :mod:`gdynbook.cache`'s atomic writers: no other module
  calls ``os.replace``, ``json.dump``, ``np.savez``, ``torch.save``, ``savefig``,
  ``write_text`` or ``write_bytes`` itself (the MD engine may move a finished chunk
  out of its ``.partial/`` folder, and says so where it does).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gdynbook"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """gdynbook modules a file imports anywhere in it (resolved to existing modules)."""
    tree = ast.parse(path.read_text())
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            if not name.startswith("gdynbook"):
                continue
            # the longest prefix that is a module: "gdynbook.train.fit" -> "gdynbook.train"
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != "gdynbook":  # the package's own __init__ imports nothing
                found.add(name)
    found.discard(module_name(path))
    return found


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_checker_finds_circles_and_resolves_imports(tmp_path: Path) -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    # function-level, TYPE_CHECKING and from-imports of names all count
    assert "gdynbook.train" in GRAPH["gdynbook.jobs.rundir"]
    assert "gdynbook.koopman" in GRAPH["gdynbook.plots"]
    assert "gdynbook.systems.peo_litfsi.runs" in GRAPH["gdynbook.systems.peo_litfsi.md"]


def test_no_import_circles() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_jobs_are_the_top_floor() -> None:
    users = {
        name
        for name, imports in GRAPH.items()
        if any(i == "gdynbook.jobs" or i.startswith("gdynbook.jobs.") for i in imports)
    }
    allowed = {"gdynbook.cli"}
    outside = {u for u in users if not u.startswith("gdynbook.jobs") and u not in allowed}
    assert outside == set(), f"modules below the jobs import them: {sorted(outside)}"
    assert not any(i.startswith("gdynbook.jobs") for i in GRAPH["gdynbook.plots"])


WRITERS = {
    "replace",
    "dump",
    "savez",
    "savez_compressed",
    "save",
    "savefig",
    "write_text",
    "write_bytes",
}


def direct_writes(path: Path) -> list[tuple[int, str]]:
    """(line, call) of every direct file write in a file."""
    tree = ast.parse(path.read_text())
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attribute = node.func.attr
        owner = node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else None
        hit = (
            (attribute == "replace" and owner_name == "os")
            or (attribute == "dump" and owner_name == "json")
            or (
                attribute in ("save", "savez", "savez_compressed") and owner_name in ("np", "numpy")
            )
            or (attribute == "save" and owner_name == "torch")
            or attribute in ("savefig", "write_text", "write_bytes")
        )
        if hit:
            context = " ".join(lines[max(0, node.lineno - 2) : node.lineno])
            found.append((node.lineno, f"{owner_name or '…'}.{attribute}", context))
    return found


def test_writes_go_through_the_atomic_writers() -> None:
    offenders = []
    for name, path in MODULES.items():
        if name == "gdynbook.cache":
            continue
        for line, call, context in direct_writes(path):
            chunk_move = (
                name == "gdynbook.systems.peo_litfsi.md"
                and call == "os.replace"
                and "chunk protocol" in context
            )
            if not chunk_move:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {call}")
    assert offenders == [], "write through gdynbook.cache instead:\n" + "\n".join(offenders)


def test_the_write_checker_sees_each_form(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import os, json, numpy as np, torch\n"
        "os.replace(a, b)\njson.dump(x, f)\nnp.savez(f, a=1)\ntorch.save(m, p)\n"
        "fig.savefig(p)\np.write_text('x')\nstring.replace('a', 'b')\n"
    )
    calls = [call for _, call, _ in direct_writes(source)]
    assert calls == [
        "os.replace",
        "json.dump",
        "np.savez",
        "torch.save",
        "fig.savefig",
        "p.write_text",
    ]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_is_importable_by_name(name: str) -> None:
    import importlib

    if name == "gdynbook.__main__":
        pytest.skip("running it is the command line itself")
    if name.endswith("peo_litfsi.md") or name.endswith("peo_litfsi.system"):
        pytest.importorskip("openmm")
    importlib.import_module(name)


def test_lazy_submodules_list_every_top_level_module() -> None:
    import gdynbook

    top = {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    top |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert set(gdynbook._SUBMODULES) == top
    for name in sorted(gdynbook._EXPORTS):
        assert getattr(gdynbook, name) is not None
