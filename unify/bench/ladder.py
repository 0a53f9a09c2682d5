"""One rung of the scale ladder: everything `unify bench` measures at one simulator scale.

In a private database `<prefix>_<scale>` on the local warehouse (never the shared `unify` database) and
landing folders under the run's output folder:

1. simulate the rung's days of the three sources (default 7; the `xlarge` rung: the large scale's daily
   volume over four times the history), every rung's history ending on the same day, in a subprocess
   (its own time and peak memory); no faults, so every file loads;
2. load: a bare `COPY FROM STDIN` of every DMS and TMS CSV file (scratch database) against the loader on
   the same files (unify/bench/load_throughput.py), then the AppFlow JSON files; and the same pair on
   ONE DMS full-load file with as many rows as the scale has order lines (bulk throughput);
3. age the history: each raw row's `_loaded_at` becomes the time its file was delivered (DMS: the CDC
   file's time; AppFlow: the execution's time; TMS: the midnight after the extract's day; full-load
   files: the first day) plus 5 minutes, as if production had loaded it as it arrived. Without this,
   every row would carry the few minutes of the benchmark's own load, and the incremental models'
   lookback (minutes of load time) would re-read all of history. Set-up, not a measured cost;
4. full `dbt build` of the fresh database (timed); the models' "now" is pinned to the end of the day
   after the history;
5. change batch: the simulation continues one day in a scratch copy; the DMS CDC files of its first
   hours, as many as make ~1% of the records loaded so far, land and load; then the production
   FREQUENT cycle's build runs (timed): `dbt build <what unify cycle frequent selects>`
   (unify/cycle_selection.py: after this change of WMS orders, lines, stock and a product, the
   descendants of those raw tables and what moves with time, as the full build recorded what it read)
   with the frequent cycle's test window (docs/warehouse-model.md "Load cycles") and the production
   lookback (0 min); then the NIGHTLY build, `dbt build --selector nightly` (everything,
   every test on every row), timed too;
6. end to end: the next DMS CDC interval with new orders lands; the production frequent cycle runs for
   it (load of the new keys, as the S3-event Lambda does, then the build `unify cycle frequent` selects
   for them, or `--selector <cycle selector>` for another named build); a
   second connection polls every 0.2 s until the new orders are in fct_orders and counted in
   rpt_operations_health_daily;
7. the dashboards' queries (analyses/, compiled by dbt) under the project's row-level security at 1, 10
   and 100 concurrent sessions, logged in as the people of the RLS mapping (unify/bench/concurrency.py).
The database, the benchmark's login roles and the landing folders are dropped afterwards unless `keep`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import psycopg2

from unify import cycle_selection
from unify.bench import BenchError, concurrency
from unify.bench.results import BuildFigures, LatencyFigures, LoadFigures, ScaleResult, SimulateFigures
from loaders.config import Settings
from unify.dbt_runner import DbtError, run_dbt

if TYPE_CHECKING:
    from loaders.load import LoaderConfig

log = logging.getLogger("unify.bench")

DELIVERY_DELAY = timedelta(minutes=5)  # aged history: loaded this long after its file was delivered
DMS_TIME = re.compile(r"/(\d{8}-\d{6})\d*\.csv$")  # CDC files: <YYYYMMDD-HHMMSS><fraction>.csv
APPFLOW_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})")  # execution time in the part file name
TMS_DAY = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")
# The end-to-end step's build: `frequent`, restricted as `unify cycle frequent` restricts it to what the
# new data feeds (unify/cycle_selection.py); another named build of selectors.yml is built whole.
DEFAULT_CYCLE = "frequent"

# The production load cycles' builds, by their names in selectors.yml (what `unify cycle frequent|nightly`
# runs; docs/warehouse-model.md, "Load cycles"): the frequent one leaves whole-history reconciliations
# (tag `nightly`), unit tests and finance's monthly models (tag `finance_monthly`) to the nightly build,
# and its generic tests on the large incremental models check only the rows loaded within the test
# window (and the keys of those rows across the whole table).
FREQUENT_CYCLE_TEST_WINDOW_HOURS = 6  # >= the WMS cycle's 15 minutes, with margin
NIGHTLY_ARGS = ("build", "--selector", "nightly")

# Rungs that are not simulator presets: name -> (simulator scale, history as a multiple of --days). xlarge
# keeps the large scale's daily volume and quadruples the history: the rung where history dominates, so
# a build that costs what the new data costs shows it (a bigger daily volume over the same days would
# grow the new data with the history).
BENCH_SCALES: dict[str, tuple[float, int]] = {"xlarge": (50.0, 4)}


# The history crosses a month end (so the "last complete month" dashboard query has rows) and is followed
# by one continued day (change batch, latency); the models' "now" is pinned to the end of that day.
DEFAULT_START = date(2026, 10, 28)


@dataclass(frozen=True)
class BenchOptions:
    days: int = 7
    seed: int = 42
    start: date = DEFAULT_START
    sessions: tuple[int, ...] = (1, 10, 100)
    rounds: int = 3  # dashboard views per session at each concurrency level
    change_pct: float = 1.0
    lookback_minutes: int = 0  # the project's default (dbt_project.yml incremental_lookback_minutes)
    cycle_selector: str = DEFAULT_CYCLE  # selectors.yml: the end-to-end step's build
    keep: bool = False
    schema: str = "analytics"

    test_window_hours: int = FREQUENT_CYCLE_TEST_WINDOW_HOURS

    @property
    def history_end(self) -> date:
        """The last simulated day of every rung (a rung with more days starts earlier)."""
        return self.start + timedelta(days=self.days - 1)

    @property
    def as_of_at(self) -> str:
        """The end of the continued day: "now" for the models (SLA risk, due orders, last month)."""
        return f"{self.history_end + timedelta(days=2):%Y-%m-%d} 00:00:00"

    def dbt_env(self, access_prefix: str) -> dict[str, str]:
        return {"UNIFY_INCREMENTAL_LOOKBACK_MINUTES": str(self.lookback_minutes), "UNIFY_AS_OF_AT": self.as_of_at,
                "UNIFY_SCHEMA": self.schema, "UNIFY_ACCESS_USER_NAME_PREFIX": access_prefix,
                "UNIFY_TEST_WINDOW_HOURS": ""}  # full strength unless a step asks for the frequent cycle

    def frequent_env(self, access_prefix: str) -> dict[str, str]:
        return {**self.dbt_env(access_prefix), "UNIFY_TEST_WINDOW_HOURS": str(self.test_window_hours)}

    def frequent_command(self, selection: str) -> str:
        return f"UNIFY_TEST_WINDOW_HOURS={self.test_window_hours} dbt build {selection}"


def resolve_rung(scale: str, options: BenchOptions) -> tuple[float, str, int]:
    """(simulator scale, label, days of history) of a rung: a bench rung (BENCH_SCALES), a simulator
    preset or a number; raises the simulator's SimulationError for anything else."""
    from unify.simulate.params import resolve_scale

    key = scale.strip().lower()
    if key in BENCH_SCALES:
        value, history_multiple = BENCH_SCALES[key]
        return value, key, options.days * history_multiple
    value, label = resolve_scale(scale)
    return value, label, options.days


