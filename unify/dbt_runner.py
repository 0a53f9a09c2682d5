"""Run dbt from Python (the main job, tests, benchmarks) against the warehouse the settings name.

dbt runs as a subprocess of the venv's own `dbt`, so its output streams as usual and a crash in
dbt never takes the caller down. The connection comes from the same UNIFY_PG_* variables the
profile reads; the profile is the project's ./profiles.yml, created from profiles.yml.example when
missing (`ensure_profile`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from loaders.config import Settings, project_root


def dbt_schema(env: dict[str, str] | None = None) -> str:
    """dbt's target schema, which profiles.yml reads from UNIFY_SCHEMA (default analytics); the layers
    are `<it>_staging`, `<it>_marts`, `<it>_reporting`, ..."""
    return (os.environ if env is None else env).get("UNIFY_SCHEMA") or "analytics"


def dbt_target_path() -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH (relative to the project root, where the loaders
    run dbt) or <root>/target."""
    env = os.environ.get("DBT_TARGET_PATH")
    if env:
        path = Path(env)
        return path if path.is_absolute() else project_root() / path
    return project_root() / "target"


class DbtError(Exception):
    """dbt exited non-zero; the message names the command and where its log is."""


def ensure_profile(root: Path) -> Path:
    """./profiles.yml from the committed template, unless the analyst already has one."""
    profile = root / "profiles.yml"
    if not profile.exists():
        shutil.copyfile(root / "profiles.yml.example", profile)
    return profile


def dbt_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "UNIFY_PG_PORT": str(settings.pg_port),
            "UNIFY_PG_USER": settings.pg_user,
            "UNIFY_PG_PASSWORD": settings.pg_password,
            "UNIFY_PG_DATABASE": settings.pg_database,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    if settings.external:
        env["UNIFY_PG_HOST"] = settings.pg_host
    env.update(extra or {})
    return env


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str],
    settings: Settings,
    *,
    target_path: Path | None = None,
    capture: bool = False,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`dbt <args>` at the project root. `target_path` keeps artifacts apart (tests, benchmarks)."""
    root = settings.root
    ensure_profile(root)
    cmd = [dbt_executable(), *args, "--profiles-dir", str(root), "--project-dir", str(root)]
    extra_env = dict(env or {})
    if target_path is not None:
        extra_env["DBT_TARGET_PATH"] = str(target_path)
        extra_env.setdefault("DBT_LOG_PATH", str(target_path / "logs"))
    run_env = dbt_env(settings, extra_env)
    from unify.pii_key import prepare_local_key  # one PII key per checkout for every local database

    prepare_local_key(args, run_env, settings)
    proc = subprocess.run(
        cmd,
        cwd=root,
        env=run_env,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
    )
    if check and proc.returncode != 0:
        tail = ""
        if capture and proc.stdout:
            tail = "\n" + "\n".join(proc.stdout.splitlines()[-40:])
        raise DbtError(f"`dbt {' '.join(args)}` failed with exit code {proc.returncode}{tail}")
    return proc
