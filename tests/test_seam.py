"""The seam holds: no shared module names a vendor.

Shared modules are the ones every vendor goes through: `sync/`, `kpi_core/`, `cli.py`, the
modules directly in `connectors/` and in `sandbox/` (a vendor's own package below them is its
own). What a vendor brings it declares on its connector class (connectors.base: the tables it
fills, whether its closed tickets are final) or its sandbox dialect (plans, how its writes read);
shared code asks, never names. Only the two registries name vendors, and documentation may
(docstrings and comments: a module explains itself with the vendors it was built for).

A vendor is any name either registry holds (built-ins and installed plugins), so a new vendor is
covered the day it registers. The check reads tokens, not text: identifiers and string literals
other than docstrings.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from deskpulse.connectors import registry
from deskpulse.sandbox.dialects import DIALECTS

ROOT = Path(__file__).resolve().parents[1]

REGISTRIES = ("connectors/registry.py", "sandbox/dialects.py")
"""The two places that name every vendor: that is their job."""

EXEMPT = {
    "sync/demo.py": "the demo is a scripted tour of the built-in vendors (an executable README); "
    "it reads what the sandbox received through sandbox.dialect.Received, not a vendor's bodies",
}
"""Shared-folder modules allowed to name vendors, each with its reason."""

NOT_VENDORS = frozenset({"files"})
"""Registered names that are no vendor: `files` is the canonical import format."""


def _vendors() -> list[str]:
    return sorted((set(registry.load()) | set(DIALECTS)) - NOT_VENDORS)


def _shared_modules() -> list[Path]:
    found = [
        *ROOT.glob("sync/**/*.py"),
        *ROOT.glob("kpi_core/**/*.py"),
        ROOT / "cli.py",
        *ROOT.glob("connectors/*.py"),
        *ROOT.glob("sandbox/*.py"),
    ]
    # A migration is history: once released its text never changes (it may name the vendor
    # whose data it moved).
    return sorted(p for p in found if "migrations" not in p.relative_to(ROOT).parts)


def _docstrings(tree: ast.AST) -> set[tuple[int, int]]:
    """Start positions of docstrings: a module's, class's or function's first statement, and any
    other bare string statement (an attribute's docstring)."""
    return {
        (node.lineno, node.col_offset)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def vendor_names_in(source: str, vendors: list[str]) -> list[tuple[int, str]]:
    """(line, token) of every identifier or non-docstring string literal naming a vendor."""
    pattern = re.compile("|".join(re.escape(v) for v in vendors), re.IGNORECASE)
    docs = _docstrings(ast.parse(source))
    kinds = {tokenize.NAME, tokenize.STRING}
    if hasattr(tokenize, "FSTRING_MIDDLE"):  # Python 3.12 splits f-strings into parts
        kinds.add(tokenize.FSTRING_MIDDLE)
    hits = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in kinds or token.start in docs:
            continue
        if pattern.search(token.string):
            hits.append((token.start[0], token.string))
    return hits


def test_no_shared_module_names_a_vendor() -> None:
    vendors = _vendors()
    leaks = []
    for path in _shared_modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel in REGISTRIES or rel in EXEMPT:
            continue
        for line, token in vendor_names_in(path.read_text(), vendors):
            leaks.append(f"{rel}:{line}: {token[:80]}")
    assert not leaks, (
        "shared modules name a vendor (declare it on the connector or the dialect instead):\n"
        + "\n".join(leaks)
    )


def test_the_check_sees_every_vendor_and_module() -> None:
    """The check is not vacuous: it knows the built-in vendors and reads the shared folders,
    and every exemption names a file that exists."""
    assert {"zendesk", "klaviyo", "liveagent"} <= set(_vendors())
    rels = {p.relative_to(ROOT).as_posix() for p in _shared_modules()}
    assert {"cli.py", "sync/engine.py", "kpi_core/engine.py", "connectors/http.py"} <= rels
    assert {"sandbox/server.py", *REGISTRIES, *EXEMPT} <= rels
    assert not any(r.startswith(("connectors/zendesk/", "sandbox/klaviyo/")) for r in rels)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"""Zendesk\'s quirks are documented here."""\nx = 1  # and Klaviyo in a comment\n', []),
        ('def f():\n    """Reads LiveAgent."""\n    return "zendesk"\n', [(3, '"zendesk"')]),
        ("from deskpulse.sandbox.zendesk import RateLimits\n", [(1, "zendesk")]),
        ('if vendor == "Klaviyo":\n    pass\n', [(1, '"Klaviyo"')]),
        ('LIMIT = 1\n"""LIMIT: as Zendesk counts it (an attribute docstring)."""\n', []),
        ('msg = f"{name}: KLAVIYO_API_KEY is wrong"\n', "found"),
    ],
)
def test_what_counts_as_naming_a_vendor(source: str, expected: object) -> None:
    hits = vendor_names_in(source, ["zendesk", "klaviyo", "liveagent"])
    if expected == "found":
        assert hits
    else:
        assert hits == expected


def _imports(path: Path, known: set[str]) -> set[str]:
    """The known modules `path` imports, at any depth (a function's own imports count: they
    are a cycle put off, not gone), except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & known


def test_the_layers_import_without_cycles() -> None:
    """sync/, kpi_core/, connectors/ and the CLI: no module imports one that imports it back
    (e.g. write-back planning and sending: sync.writeback_plan never imports sync.writeback)."""
    modules: dict[str, Path] = {"deskpulse.cli": ROOT / "cli.py"}
    for top in ("sync", "kpi_core", "connectors"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" not in parts:
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                modules[f"deskpulse.{name}"] = path
    graph = {m: _imports(p, set(modules)) - {m} for m, p in modules.items()}
    assert "deskpulse.sync.writeback_plan" in graph["deskpulse.sync.writeback"]

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            here = todo.pop()
            if here == goal:
                return True
            if here not in seen:
                seen.add(here)
                todo.extend(graph[here])
        return False

    cycles = sorted(" <-> ".join(sorted((m, n))) for m in graph for n in graph[m] if reaches(n, m))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
