"""Fixtures for the operations tests: a sequence of real load cycles on a private database.

`cycles` runs, once per session, what production's scheduler does over time on simulated data (tiny
scale, no faults, "now" pinned) landed in a local folder, each step a real `unify cycle`:

  A  frequent, the first deliveries                         -> everything built
  B  frequent, the next day delivered (a real subprocess, `python -m unify.cli cycle frequent`);
     while it runs, a second cycle is started and must be refused
  C  frequent, nothing new but one damaged delivery         -> nothing changes; the file is quarantined and
     the alert (a warning) reaches the SNS topic on moto's server
  D  frequent, another day delivered, fct_orders locked by another session so its rebuild fails
     (lock_timeout) -> the cycle fails, the alert reaches an SNS topic on moto's server, the marts stay
  E  frequent, lock gone                                     -> catches up
  F  nightly, with two post-cycle steps (one records, one raises)

Each step keeps its result, the marts' content before/after, and the landed orders it added. The tests
in this folder assert on them; test_slim_ci.py uses the built database as "production".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from ops_hooks import PINNED
from support import pinned_env, query, sns_topic_with_queue

from loaders.config import Settings
from unify.local_warehouse import LocalWarehouse

ROOT = Path(__file__).resolve().parents[2]
FIRST_DAY = date(2026, 10, 27)
MART_SCHEMAS = ("analytics_marts", "analytics_reporting")


def mart_contents(settings: Settings) -> dict[str, tuple[int, str]]:
    """table -> (rows, md5 over its rows in a stable order), for every table in the marts and reporting."""
    tables = query(settings, "select table_schema || '.' || table_name from information_schema.tables "
                             "where table_schema = any(%s) and table_type = 'BASE TABLE' order by 1",
                   (list(MART_SCHEMAS),))
    contents = {}
    for (table,) in tables:
        schema, name = table.split(".")
        [(rows, digest)] = query(settings, f'select count(*), md5(coalesce(string_agg(md5(t::text), \',\' '
                                           f'order by md5(t::text)), \'\')) from "{schema}"."{name}" t')
        contents[table] = (rows, digest)
    return contents


def landed_new_orders(landing: Path, before: set[Path]) -> set[int]:
    """OrderIds inserted (Op I) by the DMS Orders files that appeared since `before`."""
    import csv

    ids: set[int] = set()
    for path in sorted(set((landing / "dms").rglob("*.csv")) - before):
        if "/Orders/" not in path.as_posix():
            continue
        with path.open(newline="", encoding="utf-8-sig") as handle:
            ids.update(int(row["OrderId"]) for row in csv.DictReader(handle) if row["Op"] == "I")
    return ids


def settle(landing: Path) -> set[Path]:
    """Every landed file, dated a minute back: a loader may wait for files modified in the last seconds
    (still being written); these are complete."""
    files = {p for p in landing.rglob("*") if p.is_file()}
    past = time.time() - 60
    for path in files:
        os.utime(path, (past, past))
    return {p for p in files if p.suffix == ".csv"}


def damaged_delivery(landing: Path) -> Path:
    """A DMS file for Orders whose header is right and whose records are not text (bytes that are not
    UTF-8, a NUL): what a broken transfer leaves. The loader must quarantine it."""
    sibling = sorted((landing / "dms").rglob("*.csv"))
    sibling = next(p for p in sibling if "/Orders/" in p.as_posix())
    header = sibling.read_bytes().split(b"\n", 1)[0]
    damaged = sibling.with_name("20261030-235959999.csv")
    damaged.write_bytes(header + b"\n" + b"I,\xff\xfe\x00\x00broken," * 3 + b"\n")
    return damaged


@dataclass
class Step:
    summary: dict
    before: dict
    after: dict
    new_orders: set[int] = field(default_factory=set)
    target_path: Path | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Cycles:
    settings: Settings
    landing: Path
    base: Path
    steps: dict[str, Step] = field(default_factory=dict)


def _summary(result) -> dict:
    return json.loads(json.dumps(result.summary(), default=str))


@pytest.fixture(scope="session")
def cycles(warehouse: Settings, s3_endpoint, tmp_path_factory) -> Cycles:
    from unify import cycle as cycle_module
    from unify.cli import main
    from unify.cycle import CycleOptions, PostCycleStep, run_cycle
    from unify.cycle_lock import ADVISORY_CLASS
    from unify.simulate import continue_simulation, simulate

    name = f"test_ops_{uuid.uuid4().hex[:8]}"
    LocalWarehouse(warehouse).ensure_database(name)
    settings = warehouse.with_database(name)
    base = tmp_path_factory.mktemp("cycles")
    landing = base / "landing"
    run = Cycles(settings, landing, base)
    topic_arn, received = sns_topic_with_queue(s3_endpoint)

    def keep_artifacts(step: str, kind: str) -> Path:
        """A copy of the step's results (the cycle's target path is shared by cycles of a kind, as in
        production, so that dbt's partial parse carries over)."""
        kept = base / step
        kept.mkdir()
        for name in ("run_results.json", "sources.json", "manifest.json"):
            if (base / kind / name).exists():
                shutil.copy(base / kind / name, kept / name)
        return kept

    def cycle(step: str, kind: str = "frequent", before_files: set[Path] | None = None, **more) -> Step:
        before = mart_contents(settings)
        result = run_cycle(settings, CycleOptions(cycle=kind, landing=str(landing), target_path=base / kind,
                                                  capture_dbt=True, environment="test", **more))
        new = landed_new_orders(landing, before_files) if before_files is not None else set()
        run.steps[step] = Step(_summary(result), before, mart_contents(settings), new, keep_artifacts(step, kind))
        return run.steps[step]

    try:
        with pinned_env(**PINNED, UNIFY_PG_DATABASE=name, UNIFY_LANDING=str(landing)):
            simulate(str(landing), scale="tiny", days=3, start=FIRST_DAY, seed=7, faults=())
            settle(landing)
            cycle("A", before_files=set())

            # B: a real `unify cycle` process; a second cycle started while it holds the lock is refused
            files = settle(landing)
            continue_simulation(str(landing), days=1)
            settle(landing)
            before = mart_contents(settings)
            proc = subprocess.Popen(
                [sys.executable, "-m", "unify.cli", "cycle", "frequent", "--landing", str(landing),
                 "--target-path", str(base / "frequent"), "--environment", "test"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "UNIFY_PG_DATABASE": name})
            out: dict[str, str] = {}
            reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())))
            reader.start()
            held = False
            deadline = time.monotonic() + 120
            while not held and proc.poll() is None and time.monotonic() < deadline:
                # this database's cycle lock only: another test session may hold one on its own database
                held = bool(query(settings, "select 1 from pg_locks where locktype = 'advisory' and granted "
                                            "and classid = %s and objsubid = 2 and database = (select oid from "
                                            "pg_database where datname = current_database())", (ADVISORY_CLASS,)))
                time.sleep(0.05)
            refused_exit, refused_out = None, ""
            if held:
                from io import StringIO
                from contextlib import redirect_stderr, redirect_stdout

                stdout, stderr = StringIO(), StringIO()
                with redirect_stdout(stdout), redirect_stderr(stderr):
                    refused_exit = main(["cycle", "frequent", "--landing", str(landing), "--target-path",
                                         str(base / "B-overlap"), "--environment", "test"])
                refused_out = stdout.getvalue() + "\n" + stderr.getvalue()
            reader.join(timeout=600)
            run.steps["B"] = Step(json.loads(out["stdout"].strip().splitlines()[-1]), before, mart_contents(settings),
                                  landed_new_orders(landing, files), keep_artifacts("B", "frequent"),
                                  {"exit_code": proc.returncode, "stderr": out["stderr"], "lock_seen": held,
                                   "refused_exit": refused_exit, "refused_output": refused_out})

            damaged = damaged_delivery(landing)  # nothing new but a file nobody can read
            settle(landing)
            cycle("C", topic_arn=topic_arn)
            run.steps["C"].extra.update(messages=received(), damaged=damaged.relative_to(landing).as_posix())

            # D: another day; fct_orders locked by another session, so its rebuild times out
            files = settle(landing)
            continue_simulation(str(landing), days=1)
            settle(landing)
            blocker = psycopg2.connect(settings.dsn())
            try:
                with blocker.cursor() as cur:
                    cur.execute("lock table analytics_marts.fct_orders in share mode")
                with pinned_env(PGOPTIONS="-c lock_timeout=2000"):
                    cycle("D", before_files=files, topic_arn=topic_arn)
            finally:
                blocker.rollback()
                blocker.close()
            run.steps["D"].extra["messages"] = received()
            new_in_d = run.steps["D"].new_orders

            cycle("E", topic_arn=topic_arn)
            run.steps["E"].new_orders = new_in_d
            run.steps["E"].extra["messages"] = received()

            saved = list(cycle_module.POST_CYCLE_STEPS)
            cycle_module.POST_CYCLE_STEPS[:] = [
                PostCycleStep("failing_refresh", "ops_hooks:failing_step", ("nightly",)),
                PostCycleStep("recording_refresh", "ops_hooks:recording_step", ("nightly",)),
                PostCycleStep("frequent_only", "ops_hooks:recording_step", ("frequent",)),
            ]
            try:
                cycle("F", kind="nightly", topic_arn=topic_arn)
            finally:
                cycle_module.POST_CYCLE_STEPS[:] = saved
            run.steps["F"].extra["messages"] = received()
        yield run
    finally:
        from support import drop_database

        drop_database(warehouse, name)
