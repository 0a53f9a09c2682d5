"""Helpers of the quality-gate tests (a module, not conftest.py, so tests can import them)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from loaders.config import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def copy_fixture(name: str, dest: Path, *, sqlfluff: bool = False) -> Path:
    """Copy fixture project `name` to `dest` with the real is_incremental override and profile."""
    shutil.copytree(FIXTURES / name, dest)
    (dest / "macros" / "gate").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "macros" / "gate" / "is_incremental.sql", dest / "macros" / "gate")
    if not (dest / "profiles.yml.example").exists():
        shutil.copy(ROOT / "profiles.yml.example", dest / "profiles.yml.example")
    if sqlfluff:
        shutil.copy(ROOT / ".sqlfluff", dest / ".sqlfluff")
    return dest


def marked_lines(project: Path, marker: str) -> list[tuple[str, int, str]]:
    """(file, line, text after the marker) for every `-- <marker>: ...` comment in the project's SQL."""
    found = []
    for path in sorted(project.rglob("*.sql")):
        parts = path.relative_to(project).parts
        if parts[0] in ("macros", "target", "logs") or parts[0].startswith("."):
            continue  # not fixture sources (the gate's compiled copies live in .unify/)
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if f"-- {marker}:" in line:
                found.append((str(path.relative_to(project)), number, line.split(f"-- {marker}:", 1)[1].strip()))
    return found


def project_settings(settings: Settings, project: Path) -> Settings:
    """Settings that point dbt (run_dbt, run_lint) at a fixture project instead of the repository."""
    return replace(settings, root=project, home=project / ".unify")