@dataclass
class Rung:
    """Where one scale's run keeps its things."""

    scale: str
    settings: Settings  # pointed at the private database
    landing: Path
    next_landing: Path  # the continued simulation (change batch and latency files come from there)
    target: Path  # dbt artifacts
    history_records: int = 0
    # Warehouse user names of the benchmark's logins: <database>.<Salesforce Username> (dbt var
    # access_user_name_prefix). Roles are cluster-wide: the prefix keeps them apart from anyone else's.
    access_prefix: str = ""
    arrivals: list[tuple[datetime, str]] = field(default_factory=list)  # (time, key) of next-day DMS CDC files
    days: int = 7  # of simulated history, ending on BenchOptions.history_end


def database_name(label: str, prefix: str = "bench") -> str:
    return f"{prefix}_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def run_scale(base: Settings, scale: str, options: BenchOptions, workdir: Path,
              say: Callable[[str], None], prefix: str = "bench") -> ScaleResult:
    from unify.local_warehouse import LocalWarehouse

    value, label, days = resolve_rung(scale, options)
    db = database_name(label, prefix)
    result = ScaleResult(scale=label, scale_value=value, database=db, days=days)
    rung = Rung(label, base.with_database(db), workdir / f"landing-{label}", workdir / f"next-{label}",
                workdir / f"target-{label}", access_prefix=f"{db}.", days=days)
    started = time.perf_counter()
    load_at_start = _load_average()
    _drop_database(base, db)
    LocalWarehouse(base).ensure_database(db)
    for folder in (rung.landing, rung.next_landing):
        shutil.rmtree(folder, ignore_errors=True)
    try:
        result.simulate = simulate(rung, value, options, say)
        result.load = load(rung, say, result.simulate.order_lines, workdir)
        aging_s = age_history(rung, say)
        # the builds choose and record as `unify cycle` does (unify/cycle_selection.py): the full build is
        # a nightly, and the frequent cycle after the change batch builds what the new data needs
        full_s, nodes, full_detail, _ = cycle_build(rung, options, say, "full", "nightly")
        change = change_batch(rung, options, say)
        incremental_s, _, incremental_detail, frequent = cycle_build(rung, options, say, "frequent cycle",
                                                                     cycle_selection.FULL)
        nightly_s, _, nightly_detail, _ = cycle_build(rung, options, say, "nightly", "nightly")
        result.build = BuildFigures(full_s, nodes, aging_s, change["records"], change["pct"], change["order_lines"],
                                    change["minutes"], change["load_s"], incremental_s, options.lookback_minutes,
                                    full_detail, incremental_detail, nightly_s=nightly_s,
                                    nightly_detail=nightly_detail,
                                    frequent_command=options.frequent_command(frequent.describe()),
                                    frequent_selection=frequent.reason,
                                    test_window_hours=options.test_window_hours)
        result.latency = latency(rung, options, say)
        result.rls, result.rows_seen, result.concurrency = concurrency.run(rung.settings, rung.target, options,
                                                                           options.dbt_env(rung.access_prefix), say)
    except (BenchError, DbtError, psycopg2.Error) as err:  # recorded in the results; the ladder goes on
        result.error = str(err).strip()
        say(f"{label}: FAILED: {err}")
    finally:
        result.seconds = time.perf_counter() - started
        result.load_average = (load_at_start, _load_average())
        if not options.keep:
            _drop_database(base, db)
            concurrency.drop_logins(base, rung.access_prefix)
            for folder in (rung.landing, rung.next_landing):
                shutil.rmtree(folder, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------- steps
def simulate(rung: Rung, value: float, options: BenchOptions, say: Callable[[str], None]) -> SimulateFigures:
    from unify.bench.simulate_child import SimulateChildError, run_child

    start = options.history_end - timedelta(days=rung.days - 1)
    say(f"{rung.scale}: simulating {rung.days} days from {start} (subprocess)")
    try:
        child = run_child(["simulate", str(rung.landing), "--scale", str(value), "--days", str(rung.days),
                           "--start", start.isoformat(), "--seed", str(options.seed)], rung.settings.root)
    except SimulateChildError as err:
        raise BenchError(f"{rung.scale}: simulate: {err}") from None
    r = child.report
    figures = SimulateFigures(round(child.seconds, 2), round(child.peak_rss_mb, 1), rung.days,
                              int(r["entities"].get("orders", 0)), int(r["entities"].get("order_lines", 0)),
                              int(r["records"]), int(r["files"]), round(r["bytes"] / 1e6, 1))
    say(f"{rung.scale}: simulated {figures.order_lines:,} order lines, {figures.records:,} records, "
        f"{figures.files:,} files in {figures.seconds:.1f} s, peak {figures.peak_rss_mb:.0f} MB")
    return figures


def load(rung: Rung, say: Callable[[str], None], bulk_rows: int, workdir: Path) -> LoadFigures:
    from unify.bench.load_throughput import compare_on_landing, run_benchmark
    from loaders.load import EXIT_FAILED
    from loaders.load import load as load_landing

    say(f"{rung.scale}: loading: bare COPY FROM STDIN of the DMS and TMS CSV files, then the loader on the same")
    cmp = compare_on_landing(rung.settings, rung.landing, f"{rung.settings.pg_database}_bare")
    if cmp.bare_rows != cmp.loader_rows:
        raise BenchError(f"{rung.scale}: the bare COPY read {cmp.bare_rows:,} rows, the loader {cmp.loader_rows:,}: "
                         "not the same data")
    started = time.perf_counter()
    other = load_landing(rung.settings, str(rung.landing), sources=["salesforce"])
    other_s = time.perf_counter() - started
    if other.exit_code == EXIT_FAILED:
        raise BenchError(f"{rung.scale}: loading the AppFlow files failed:\n{other.summary()}")
    rung.history_records = cmp.loader_rows + other.rows
    figures = LoadFigures(cmp.files, round(cmp.bytes / 1e6, 1), cmp.loader_rows, round(cmp.loader_s, 3),
                          cmp.bare_rows, round(cmp.bare_s, 3), other.rows, round(other_s, 3),
                          cmp.loader_quarantined + len(other.quarantined), bare_storage_mb=cmp.bare_storage_mb,
                          loader_storage_mb=cmp.loader_storage_mb)
    say(f"{rung.scale}: one DMS full-load file of {bulk_rows:,} OrderLines rows: bare COPY, then the loader")
    bulk = run_benchmark(rung.settings, bulk_rows, 1, workdir / f"bulk-{rung.scale}")
    shutil.rmtree(workdir / f"bulk-{rung.scale}", ignore_errors=True)
    figures.bulk_rows, figures.bulk_loader_s, figures.bulk_bare_s = bulk_rows, bulk["loader_s"][0], bulk["bare_s"][0]
    say(f"{rung.scale}: loader {figures.loader_rows_per_s:,.0f} rows/s, bare COPY {figures.bare_rows_per_s:,.0f} "
        f"rows/s: ratio {figures.ratio:.2f}")
    return figures


def delivered_at(key: str, first_day: date) -> datetime:
    """When the source delivered this file, from its key (the simulator writes what the services write)."""
    if m := DMS_TIME.search(key):
        return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S")
    if key.startswith("appflow/") and (m := APPFLOW_TIME.search(key.rsplit("/", 1)[-1])):
        return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    if m := TMS_DAY.search(key):
        return datetime.combine(date.fromisoformat(m.group(1)) + timedelta(days=1), datetime.min.time())
    return datetime.combine(first_day, datetime.min.time())  # DMS full load: the task started the first day


def age_history(rung: Rung, say: Callable[[str], None]) -> float:
    import psycopg2
    from psycopg2.extras import execute_values

    from loaders.source_tables import ALL_TABLES

    say(f"{rung.scale}: ageing the history's load times (set-up: raw _loaded_at = delivery time + 5 min)")
    started = time.perf_counter()
    with closing(psycopg2.connect(rung.settings.dsn())) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("select min(cast(dms_commit_ts as date)) from raw_azureware.orders")
        first_day = cur.fetchone()[0] or date.today()
        cur.execute("create temporary table delivered (key varchar(1024) primary key, at timestamp not null)")
        cur.execute("select distinct object_key from unify_loader.load_ledger where status = 'loaded'")
        rows = [(key, delivered_at(key, first_day) + DELIVERY_DELAY) for (key,) in cur.fetchall()]
        execute_values(cur, "insert into delivered values %s", rows, page_size=5000)
        cur.execute("analyze delivered")
        for table in ALL_TABLES:
            name = f'"{table.raw_schema}"."{table.raw_table}"'
            # the raw table's indexes (the loader's) are dropped for the update and built again after it:
            # updating an indexed column row by row costs several times a sorted index build
            cur.execute("select indexname, indexdef from pg_indexes where schemaname = %s and tablename = %s "
                        "and indexname not in (select conname from pg_constraint)", (table.raw_schema, table.raw_table))
            indexes = cur.fetchall()
            for index, _definition in indexes:
                cur.execute(f'drop index "{table.raw_schema}"."{index}"')
            cur.execute(f"update {name} as r set _loaded_at = d.at from delivered as d where d.key = r._source_key")
            cur.execute(f"vacuum full {name}")  # no dead tuples left behind for the build to scan
            for _index, definition in indexes:
                cur.execute(definition)
            cur.execute(f"analyze {name}")
    return round(time.perf_counter() - started, 2)


def cycle_build(rung: Rung, options: BenchOptions, say: Callable[[str], None], kind: str,
                cycle_selector: str) -> tuple[float, int, dict, cycle_selection.Selection]:
    """The build step of `unify cycle <frequent|nightly>` (timed: the build alone): the selector it
    chooses from the build marks (read before), the build, the marks recorded after it succeeded."""
    selection = cycle_selection.select(rung.settings, cycle_selector, options.schema)
    frequent = cycle_selector == cycle_selection.FULL
    env = options.frequent_env(rung.access_prefix) if frequent else options.dbt_env(rung.access_prefix)
    seconds, nodes, detail = build(rung, options, say, kind, ("build", *selection.dbt_args()), env)
    cycle_selection.record(rung.settings, options.schema, selection)
    return seconds, nodes, detail, selection


def build(rung: Rung, options: BenchOptions, say: Callable[[str], None], kind: str, args: tuple[str, ...],
          env: dict[str, str]) -> tuple[float, int, dict]:
    """One timed `dbt <args>` with `env`; its figures from run_results.json (time per node type, the
    tests' share of the node time, the slowest nodes)."""
    say(f"{rung.scale}: dbt {' '.join(args)} ({kind})")
    started = time.perf_counter()
    run_dbt(list(args), rung.settings, target_path=rung.target, capture=True, env=env)  # a failure raises DbtError
    seconds = time.perf_counter() - started
    results = json.loads((rung.target / "run_results.json").read_text())
    detail = build_detail(results["results"], results.get("elapsed_time", 0.0))
    nodes = len(results["results"])
    say(f"{rung.scale}: dbt build ({kind}) {seconds:.1f} s, {nodes} nodes, tests {detail['test_share']:.0%} of node time")
    return round(seconds, 2), nodes, detail


def build_detail(results: list[dict], elapsed_s: float) -> dict:
    """Node time by type (summed over dbt's threads), the share of it spent in data and unit tests, the
    number of nodes per type and the slowest nodes, from run_results.json's results."""
    by_type: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for node in results:
        kind_of = node["unique_id"].split(".", 1)[0]
        by_type[kind_of] += node["execution_time"]
        count[kind_of] += 1
    total = by_type.total()
    tests = by_type.get("test", 0.0) + by_type.get("unit_test", 0.0)
    slowest = sorted(results, key=lambda n: -n["execution_time"])[:3]
    return {"elapsed_s": round(elapsed_s, 2),
            "seconds_by_type": {k: round(v, 2) for k, v in sorted(by_type.items())},
            "nodes_by_type": dict(sorted(count.items())),
            "test_share": round(tests / total, 3) if total else 0.0,
            "slowest": [[n["unique_id"].split(".")[-1], round(n["execution_time"], 2)] for n in slowest]}


def _count_records(path: Path) -> tuple[int, list[dict]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return len(rows), rows


def _continue(rung: Rung, say: Callable[[str], None]) -> None:
    """The simulation's next day, in a scratch folder (its files land in the benchmark's landing later)."""
    from unify.bench.simulate_child import SimulateChildError, run_child

    shutil.copytree(rung.landing / "_simulator", rung.next_landing / "_simulator")
    say(f"{rung.scale}: continuing the simulation one day (the change batch and the latency files)")
    try:
        run_child(["continue", str(rung.next_landing), "--days", "1"], rung.settings.root)
    except SimulateChildError as err:
        raise BenchError(f"{rung.scale}: continue: {err}") from None
    found = []
    for path in (rung.next_landing / "dms").rglob("*.csv"):
        key = path.relative_to(rung.next_landing).as_posix()
        if m := DMS_TIME.search(key):
            found.append((datetime.strptime(m.group(1), "%Y%m%d-%H%M%S"), key))
    rung.arrivals = sorted(found)


def _written_whole() -> LoaderConfig:
    """The loader's settings for files copied whole into the landing folder before the load: no quiet
    period to wait out (a local file modified in the last seconds may still be being written; these are
    complete, as S3 objects always are in production, where the loader never waits)."""
    from dataclasses import replace

    from loaders.load import LoaderConfig

    return replace(LoaderConfig.from_env(), quiet_s=0.0)


def _land(rung: Rung, keys: list[str]) -> None:
    for key in keys:
        target = rung.landing / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rung.next_landing / key, target)


def change_batch(rung: Rung, options: BenchOptions, say: Callable[[str], None]) -> dict:
    """Land and load the first minutes of the next day's DMS CDC: ~change_pct % of the records so far."""
    from loaders.load import EXIT_FAILED
    from loaders.load import load as load_landing

    _continue(rung, say)
    wanted = rung.history_records * options.change_pct / 100
    keys, records, lines = [], 0, 0
    last = None
    for at, key in rung.arrivals:
        if records >= wanted and at != last:
            break
        n, _ = _count_records(rung.next_landing / key)
        keys.append(key)
        records += n
        lines += n if "/OrderLines/" in key else 0
        last = at
    if not keys:
        raise BenchError(f"{rung.scale}: the continued day has no DMS CDC files")
    first = rung.arrivals[0][0]
    rung.arrivals = rung.arrivals[len(keys):]
    _land(rung, keys)
    started = time.perf_counter()
    report = load_landing(rung.settings, str(rung.landing), keys=keys, config=_written_whole())
    load_s = time.perf_counter() - started
    if report.exit_code == EXIT_FAILED or report.rows != records:
        raise BenchError(f"{rung.scale}: the change batch loaded {report.rows} of {records} records:\n"
                         f"{report.summary()}")
    pct = 100 * records / rung.history_records
    day_start = datetime.combine(first.date(), datetime.min.time())
    minutes = ((last - day_start).total_seconds() / 60) if last else 0.0  # of the day, up to the last file
    say(f"{rung.scale}: change batch {records:,} records ({pct:.2f}%), {len(keys)} files, loaded in {load_s:.1f} s")
    return {"records": records, "pct": round(pct, 3), "order_lines": lines, "minutes": round(minutes, 1),
            "load_s": round(load_s, 3)}


def latency(rung: Rung, options: BenchOptions, say: Callable[[str], None]) -> LatencyFigures:
    """Land the next DMS CDC interval that creates orders; time until they are in fct_orders and reporting."""
    import psycopg2

    from loaders.load import EXIT_FAILED
    from loaders.load import load as load_landing

    schema = options.schema
    keys: list[str] = []
    new_orders: dict[int, tuple[int, str]] = {}
    for at, key in rung.arrivals:
        keys.append(key)
        if "/Orders/" in key:
            _n, rows = _count_records(rung.next_landing / key)
            new_orders = {int(r["OrderId"]): (int(r["WarehouseId"]), r["CreatedAt"][:10]) for r in rows
                          if r["Op"] == "I"}
            if new_orders:
                break
    if not new_orders:
        raise BenchError(f"{rung.scale}: no DMS CDC file of the continued day creates an order")
    ids = sorted(new_orders)
    cycle = (f"load of the {len(keys)} new key(s) (as the S3-event Lambda), then the frequent cycle's "
             f"`UNIFY_TEST_WINDOW_HOURS={options.test_window_hours} dbt build "
             + ("<what unify cycle frequent selects>`" if options.cycle_selector == cycle_selection.FULL
                else f"--selector {options.cycle_selector}`"))
    with closing(psycopg2.connect(rung.settings.dsn())) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"select count(*) from {schema}_marts.fct_orders where order_id = any(%s)", (ids,))
            if cur.fetchone()[0]:
                raise BenchError(f"{rung.scale}: the latency file's orders are already in fct_orders")
            expected: dict[tuple[int, str], int] = {}
            for group in new_orders.values():
                expected[group] = expected.get(group, 0) + 1
            for (warehouse_id, day) in list(expected):
                cur.execute(f"select coalesce(sum(orders_created), 0) from {schema}_reporting.rpt_operations_health_daily "
                            "where warehouse_id = %s and activity_date = %s", (warehouse_id, day))
                expected[(warehouse_id, day)] += int(cur.fetchone()[0])
        rung.arrivals = rung.arrivals[len(keys):]
        poller = _Poller(conn, schema, ids, expected)
        say(f"{rung.scale}: end to end: landing {len(keys)} CDC file(s) with {len(ids)} new order(s); {cycle}")
        t0 = time.perf_counter()
        poller.start(t0)
        try:
            _land(rung, keys)
            land_s = time.perf_counter() - t0
            report = load_landing(rung.settings, str(rung.landing), keys=keys, config=_written_whole())
            loaded_s = time.perf_counter() - t0
            if report.exit_code == EXIT_FAILED:
                raise BenchError(f"{rung.scale}: the latency load failed:\n{report.summary()}")
            # as the cycle does after its load: what to build, from the build marks (the nightly before
            # recorded what it read), then the marks of this build
            selection = cycle_selection.select(rung.settings, options.cycle_selector, options.schema)
            run_dbt(["build", *selection.dbt_args()], rung.settings, target_path=rung.target, capture=True,
                    env=options.frequent_env(rung.access_prefix))  # a failure raises DbtError
            cycle_selection.record(rung.settings, options.schema, selection)
            build_done_s = time.perf_counter() - t0
            poller.wait(timeout=30)
        finally:
            poller.stop()
    nodes = len(json.loads((rung.target / "run_results.json").read_text())["results"])
    cycle += f" ({selection.describe()})"
    figures = LatencyFigures(cycle, len(keys), len(ids), round(land_s, 3), round(loaded_s, 3),
                             poller.fct_at, poller.rpt_at, round(build_done_s, 3), nodes)
    say(f"{rung.scale}: end to end {figures.total_s} s (loaded {figures.loaded_s:.1f} s, fct_orders "
        f"{figures.fct_visible_s} s, reporting {figures.rpt_visible_s} s, build done {figures.build_done_s:.1f} s)")
    return figures


