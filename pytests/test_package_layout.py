"""The Python packages show the architecture (ARCHITECTURE.md "Python packages"): `loaders/` is landing zone ->
raw tables and nothing else; the `unify` tool uses the loaders, never the other way round.

The direction is read from the source (every import statement, including those inside functions), so a
lazy import cannot hide a dependency that a top-level scan would miss.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in `path` names (absolute imports; relative ones are resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
    return found


def offending_imports(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = sorted(m for m in imported_modules(path)
                      if any(m == f or m.startswith(f + ".") for f in forbidden))
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


def test_loaders_import_neither_the_tool_nor_its_cli():
    assert offending_imports("loaders", ("unify",)) == {}


def test_the_scan_sees_a_lazy_import(tmp_path, monkeypatch):
    """The check itself can fail: an import inside a function body is found."""
    package = tmp_path / "loaders"
    package.mkdir()
    (package / "x.py").write_text("def f():\n    from unify.cli import main\n    return main\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert offending_imports("loaders", ("unify",)) == {"loaders/x.py": ["unify.cli"]}


def test_every_package_says_what_lives_there():
    for init in sorted([*(ROOT / "loaders").rglob("__init__.py"), *(ROOT / "unify").rglob("__init__.py")]):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 30, f"{init.relative_to(ROOT)} has no opening docstring saying what lives there"
