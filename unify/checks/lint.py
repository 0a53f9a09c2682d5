"""`unify check lint`: sqlfluff over models, snapshots, analyses and tests, both incremental branches.

sqlfluff (dialect redshift, dbt templater, rules in .sqlfluff) renders each file through dbt with the
`local` target, so the local warehouse must answer (the templater fills dbt's relation cache from it).
.sqlfluff sets the var `unify_gate_is_incremental` to False, so incremental models render their
full-refresh branch whatever tables exist locally; files that call is_incremental() are then linted a
second time with the var True (macros/gate/is_incremental.sql), so the incremental branch obeys the
same style. sqlfluff runs as a subprocess (its output streams as usual) with a private dbt target
folder, so linting never disturbs another engineer's target/.

Exit codes: 0 clean, 1 style violations, 2 lint could not run (no sqlfluff, no warehouse, templater
error).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from unify.checks.redshift_gate import locked
from loaders.config import Settings
from unify.dbt_runner import dbt_env, ensure_profile

DEFAULT_PATHS = ("models", "snapshots", "analyses", "tests")
INCREMENTAL_CONFIG = """[sqlfluff:templater:dbt:context]
unify_gate_is_incremental = True
"""


class LintError(Exception):
    """Lint could not run; the message says what is missing."""


@dataclass(frozen=True)
class LintPass:
    """One sqlfluff run. `report` is sqlfluff's JSON report (one entry per file) when captured."""

    label: str
    paths: int
    exit_code: int
    seconds: float
    report: list[dict] | None = None

    @property
    def violations(self) -> list[tuple[str, int, str]]:
        """(file, line, rule code) of every violation in the captured report."""
        return [
            (entry["filepath"], violation.get("start_line_no", 0), violation["code"])
            for entry in self.report or []
            for violation in entry.get("violations", [])
        ]


def sqlfluff_executable() -> str:
    candidate = Path(sys.executable).with_name("sqlfluff")
    if candidate.exists():
        return str(candidate)
    raise LintError("sqlfluff is not installed in this environment: run `make install-test`")


def files_calling_is_incremental(root: Path, paths: list[str]) -> list[str]:
    """SQL files under `paths` whose text calls is_incremental(): they have a second branch to lint."""
    found = []
    for path in paths:
        base = root / path
        candidates = [base] if base.is_file() else sorted(base.rglob("*.sql"))
        for file in candidates:
            if "is_incremental(" in file.read_text(errors="replace"):
                found.append(str(file.relative_to(root)))
    return found


def check_warehouse(settings: Settings) -> None:
    import psycopg2

    try:
        psycopg2.connect(settings.dsn(), connect_timeout=5).close()
    except psycopg2.OperationalError as err:
        raise LintError(
            f"sqlfluff's dbt templater needs the local warehouse ({settings.url()}) and it does not "
            f"answer: start it with `unify warehouse start` ({str(err).strip().splitlines()[0]})"
        ) from err


def _run(cmd: list[str], root: Path, env: dict[str, str], label: str, paths: int, capture: bool) -> LintPass:
    print(f"== sqlfluff: {label} ({paths} path(s))", file=sys.stderr if capture else sys.stdout, flush=True)
    started = time.monotonic()
    if not capture:
        proc = subprocess.run(cmd, cwd=root, env=env)
        return LintPass(label, paths, proc.returncode, time.monotonic() - started)
    proc = subprocess.run([*cmd, "--format", "json"], cwd=root, env=env, text=True, stdout=subprocess.PIPE)
    try:
        report = json.loads(proc.stdout)
    except ValueError as err:
        raise LintError(f"sqlfluff ({label}) wrote no JSON report (exit {proc.returncode}): "
                        f"{proc.stdout[-2000:]}") from err
    return LintPass(label, paths, proc.returncode, time.monotonic() - started, report)


def run_lint(
    settings: Settings,
    paths: list[str] | None = None,
    processes: int | None = None,
    capture: bool = False,
) -> list[LintPass]:
    """Lint `paths` (default: models, snapshots, analyses, tests) with both incremental branches.

    With `capture`, sqlfluff's JSON report is returned instead of its text going to stdout."""
    root = settings.root
    paths = [p for p in (paths or DEFAULT_PATHS) if (root / p).exists()]
    if not paths:
        raise LintError(f"nothing to lint under {root}")
    executable = sqlfluff_executable()
    check_warehouse(settings)
    ensure_profile(root)
    work = settings.home / "lint"
    with locked(work):  # engineers share the checkout: one lint per work folder at a time
        return _lint(executable, root, work, settings, paths, processes, capture)


def _lint(executable: str, root: Path, work: Path, settings: Settings, paths: list[str],
          processes: int | None, capture: bool) -> list[LintPass]:
    env = dbt_env(settings, {
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        # sqlfluff's worker pool leaves a semaphore for the resource tracker to clean: harmless noise
        "PYTHONWARNINGS": "ignore::UserWarning:multiprocessing.resource_tracker",
    })
    base = [executable, "lint", "--disable-progress-bar"]
    first = [*base, *(["--processes", str(processes)] if processes is not None else []), *paths]
    passes = [_run(first, root, env, "full-refresh branch (is_incremental() false)", len(paths), capture)]
    incremental = files_calling_is_incremental(root, paths)
    if incremental:
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", dir=work, delete=False) as cfg:
            cfg.write(INCREMENTAL_CONFIG)
        try:
            # Few files: one process (each extra sqlfluff process loads the dbt project again).
            second = [*base, "--processes", str(processes if processes is not None else 1),
                      "--config", cfg.name, *incremental]
            passes.append(_run(second, root, env, "incremental branch (is_incremental() true)",
                               len(incremental), capture))
        finally:
            os.unlink(cfg.name)
    return passes
