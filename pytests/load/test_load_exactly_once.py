"""Exactly once: reruns, crashes at every step of a batch, two loaders at the same time.

Crashes are real: `unify load` runs in a subprocess with UNIFY_LOAD_CRASH_AT=<step>:<n> and kills
itself with SIGKILL there (loaders/crash.py), so the warehouse sees a dropped connection mid-batch.
After each crash the state must be consistent (whole batches or nothing) and one rerun must end with
every record exactly once.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from datetime import timedelta

import pytest
from _load_helpers import cli_env, execute, ledger, query, rows_per_key, start_unify_load, unify_load

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


def test_a_ledger_from_before_content_checksums_keeps_working(database, clean_landing, tmp_path):
    import hashlib

    root = clean_landing.copy_to(tmp_path / "landing")
    assert load(database, str(root)).exit_code == EXIT_OK
    # the ledger as the previous loader left it: no checksum columns, a local file's ETag the MD5 of its bytes
    execute(database, "alter table unify_loader.load_ledger drop column content_checksum, drop column columns_widened")
    for key, obj in clean_landing.good.items():
        execute(database, "update unify_loader.load_ledger set etag = %s where object_key = %s",
                (hashlib.md5(obj.data).hexdigest(), key))
    rows_before = rows_per_key(database)
    again = load(database, str(root))
    assert again.exit_code == EXIT_OK and again.new == 0 and again.files == 0  # nothing loaded twice
    assert rows_per_key(database) == rows_before
    assert query(database, "select count(*), count(content_checksum) from unify_loader.load_ledger") == \
        [(len(clean_landing.good), 0)]  # the column is back; the old rows keep NULL
    # new content under an old key is a new delivery, recorded with its checksum
    key = next(k for k in clean_landing.good if k.startswith("tms/carriers/"))
    data = (root / key).read_bytes()
    (root / key).write_bytes(data + data.split(b"\n", 1)[1])
    third = load(database, str(root))
    assert third.files == 1 and third.rows == 2 * len(clean_landing.objects[key].records)
    assert query(database, "select count(content_checksum) from unify_loader.load_ledger where object_key = %s",
                 (key,)) == [(1,)]


def test_four_loaders_at_once_never_crash_and_never_write_a_decision_twice(database, faults_csv):
    # four processes over a landing with bad files: every one must end (0 or 3), every object is decided
    # exactly once (loaded or quarantined) and every record is in raw exactly once
    env = cli_env(database, UNIFY_LOAD_CRASH_AT="after_copy:1", UNIFY_LOAD_CRASH_MODE="sleep:0.5")
    args = ("--landing", str(faults_csv.root), "--json-summary")
    loaders = [start_unify_load(database, *args, env=env) for _ in range(4)]
    outputs = [p.communicate(timeout=300) for p in loaders]
    for process, (out, err) in zip(loaders, outputs):
        assert process.returncode in (0, 3), err[-3000:]
        assert "TypeError" not in err and "Traceback" not in err
    decisions = query(database, "select object_key, content_checksum, status, count(*) from unify_loader.load_ledger "
                                "group by 1, 2, 3 having count(*) > 1")
    assert decisions == []
    assert {k for (k,) in query(database, "select object_key from unify_loader.load_ledger where status = "
                                          "'quarantined'")} == set(faults_csv.bad)
    assert rows_per_key(database) == _expected(faults_csv)
    _assert_consistent(database)


def test_the_lock_holder_is_described_even_between_its_statements():
    """pg_stat_activity.xact_start is NULL while the holder is between two statements (a commit in flight):
    the description must not fail on it (it did: TypeError, exit 4)."""
    class Cursor:
        def execute(self, *_args):
            pass

        def fetchone(self):
            return (4242, "unify-load host pid=7", "local", None)

    text = PostgresWarehouse._lock_holder(Cursor())
    assert text == "'unify-load host pid=7' (PostgreSQL backend 4242, from local)"


def test_loaded_at_follows_commit_order_even_for_a_transaction_that_began_earlier(database, clean_landing, tmp_path):
    """A batch whose transaction began before another batch committed, but which got the lock after it,
    carries the later _loaded_at (it is read after the lock, not at the transaction's start)."""
    from loaders.records import Batch

    root = tmp_path / "landing"
    first_key = next(k for k in clean_landing.good if k.startswith("tms/carriers/"))
    (root / first_key).parent.mkdir(parents=True)
    (root / first_key).write_bytes(clean_landing.objects[first_key].data)
    early = PostgresWarehouse(database)
    early.setup(ALL_TABLES)
    with early.conn.cursor() as cur:
        cur.execute("select now()")  # the transaction begins here, before the other loader's batch
        began = cur.fetchone()[0]
    time.sleep(0.05)
    assert load(database, str(root)).exit_code == EXIT_OK  # another loader commits meanwhile
    other = query(database, "select max(_loaded_at) from raw_tms.carriers")[0][0]
    later_key = first_key.rsplit("/", 2)[0] + "/dt=2026-12-31/carriers-20261231.csv"
    (root / later_key).parent.mkdir(parents=True)
    (root / later_key).write_bytes(clean_landing.objects[first_key].data)
    from loaders.landing import open_landing
    from loaders.load import _prepare
    from loaders.sources import Layout, identify

    zone = open_landing(str(root))
    sf = identify(zone.stat(later_key), Layout())
    loads, _q = _prepare(zone, [sf], early.table_columns(sf.table))
    early.load_batch(Batch("batch-that-began-early", sf.table, tuple(loads)))
    early.close()
    mine = query(database, "select max(_loaded_at) from raw_tms.carriers where _batch_id = 'batch-that-began-early'")
    assert began.replace(tzinfo=None) < other < mine[0][0]


def test_overlapping_loaders_commit_in_loaded_at_order(database, clean_landing):
    """Four loaders at once, each holding the lock a moment in every batch: an observer polls which batches
    have committed; the order they became visible is the order of their _loaded_at."""
    import threading

    warehouse = PostgresWarehouse(database)
    warehouse.setup(ALL_TABLES)
    warehouse.close()
    seen: list[str] = []
    done = threading.Event()

    def observe():
        import psycopg2
        conn = psycopg2.connect(database.dsn())
        conn.autocommit = True
        with conn.cursor() as cur:
            while not done.is_set():
                cur.execute("select batch_id from unify_loader.load_batches")
                seen.extend(b for (b,) in cur.fetchall() if b not in seen)
                time.sleep(0.01)
        conn.close()

    observer = threading.Thread(target=observe)
    observer.start()
    env = cli_env(database, UNIFY_LOAD_CRASH_AT="after_copy:1", UNIFY_LOAD_CRASH_MODE="sleep:0.3",
                  UNIFY_LOAD_BATCH_FILES="4")
    loaders = [start_unify_load(database, "--landing", str(clean_landing.root), env=env) for _ in range(4)]
    try:
        for p in loaders:
            p.communicate(timeout=300)
    finally:
        done.set()
        observer.join()
    assert all(p.returncode == EXIT_OK for p in loaders)
    stamps = dict(query(database, "select batch_id, committed_at from unify_loader.load_batches"))
    assert set(seen) == set(stamps) and len(seen) > 8
    assert [stamps[b] for b in seen] == sorted(stamps[b] for b in seen)  # visible order == _loaded_at order
    mismatched = query(database, "select count(*) from raw_tms.shipments r join unify_loader.load_batches b "
                                 "on b.batch_id = r._batch_id where r._loaded_at <> b.committed_at")
    assert mismatched == [(0,)]


def test_a_clock_stepped_back_still_stamps_after_every_batch_committed_before(database, clean_landing, tmp_path,
                                                                              caplog):
    """The clock steps back an hour between two batches (the first batch's stamps moved an hour ahead, as a
    clock an hour fast would have stamped them): the second batch is stamped 1 µs after the first, not
    before it, and the step is logged. So is the Redshift statement's stamp (sqlglot's PostgreSQL rendering
    of it, run here): a dbt model that saw the first batch cannot miss the second with no lookback."""
    import sqlglot

    from loaders.warehouse.redshift_sql import clock_sql

    root = tmp_path / "landing"
    source = next(k for k in clean_landing.good if k.startswith("tms/carriers/"))
    first_key = source.rsplit("/", 2)[0] + "/dt=2026-12-30/carriers-20261230.csv"
    (root / first_key).parent.mkdir(parents=True)
    (root / first_key).write_bytes(clean_landing.objects[source].data)
    assert load(database, str(root)).exit_code == EXIT_OK
    execute(database, "update unify_loader.load_batches set committed_at = committed_at + interval '1 hour'; "
                      "update raw_tms.carriers set _loaded_at = _loaded_at + interval '1 hour'")
    ahead = query(database, "select max(committed_at) from unify_loader.load_batches")[0][0]
    redshift_select = sqlglot.parse_one(clock_sql(), read="redshift").expression.sql("postgres")
    assert query(database, f"set time zone 'UTC'; select ({redshift_select})::timestamp")[0][0] == \
        ahead + timedelta(microseconds=1)
    second_key = source.rsplit("/", 2)[0] + "/dt=2026-12-31/carriers-20261231.csv"
    (root / second_key).parent.mkdir(parents=True)
    (root / second_key).write_bytes(clean_landing.objects[source].data)
    with caplog.at_level(logging.WARNING, logger="loaders.warehouse.postgres"):
        assert load(database, str(root)).exit_code == EXIT_OK
    stamps = query(database, "select _source_key, min(_loaded_at), max(_loaded_at) from raw_tms.carriers "
                             "group by 1 order by 1")
    assert [(k, lo == hi) for k, lo, hi in stamps] == [(first_key, True), (second_key, True)]
    assert stamps[1][1] == ahead + timedelta(microseconds=1)
    assert query(database, "select max(committed_at) from unify_loader.load_batches")[0][0] == stamps[1][1]
    warned = [r for r in caplog.records if getattr(r, "event", None) == "clock_behind_last_batch"]
    assert len(warned) == 1 and 3500 < warned[0].f_behind_s <= 3600