class _Poller:
    """Polls, on its own connection, until the new orders are in fct_orders and counted in reporting."""

    INTERVAL_S = 0.2

    def __init__(self, conn, schema: str, ids: list[int], expected: dict[tuple[int, str], int]):
        self.conn, self.schema, self.ids, self.expected = conn, schema, ids, expected
        self.fct_at: float | None = None
        self.rpt_at: float | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-latency-poller", daemon=True)
        self.error: str | None = None  # the last failed poll's error (polling goes on)
        self.errors = 0

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._thread.start()

    def wait(self, timeout: float) -> None:
        self._done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import psycopg2

        fct = f"select count(*) from {self.schema}_marts.fct_orders where order_id = any(%s)"
        rpt = (f"select warehouse_id, cast(activity_date as varchar), sum(orders_created) "
               f"from {self.schema}_reporting.rpt_operations_health_daily where warehouse_id = any(%s) "
               "group by warehouse_id, activity_date")
        warehouses = sorted({w for w, _ in self.expected})
        try:
            while not self._stop.is_set():
                now = round(time.perf_counter() - self.t0, 3)
                try:
                    with self.conn.cursor() as cur:
                        if self.fct_at is None:
                            cur.execute(fct, (self.ids,))
                            if cur.fetchone()[0] == len(self.ids):
                                self.fct_at = now
                        if self.rpt_at is None:
                            cur.execute(rpt, (warehouses,))
                            seen = {(w, d): n for w, d, n in cur.fetchall()}
                            if all(seen.get(group, 0) >= n for group, n in self.expected.items()):
                                self.rpt_at = now
                except psycopg2.Error as err:  # e.g. a table dropped while the poll waited for it: poll again
                    self.errors += 1
                    self.error = str(err).strip()
                    log.debug("latency poll failed, polling again: %s", self.error)
                if self.fct_at is not None and self.rpt_at is not None:
                    break
                self._stop.wait(self.INTERVAL_S)
        finally:
            self._done.set()


def _drop_database(base: Settings, name: str) -> None:
    from unify.local_warehouse import LocalWarehouse

    LocalWarehouse(base).drop_database(name)


def _load_average() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0


def machine() -> dict:
    """The machine the figures come from."""
    import platform

    import psutil

    cores = os.cpu_count() or 0
    memory_gb = psutil.virtual_memory().total / 2**30
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": cores, "memory_gb": round(memory_gb, 1), "platform": platform.platform(),
            "python": platform.python_version(), "load_average_1m_at_start": load,
            "description": f"{cores} cores, {memory_gb:.0f} GB RAM, {platform.system()} {platform.release()}"}
