"""Helpers of the loader tests (a uniquely named module: test modules import it, never `conftest`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from _load_oracle import Landed
from support import execute, query, raw_rows_per_key  # noqa: F401  (tests import them from here)

from loaders.config import Settings

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 11, 1)


@dataclass
class Landing:
    root: Path
    objects: dict[str, Landed]

    @property
    def good(self) -> dict[str, Landed]:
        return {k: v for k, v in self.objects.items() if v.ok}

    @property
    def bad(self) -> dict[str, Landed]:
        return {k: v for k, v in self.objects.items() if not v.ok}

    def copy_to(self, target: Path) -> Path:
        shutil.copytree(self.root, target)
        return target


rows_per_key = raw_rows_per_key  # raw rows per landed object, over every raw table


def ledger(settings: Settings) -> list[tuple]:
    return query(settings, "select object_key, etag, status, rows_loaded, batch_id, reason, error_line "
                           "from unify_loader.load_ledger order by object_key, recorded_at")


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"UNIFY_PG_DATABASE": settings.pg_database, "UNIFY_PG_PORT": str(settings.pg_port),
                "UNIFY_LOG_LEVEL": "INFO"})
    env.pop("UNIFY_LOAD_CRASH_AT", None)
    env.pop("UNIFY_LOAD_CRASH_MODE", None)
    env.update(extra)
    return env


def unify_load(settings: Settings, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """`unify load ...` in a subprocess (what an operator or a scheduler runs)."""
    return subprocess.run([sys.executable, "-m", "unify.cli", "load", "--no-progress", *args],
                          env=env or cli_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def start_unify_load(settings: Settings, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "unify.cli", "load", "--no-progress", *args],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
