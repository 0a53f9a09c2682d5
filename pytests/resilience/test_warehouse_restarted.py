"""The warehouse restarted in the middle of a load, then the load rerun.

A PRIVATE local warehouse (its own UNIFY_HOME and a free port, as pytests/test_local_warehouse.py does):
the shared one on 54329 is never stopped. `unify load` pauses inside the COPY of its third batch
(UNIFY_LOAD_CRASH_MODE=sleep, loaders/crash.py); meanwhile PostgreSQL is stopped the hard way
(immediate shutdown: what a crash or a lost host does; the next start replays its WAL) and started
again. The loader's connection is gone: its batch must roll back whole and the run must fail, saying
so. The rerun then loads exactly what is missing, and `dbt build` gives the marts of a clean run.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

import psutil
import pytest
from _resilience_helpers import (assert_complete, assert_consistent, assert_same_marts, dbt_build, marts, query,
                                 quarantined, start_unify_load, unify_load)

from loaders.config import load_settings
from loaders.load import EXIT_FAILED
from unify.local_warehouse import LocalWarehouse, WarehouseError
from support import free_port

pytestmark = pytest.mark.resilience


@pytest.fixture
def private_warehouse(warehouse):
    """Its data folder sits beside the shared warehouse's (not under /tmp/pytest-of-<user>, whose mode
    another pytest session may reset to 0700 while this server runs as the pgserver user)."""
    home = Path(tempfile.mkdtemp(prefix="resilience-warehouse-", dir=warehouse.home))
    settings = load_settings({"UNIFY_HOME": str(home), "UNIFY_PG_PORT": str(free_port())})
    LocalWarehouse(settings).start()
    yield settings.with_database("unify")
    pid = LocalWarehouse(settings).status().pid
    try:
        LocalWarehouse(settings).stop()
    except WarehouseError:
        if pid is not None:  # never leave a private server behind: fast shutdown by its own pid
            os.kill(pid, signal.SIGINT)
            psutil.Process(pid).wait(timeout=60)
    shutil.rmtree(home, ignore_errors=True)


def _hard_restart(settings) -> None:
    """Immediate shutdown (SIGQUIT to the postmaster: no checkpoint, sessions cut), then a normal start."""
    warehouse = LocalWarehouse(settings)
    pid = warehouse.status().pid
    assert pid is not None, "the private warehouse is not running"
    os.kill(pid, signal.SIGQUIT)
    psutil.Process(pid).wait(timeout=60)
    warehouse.start()


def test_warehouse_restarted_mid_load_then_rerun_loses_and_duplicates_nothing(private_warehouse, landings, clean,
                                                                             tmp_path):
    settings = private_warehouse
    loader = start_unify_load(settings, landings.initial, UNIFY_LOAD_CRASH_AT="during_copy:3",
                              UNIFY_LOAD_CRASH_MODE="sleep:3")
    paused = threading.Event()
    lines: list[str] = []

    def read_stderr() -> None:
        for line in loader.stderr:
            lines.append(line)
            if "crash_injected step=during_copy" in line:
                paused.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert paused.wait(timeout=120), "the loader never reached its third batch's COPY:\n" + "".join(lines)
        _hard_restart(settings)
        assert loader.wait(timeout=120) == EXIT_FAILED, "".join(lines)[-3000:]
    finally:
        if loader.poll() is None:
            loader.kill()
        reader.join(timeout=10)
    log = "".join(lines)
    assert "load_failed" in log, log[-3000:]
    assert_consistent(settings)
    committed = query(settings, "select count(*) from unify_loader.load_batches")[0][0]
    assert committed == 2, "the batch in flight when the warehouse went down was not rolled back whole"

    rerun = unify_load(settings, landings.initial)
    assert rerun.returncode in (0, 3), rerun.stderr[-2000:]  # 3: the simulator's bad files, quarantined
    assert_complete(settings, landings.initial)
    assert quarantined(settings) == clean.quarantined_first

    dbt_build(settings, tmp_path / "target")
    assert_same_marts(marts(settings), clean.marts_first)
