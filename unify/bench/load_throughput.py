"""Loader throughput against a bare `COPY FROM STDIN` of the same data, in the same run.

    python -m unify.bench.load_throughput --rows 1150000 [--repeat 3] [--json out.json]

The data is one DMS full-load file of dbo.OrderLines (11 columns: Op, dms_commit_ts, the 8 source
columns, dms_change_seq) written by the simulator's own DMS encoder (unify/simulate/encode.py), so
it has exactly the shape DMS lands. Each round, on the local warehouse, in fresh scratch databases, one
COPY FROM STDIN per file, `COPY t (header columns) FROM STDIN WITH (FORMAT csv, HEADER true, NULL 'NULL')`:

- bare, raw table: the file streamed into the raw table itself (created by the loader's set-up: the
  metadata columns filled by their defaults, the btree indexes on `_loaded_at` and the key, the DMS `Op`
  check), the load context set in the same round trip as each COPY; nothing else. loader / this = what the loader
  itself costs on top of the COPY the warehouse has to do: the goal (>= 0.90, issue 18).
- bare, plain table: the file streamed into a table with only the 11 source columns and types, no
  metadata columns, no index. loader / this = the loader and the raw table's design together (its four
  metadata columns double a narrow row, and its two indexes are maintained row by row).
- loader: `loaders.load.load()` on a landing folder holding that file, timed end to end: listing, the
  set-up check, ledger lookup, header and last-line-break checks, the COPY (checksummed on the way),
  ledger rows, commit. As for the bare COPYs, creating the tables is not timed: the raw tables and the
  ledger are created (once, as in production) before the clock starts.

Rounds run the three in turn (a CHECKPOINT before each), and the figures are the best and the median of
the rounds. It prints figures and makes no assertion.

`compare_on_landing` does the same on a whole simulated landing zone (`unify bench` uses it): every DMS and
TMS CSV file, each streamed by a bare `COPY FROM STDIN` into its raw table (and into a plain table),
against `load()` of the same sources. Each side starts with every file read once (`_warm`), and the
megabytes each then reads from storage, not the page cache, are reported: the xlarge landing is 5 GB and
each side writes a raw database and its WAL several times that, so whichever ran last could otherwise
find the files evicted and pay for reading them again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from unify.bench import BenchError
from loaders.config import Settings, load_settings
from unify.local_warehouse import LocalWarehouse
from loaders.source_tables import SourceTable, get_table

TABLE = get_table("azureware", "OrderLines")
KEY = "dms/azureware/dbo/OrderLines/LOAD00000001.csv"


def write_dms_file(path: Path, rows: int, seed: int = 7) -> int:
    """A DMS full-load CSV of dbo.OrderLines with `rows` records; returns its size in bytes."""
    from unify.simulate.encode import DmsEncoder, table_columns

    rng = random.Random(seed)
    encoder = DmsEncoder(table_columns(TABLE))
    start_us = 1_793_500_000_000_000  # 2026-11-01
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        chunk = 200_000
        for first in range(0, rows, chunk):
            records = []
            for n in range(first, min(rows, first + chunk)):
                modified = start_us + n * 997_331
                ordered = rng.randint(1, 40)
                records.append(("I", start_us, "", (n + 1, n // 3 + 1, n % 3 + 1, rng.randint(1, 5000), ordered,
                                                    ordered, ordered if rng.random() < 0.97 else ordered - 1,
                                                    modified)))
            data = encoder.csv(records)
            if first:  # one header only
                data = data.split(b"\n", 1)[1]
            handle.write(data)
    return path.stat().st_size


def _fresh_database(settings: Settings, name: str) -> Settings:
    warehouse = LocalWarehouse(settings)
    warehouse.drop_database(name)
    warehouse.ensure_database(name)
    fresh = settings.with_database(name)
    _checkpoint(fresh)
    return fresh


def _drop_database(settings: Settings, name: str) -> None:
    LocalWarehouse(settings).drop_database(name)


@dataclass(frozen=True)
class CsvDelivery:
    """One landed CSV file as a bare COPY needs it: its table, its columns (raw names, file order), NULL text."""

    key: str
    path: Path
    table: SourceTable
    columns: tuple[str, ...]
    null_marker: str
    size: int


@dataclass(frozen=True)
class LandingComparison:
    files: int
    bytes: int
    bare_rows: int
    bare_s: float  # bare COPY into the raw tables (the warehouse's share of the load)
    loader_rows: int
    loader_s: float
    loader_quarantined: int
    plain_s: float = 0.0  # bare COPY into plain tables of the source columns
    # Megabytes read from storage (not the page cache) while the bare COPY and the loader ran, each after a
    # read of every file (`_warm`): 0 when the landing stayed cached; None where the system does not say.
    bare_storage_mb: float | None = None
    loader_storage_mb: float | None = None


def csv_deliveries(landing: Path, systems: tuple[str, ...] = ("azureware", "tms")) -> list[CsvDelivery]:
    """Every CSV file the loader would load from these systems, identified and inspected by the loader's
    own readers (so both sides load exactly the same files)."""
    from loaders.landing import open_landing
    from loaders.sources import Layout, identify, inspect

    zone = open_landing(str(landing))
    layout = Layout()
    found: list[CsvDelivery] = []
    for system in systems:
        for obj in zone.list(layout.prefix(system)):
            sf = identify(obj, layout, systems)
            if sf is None:
                continue
            info = inspect(zone, sf)
            if info.file_format.kind != "csv" or info.empty:
                continue
            columns = tuple(sf.table.column(name).raw_name for name in info.names)
            found.append(CsvDelivery(obj.key, landing / obj.key, sf.table, columns,
                                     info.file_format.null_marker or "", obj.size))
    return sorted(found, key=lambda d: (d.table.qualified_raw_name, d.key))


def bare_copy_files(settings: Settings, deliveries: list[CsvDelivery], into: str = "raw") -> tuple[float, int]:
    """COPY FROM STDIN each file, one transaction per table, nothing else; returns (seconds, rows).

    `into="raw"`: into the raw tables, created before the clock starts by the loader's own set-up (metadata
    defaults, indexes, checks), with the load context set in the COPY's own round trip. `into="plain"`: into
    a table per source table with only its source columns."""
    import psycopg2
    from psycopg2 import sql

    from loaders.source_tables import ALL_TABLES
    from loaders.warehouse.postgres import CONTEXT_PREFIX, ROW_SEQUENCE, PostgresWarehouse

    tables = {d.table.qualified_raw_name: d.table for d in deliveries}
    if into == "raw":
        warehouse = PostgresWarehouse(settings)
        try:
            warehouse.setup(ALL_TABLES)
        finally:
            warehouse.close()
    with closing(psycopg2.connect(settings.dsn())) as conn, conn.cursor() as cur:
        if into == "raw":
            target = {name: sql.Identifier(t.raw_schema, t.raw_table) for name, t in tables.items()}
            cur.execute(f"create temp sequence {ROW_SEQUENCE}")
        else:
            cur.execute("create schema if not exists bare")
            target = {name: sql.Identifier("bare", f"{t.system}_{t.raw_table}") for name, t in tables.items()}
            for name, table in tables.items():
                columns = [*table.delivery_columns, *table.columns]
                cur.execute(sql.SQL("create table {} (" + ", ".join(f'"{c.raw_name}" {c.raw_type}' for c in columns)
                                    + ")").format(target[name]))
        conn.commit()
        statements = {
            d.key: sql.SQL("copy {} ({}) from stdin with (format csv, header true, null {})").format(
                target[d.table.qualified_raw_name], sql.SQL(", ").join(map(sql.Identifier, d.columns)),
                sql.Literal(d.null_marker)).as_string(conn)
            for d in deliveries
        }
        context = (f"select set_config('{CONTEXT_PREFIX}source_key', %s, true), "
                   f"set_config('{CONTEXT_PREFIX}batch_id', 'bare', true), "
                   f"set_config('{CONTEXT_PREFIX}loaded_at', '2026-11-01 00:00:00', true), "
                   f"setval('pg_temp.{ROW_SEQUENCE}', 1, false)")
        rows = 0
        started = time.perf_counter()
        current = None
        for d in deliveries:
            if current is not None and d.table is not current:
                conn.commit()
            current = d.table
            # into the raw table, the load context travels with the COPY, in one round trip
            prefix = cur.mogrify(context + "; ", (d.key,)).decode() if into == "raw" else ""
            with d.path.open("rb") as handle:
                cur.copy_expert(prefix + statements[d.key], handle, size=1 << 20)
            rows += cur.rowcount
        conn.commit()
        seconds = time.perf_counter() - started
    return seconds, rows


def compare_on_landing(settings: Settings, landing: Path, scratch_database: str,
                       systems: tuple[str, ...] = ("azureware", "tms")) -> LandingComparison:
    """Bare COPY of the landing's CSV files into `scratch_database` (created, then dropped), then the
    loader's `load()` of the same systems into `settings`' database (its raw tables created first, as in
    production, before the clock starts). The loader's rows stay: they are the benchmark's data."""
    from loaders.load import EXIT_FAILED, load
    from loaders.source_tables import ALL_TABLES
    from loaders.warehouse.postgres import PostgresWarehouse

    from dataclasses import replace

    from loaders.load import LoaderConfig

    deliveries = csv_deliveries(landing, systems)
    try:
        _warm(deliveries)
        plain_s, _rows = bare_copy_files(_fresh_database(settings, scratch_database), deliveries, "plain")
        _drop_database(settings, scratch_database)
        scratch = _fresh_database(settings, scratch_database)
        _warm(deliveries)
        read_before = _storage_read_bytes()
        bare_s, bare_rows = bare_copy_files(scratch, deliveries, "raw")
        bare_storage_mb = _megabytes_since(read_before)
    finally:
        _drop_database(settings, scratch_database)
    warehouse = PostgresWarehouse(settings)
    try:
        warehouse.setup(ALL_TABLES)
    finally:
        warehouse.close()
    _checkpoint(settings)
    _warm(deliveries)
    read_before = _storage_read_bytes()
    started = time.perf_counter()
    # the files were written whole before the clock started: no quiet period to wait out
    report = load(settings, str(landing), sources=list(systems), config=replace(LoaderConfig.from_env(), quiet_s=0.0))
    loader_s = time.perf_counter() - started
    loader_storage_mb = _megabytes_since(read_before)
    if report.exit_code == EXIT_FAILED:
        raise BenchError(f"the loader failed on {landing}:\n{report.summary()}")
    return LandingComparison(len(deliveries), sum(d.size for d in deliveries), bare_rows, bare_s, report.rows,
                             loader_s, len(report.quarantined), plain_s, bare_storage_mb, loader_storage_mb)


def _warm(deliveries: list[CsvDelivery]) -> None:
    """Read every file once, so that each timed phase starts with the landing in the page cache as far as it
    fits: the phase before it wrote gigabytes (at xlarge, a raw database and its WAL several times the
    landing's 5 GB) that may have pushed the files out, and the phase that comes last must not be the one
    that pays for it."""
    for d in deliveries:
        with d.path.open("rb") as handle:
            while handle.read(1 << 20):
                pass


def _storage_read_bytes() -> int | None:
    """Bytes this process has had read from storage so far (psutil's `read_bytes`: the page cache's misses,
    not every read), or None where the system does not say (psutil has no I/O counters on macOS)."""
    import psutil

    try:
        return psutil.Process().io_counters().read_bytes
    except (AttributeError, psutil.Error):
        return None


def _megabytes_since(before: int | None) -> float | None:
    now = _storage_read_bytes()
    return None if before is None or now is None else round((now - before) / 1e6, 1)


def _checkpoint(settings: Settings) -> None:
    import psycopg2

    with closing(psycopg2.connect(settings.dsn())) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("checkpoint")


def run_benchmark(settings: Settings, rows: int, repeat: int, workdir: Path) -> dict:
    landing = workdir / "landing"
    path = landing / KEY
    t0 = time.perf_counter()
    size = write_dms_file(path, rows)
    generated_s = time.perf_counter() - t0
    db = f"unify_bench_load_{os.getpid()}"
    bare_s, plain_s, loader_s = [], [], []
    try:
        for _round in range(repeat):
            cmp = compare_on_landing(_fresh_database(settings, db), landing, f"{db}_bare", ("azureware",))
            if cmp.bare_rows != rows or cmp.loader_rows != rows:
                raise BenchError(f"the benchmark file holds {rows:,} records: bare COPY loaded {cmp.bare_rows:,}, "
                                 f"the loader {cmp.loader_rows:,} ({cmp.loader_quarantined} file(s) quarantined)")
            bare_s.append(cmp.bare_s)
            plain_s.append(cmp.plain_s)
            loader_s.append(cmp.loader_s)
    finally:
        _drop_database(settings, db)
    result = {
        "rows": rows, "columns": len(TABLE.delivery_columns) + len(TABLE.columns), "file_bytes": size,
        "repeat": repeat, "generate_s": round(generated_s, 2),
        "bare_s": [round(s, 3) for s in bare_s], "plain_s": [round(s, 3) for s in plain_s],
        "loader_s": [round(s, 3) for s in loader_s],
        "bare_rows_per_s_best": round(rows / min(bare_s)), "loader_rows_per_s_best": round(rows / min(loader_s)),
        "plain_rows_per_s_best": round(rows / min(plain_s)),
        "bare_rows_per_s_median": round(rows / statistics.median(bare_s)),
        "loader_rows_per_s_median": round(rows / statistics.median(loader_s)),
        "plain_rows_per_s_median": round(rows / statistics.median(plain_s)),
    }
    result["ratio_best"] = round(min(bare_s) / min(loader_s), 3)
    result["ratio_median"] = round(statistics.median(bare_s) / statistics.median(loader_s), 3)
    result["plain_ratio_best"] = round(min(plain_s) / min(loader_s), 3)
    result["plain_ratio_median"] = round(statistics.median(plain_s) / statistics.median(loader_s), 3)
    return result


def describe(result: dict, server: str) -> str:
    return "\n".join([
        f"Loader throughput: {result['rows']:,} rows x {result['columns']} columns "
        f"(one DMS CSV file, {result['file_bytes'] / 1e6:,.0f} MB), {result['repeat']} round(s), {server}",
        f"  bare COPY FROM STDIN, into the raw table   best {min(result['bare_s']):6.2f} s  "
        f"{result['bare_rows_per_s_best']:>10,} rows/s"
        f"   median {result['bare_rows_per_s_median']:>10,} rows/s   runs {result['bare_s']}",
        f"  bare COPY FROM STDIN, into a plain table   best {min(result['plain_s']):6.2f} s  "
        f"{result['plain_rows_per_s_best']:>10,} rows/s"
        f"   median {result['plain_rows_per_s_median']:>10,} rows/s   runs {result['plain_s']}",
        f"  unify load                                 best {min(result['loader_s']):6.2f} s  "
        f"{result['loader_rows_per_s_best']:>10,} rows/s"
        f"   median {result['loader_rows_per_s_median']:>10,} rows/s   runs {result['loader_s']}",
        f"  loader / bare COPY into the raw table      {result['ratio_best']:.2f} (best)   "
        f"{result['ratio_median']:.2f} (median)   goal >= 0.90",
        f"  loader / bare COPY into a plain table      {result['plain_ratio_best']:.2f} (best)   "
        f"{result['plain_ratio_median']:.2f} (median)",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unify.bench.load_throughput",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_150_000,
                        help="records in the file (default 1,150,000: the large rung's order lines)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of bare + loader (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    settings = load_settings()
    LocalWarehouse(settings).start()
    with tempfile.TemporaryDirectory(prefix="unify-bench-load-") as tmp:
        try:
            result = run_benchmark(settings, args.rows, args.repeat, Path(tmp))
        except BenchError as err:
            print(f"load throughput benchmark: {err}", file=sys.stderr)
            return 1
    print(describe(result, settings.url(database="<scratch>")))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
