"""Exactly once: reruns, crashes at every step of a batch, two loaders at the same time.

Crashes are real: `unify load` runs in a subprocess with UNIFY_LOAD_CRASH_AT=<step>:<n> and kills
itself with SIGKILL there (loaders/crash.py), so the warehouse sees a dropped connection mid-batch.
After each crash the state must be consistent (whole batches or nothing) and one rerun must end with
every record exactly once.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from _load_helpers import cli_env, ledger, query, rows_per_key, start_unify_load, unify_load

from loaders.load import EXIT_FAILED, EXIT_OK, load
from loaders.source_tables import ALL_TABLES
from loaders.warehouse.postgres import LOCK_KEY, PostgresWarehouse


def _expected(landing) -> dict[str, int]:
    return {k: len(v.records) for k, v in landing.good.items() if v.records}


def _assert_consistent(settings) -> None:
    """Every raw row belongs to a committed batch and its object's ledger row counts exactly its rows."""
    loaded = {key: rows for key, _etag, status, rows, *_ in ledger(settings) if status == "loaded"}
    assert len(loaded) == len({k for k, _e, s, *_ in ledger(settings) if s == "loaded"})  # one 'loaded' per key
    assert rows_per_key(settings) == {k: n for k, n in loaded.items() if n}
    for table in ALL_TABLES:
        orphans = query(settings, f"""
            select distinct r._batch_id from "{table.raw_schema}"."{table.raw_table}" r
            left join unify_loader.load_batches b on b.batch_id = r._batch_id where b.batch_id is null""")
        assert orphans == [], f"{table.qualified_raw_name}: rows of uncommitted batches"
    batches_without_row = query(settings, """
        select distinct l.batch_id from unify_loader.load_ledger l
        left join unify_loader.load_batches b on b.batch_id = l.batch_id where b.batch_id is null""")
    assert batches_without_row == []


def test_a_rerun_loads_nothing_twice(database, clean_landing):
    first = load(database, str(clean_landing.root))
    second = load(database, str(clean_landing.root))
    assert first.exit_code == second.exit_code == EXIT_OK
    assert second.new == 0 and second.files == 0 and second.rows == 0
    assert rows_per_key(database) == _expected(clean_landing)


@pytest.mark.parametrize("step", ["before_copy", "during_copy", "after_copy", "after_commit"])
def test_a_crash_at_any_step_then_a_rerun_loads_everything_exactly_once(database, clean_landing, step):
    # the 3rd batch: two batches are committed before the crash, so "nothing twice" is tested too
    crashed = unify_load(database, "--landing", str(clean_landing.root),
                         env=cli_env(database, UNIFY_LOAD_CRASH_AT=f"{step}:3"))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert f"crash_injected step={step}" in crashed.stderr
    _assert_consistent(database)
    committed = len(query(database, "select batch_id from unify_loader.load_batches"))
    assert committed == (3 if step == "after_commit" else 2)

    rerun = load(database, str(clean_landing.root))
    assert rerun.exit_code == EXIT_OK, rerun.summary()
    assert rows_per_key(database) == _expected(clean_landing)
    _assert_consistent(database)
    duplicates = query(database, "select _source_key, _source_row from raw_azureware.inventory_balances "
                                 "group by 1, 2 having count(*) > 1")
    assert duplicates == []


def test_an_injected_exception_between_copy_and_commit_rolls_the_batch_back(database, clean_landing):
    from loaders.errors import InjectedCrash

    with pytest.raises(InjectedCrash):
        _raise_mode(database, clean_landing)
    _assert_consistent(database)
    assert query(database, "select count(*) from unify_loader.load_batches") == [(0,)]
    assert load(database, str(clean_landing.root)).exit_code == EXIT_OK
    assert rows_per_key(database) == _expected(clean_landing)


def _raise_mode(database, landing):
    """The Python API's hook: a callable that raises at a named step (what issue 9's suite can use)."""
    from loaders.errors import InjectedCrash

    def hook(step: str) -> None:
        if step == "after_copy":
            raise InjectedCrash("test hook")

    return load(database, str(landing.root), step_hook=hook)


def test_two_loaders_started_together_never_double_load(database, clean_landing):
    warehouse = PostgresWarehouse(database)
    warehouse.setup(ALL_TABLES)  # both then plan the same files at once, and meet at the batch lock
    warehouse.close()
    # each holds the lock 1.5 s in its first batch: the other one must wait, then skip what was loaded
    env = cli_env(database, UNIFY_LOAD_CRASH_AT="after_copy:1", UNIFY_LOAD_CRASH_MODE="sleep:1.5")
    args = ("--landing", str(clean_landing.root), "--json-logs", "--json-summary")
    first = start_unify_load(database, *args, env=env)
    second = start_unify_load(database, *args, env=env)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == second.returncode == EXIT_OK, outputs
    summaries = [json.loads(out) for out, _err in outputs]
    logs = [[json.loads(line) for line in err.splitlines() if line.startswith("{")] for _out, err in outputs]
    waits = [e for events in logs for e in events if e["event"] == "load_lock_wait"]
    assert waits, "one loader must have met the other's lock"
    assert {f"pid={p.pid}" in waits[0]["holder"] for p in (first, second)} == {True, False}
    assert sum(s["files"] for s in summaries) == len(clean_landing.good)
    assert sum(s["skipped_loaded_by_another_loader"] for s in summaries) > 0
    assert rows_per_key(database) == _expected(clean_landing)
    _assert_consistent(database)


def test_a_loader_that_cannot_get_the_lock_gives_up_with_a_clear_message(database, clean_landing):
    holder = start_unify_load(database, "--landing", str(clean_landing.root),
                              env=cli_env(database, UNIFY_LOAD_CRASH_AT="after_copy:1",
                                          UNIFY_LOAD_CRASH_MODE="sleep:4"))
    try:
        deadline = time.monotonic() + 30
        while not query(database, "select 1 from pg_locks where locktype = 'advisory' and granted "
                                  "and classid = %s and objid = %s and database = (select oid from pg_database "
                                  "where datname = current_database())", (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF)):
            assert time.monotonic() < deadline, "the first loader never took the lock"
            time.sleep(0.1)
        waiter = unify_load(database, "--landing", str(clean_landing.root),
                            env=cli_env(database, UNIFY_LOAD_LOCK_WAIT_S="0.5"))
    finally:
        holder.communicate(timeout=120)
    assert waiter.returncode == EXIT_FAILED
    assert "gave up waiting for the load lock" in waiter.stdout + waiter.stderr
    assert f"pid={holder.pid}" in waiter.stdout + waiter.stderr  # names the loader that holds the lock
    assert holder.returncode == EXIT_OK
    assert rows_per_key(database) == _expected(clean_landing)


def test_redelivered_object_same_key_same_bytes_loads_once_new_bytes_load_again(database, clean_landing, tmp_path):
    root = clean_landing.copy_to(tmp_path / "landing")
    key = next(k for k in clean_landing.good if k.startswith("tms/shipments/"))
    assert load(database, str(root)).exit_code == EXIT_OK
    path = root / key
    data = path.read_bytes()
    path.write_bytes(data)  # the extract job re-ran: same key, same bytes (same ETag)
    again = load(database, str(root))
    assert again.new == 0
    path.write_bytes(data + data.split(b"\n", 1)[1])  # same key, new content: a new object (new ETag)
    third = load(database, str(root))
    assert third.files == 1 and third.rows == 2 * len(clean_landing.objects[key].records)
    assert [s for k, _e, s, *_ in ledger(database) if k == key] == ["loaded", "loaded"]
