"""The main job (`unify demo`, `make demo`): simulate -> land -> load -> dbt build, several cycles, then docs.

It replays what production does over time: an initial load (DMS full load + CDC, AppFlow's first full
pull, the TMS's first extracts), then daily increments from the simulator's continue mode, each
followed by a load and a `dbt build` — so snapshots hold real history and incremental models run
incrementally. It ends with `dbt docs generate` and a short summary of what was built.

By default it starts from a clean slate (the local landing folder and the project database are
recreated) so that every run of `make demo` gives the same numbers for the same options.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from loaders.config import Settings, load_settings
from unify.dbt_runner import dbt_schema, dbt_target_path
from unify.dbt_runner import DbtError, run_dbt
from unify.local_warehouse import LocalWarehouse, WarehouseError

DEFAULT_FAULTS = ("all",)


class MainJobError(Exception):
    """A step of the main job failed; the message names the step and what to look at."""


@dataclass(frozen=True)
class MainJobConfig:
    scale: str = "small"
    days: int = 28  # initial history: a full month, so monthly metrics have a complete month
    cycles: int = 3  # daily increments after the initial load
    start: date | None = None  # default: the last cycle simulates yesterday (UTC), so data ends now
    seed: int = 42
    fmt: str = "csv"
    faults: tuple[str, ...] = DEFAULT_FAULTS
    fresh: bool = True
    docs: bool = True

    def first_day(self) -> date:
        if self.start is not None:
            return self.start
        return datetime.now(timezone.utc).date() - timedelta(days=self.days + self.cycles)


@dataclass
class CycleResult:
    name: str
    files: int
    rows: int
    quarantined: int
    load_seconds: float
    build_seconds: float


@dataclass
class MainJobReport:
    cycles: list[CycleResult] = field(default_factory=list)
    seconds: float = 0.0
    target_path: Path | None = None
    docs_path: Path | None = None
    lineage_path: Path | None = None
    tests: dict[str, int] = field(default_factory=dict)  # status -> count, from the last build
    mart_rows: dict[str, int] = field(default_factory=dict)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)
    logins: list[tuple[str, str]] = field(default_factory=list)  # (user, role) created for the local demo


def _say(message: str) -> None:
    print(f"[unify demo] {message}", flush=True)


def reset(settings: Settings, landing: str) -> None:
    """Recreate the project database and empty the local landing folder (never an S3 bucket)."""
    landing_path = Path(landing)
    if "://" not in landing and landing_path.resolve().is_relative_to(settings.home):
        shutil.rmtree(landing_path, ignore_errors=True)
    elif landing_path.exists() and any(landing_path.iterdir()):
        raise MainJobError(f"refusing to empty {landing}: it is outside {settings.home}; use --no-fresh")
    warehouse = LocalWarehouse(settings)
    warehouse.drop_database(settings.pg_database)
    warehouse.ensure_database()


def run_main_job(
    settings: Settings,
    config: MainJobConfig = MainJobConfig(),
    *,
    landing: str | None = None,
    target_path: Path | None = None,
    say: Callable[[str], None] = _say,
    progress: bool = True,
) -> MainJobReport:
    from loaders.load import load
    from unify.simulate import continue_simulation, simulate

    started = time.monotonic()
    landing = landing or settings.landing
    target_path = target_path or dbt_target_path()
    report = MainJobReport(target_path=target_path)

    if config.fresh:
        say(f"fresh start: recreating database {settings.pg_database!r} and the landing folder {landing}")
        reset(settings, landing)

    def cycle(name: str, simulate_step: Callable[[], object], full_refresh: bool = False) -> None:
        say(f"{name}: simulating the sources' deliveries into {landing}")
        simulate_step()
        t0 = time.monotonic()
        loaded = load(settings, landing, progress=progress)
        load_s = time.monotonic() - t0
        if loaded.exit_code not in (0, _exit_code_with_quarantines()):
            raise MainJobError(f"{name}: the load failed (exit {loaded.exit_code}); see the log above")
        quarantined = list(getattr(loaded, "quarantined", []) or [])
        report.quarantined.extend((q.key, q.reason) for q in quarantined)
        say(f"{name}: loaded {loaded.files} files, {loaded.rows} rows in {load_s:.1f} s"
            + (f"; {len(quarantined)} file(s) quarantined (see `unify load` docs)" if quarantined else ""))
        t1 = time.monotonic()
        args = ["build"] + (["--full-refresh"] if full_refresh else [])
        say(f"{name}: dbt {' '.join(args)}")
        try:
            run_dbt(args, settings, target_path=target_path)
        except DbtError as err:
            raise MainJobError(f"{name}: {err}") from None
        report.cycles.append(CycleResult(name, loaded.files, loaded.rows, len(quarantined), load_s,
                                         time.monotonic() - t1))

    first = config.first_day()
    cycle(
        f"initial load ({config.days} days from {first})",
        lambda: simulate(landing, scale=config.scale, days=config.days, start=first, seed=config.seed,
                         fmt=config.fmt, faults=config.faults, progress=progress),
    )
    for n in range(1, config.cycles + 1):
        cycle(f"daily cycle {n}/{config.cycles}", lambda: continue_simulation(landing, days=1, progress=progress))

    report.tests = _test_counts(target_path / "run_results.json")
    if config.docs:
        say("dbt docs generate")
        try:
            run_dbt(["docs", "generate"], settings, target_path=target_path)
        except DbtError as err:
            raise MainJobError(f"docs: {err}") from None
        report.docs_path = target_path / "index.html"
        from unify.catalog.lineage import LineageError, write_lineage

        try:
            lineage = write_lineage(target_path)
        except LineageError as err:
            raise MainJobError(f"docs: {err}") from None
        say(lineage.summary())
        report.lineage_path = target_path / "lineage.html"
    report.mart_rows = _mart_row_counts(settings)
    if not settings.external:
        from unify.access import AccessQueryError, create_local_logins

        try:
            report.logins = create_local_logins(settings, dbt_schema())
        except AccessQueryError as err:
            say(f"local logins not created: {err}")
    report.seconds = time.monotonic() - started
    return report


def _exit_code_with_quarantines() -> int:
    from loaders import load as load_module

    return getattr(load_module, "EXIT_QUARANTINED", 3)


def _test_counts(run_results: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, KeyError, ValueError):
        return counts
    for result in results:
        if result.get("unique_id", "").startswith(("test.", "unit_test.")):
            counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


def _mart_row_counts(settings: Settings) -> dict[str, int]:
    """Rows per table in the marts and reporting schemas (what a newcomer looks at first)."""
    import psycopg2
    from psycopg2 import sql

    counts: dict[str, int] = {}
    schema = dbt_schema()
    with psycopg2.connect(settings.dsn()) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select table_schema, table_name from information_schema.tables
            where table_schema in (%s, %s) and table_type = 'BASE TABLE'
            order by table_schema, table_name
            """,
            (f"{schema}_marts", f"{schema}_reporting"),
        )
        for schema, table in cur.fetchall():
            cur.execute(sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
            counts[f"{schema}.{table}"] = cur.fetchone()[0]
    conn.close()
    return counts


def quarantine_reasons(quarantined: list[tuple[str, str]]) -> list[tuple[str, int, str]]:
    """(reason, files, one example key) per kind of quarantine, most frequent first, from the report's
    (key, reason) pairs. A JSON parser's position ("(column 183)") is left out of the grouping."""
    groups: dict[str, list[str]] = {}
    for key, reason in quarantined:
        reason = re.sub(r" \(column \d+\)", "", reason).strip() or "unknown"
        groups.setdefault(reason, []).append(key)
    return sorted(((reason, len(keys), keys[0]) for reason, keys in groups.items()), key=lambda g: (-g[1], g[0]))


def print_summary(settings: Settings, report: MainJobReport) -> None:
    print()
    print("=" * 78)
    print(f"Main job finished in {report.seconds:.0f} s")
    for c in report.cycles:
        print(f"  {c.name:<40} {c.files:>5} files {c.rows:>9} rows  load {c.load_seconds:5.1f} s  "
              f"build {c.build_seconds:5.1f} s")
    if report.quarantined:
        print(f"  quarantined files (kept, never deleted; fix and retry with `unify load`): {len(report.quarantined)}")
        for reason, count, example in quarantine_reasons(report.quarantined):
            print(f"    {count:>4} x {reason}  (e.g. {example})")
    tests = ", ".join(f"{n} {s}" for s, n in sorted(report.tests.items())) or "none run"
    print(f"Tests in the last dbt build: {tests}")
    print("Rows per mart and reporting table:")
    for name, rows in report.mart_rows.items():
        print(f"  {name:<60} {rows:>9}")
    from unify.summary import SummaryError, format_otif_lines, otif_by_client_last_month

    try:
        lines = format_otif_lines(otif_by_client_last_month(settings))
        print("OTIF by client, last complete month:")
        for line in lines or ["none: no order was due in the last complete month (simulate more --days)"]:
            print("  " + line)
    except SummaryError as err:
        print(f"OTIF summary unavailable: {err}")
    print()
    print(f"Warehouse:  {settings.url()}   (`unify warehouse psql`, or any PostgreSQL client)")
    print(f"Artifacts:  {report.target_path}  (run_results.json, manifest.json, catalog.json)")
    if report.docs_path:
        print(f"Docs:       {report.docs_path}  (serve it: `unify docs serve`, then http://127.0.0.1:8080/)")
    if report.lineage_path:
        print(f"Lineage:    {report.lineage_path}  (column lineage; served at /lineage.html)")
    print("Next:       source .venv/bin/activate && dbt build -s fct_orders   (README: 'Working with dbt')")
    managers = [user for user, role in report.logins if role == "unify_account_manager"]
    if managers:
        print(f"RLS:        {len(report.logins)} local logins, one per person in the access mapping; try")
        print(f"              unify access show {managers[0]}")
        print(f"              unify warehouse psql -U {managers[0]} -c 'select count(*) from {dbt_schema()}_marts.fct_orders'")
    print("=" * 78)


def add_parser(sub: argparse._SubParsersAction) -> None:
    defaults = MainJobConfig()
    parser = sub.add_parser(
        "demo",
        help="run the main job end to end on the local warehouse (simulate, load, dbt build, docs)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--scale", default=defaults.scale, help=f"simulator scale (default {defaults.scale})")
    parser.add_argument("--days", type=int, default=defaults.days, help="days of initial history")
    parser.add_argument("--cycles", type=int, default=defaults.cycles, help="daily load cycles after the initial load")
    parser.add_argument("--start", type=date.fromisoformat, help="first simulated day (default: ends today)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--format", dest="fmt", choices=["csv", "parquet"], default=defaults.fmt)
    parser.add_argument("--faults", default=",".join(defaults.faults),
                        help="simulator faults, comma-separated, 'all' or 'none' (default: all)")
    parser.add_argument("--no-fresh", dest="fresh", action="store_false",
                        help="keep the existing database and landing folder (default: start clean)")
    parser.add_argument("--no-docs", dest="docs", action="store_false", help="skip dbt docs generate")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    config = MainJobConfig(scale=args.scale, days=args.days, cycles=args.cycles, start=args.start,
                           seed=args.seed, fmt=args.fmt, faults=faults, fresh=args.fresh, docs=args.docs)
    if not args.verbose:
        # The demo shows each load's summary and its warnings, not one line per batch; quarantined files
        # are listed grouped by reason at the end instead of one warning each (-v shows them; `unify load`
        # always does).
        logging.getLogger("loaders").setLevel(logging.WARNING)
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda record: getattr(record, "event", None) != "file_quarantined")
    try:
        LocalWarehouse(settings).start()
        report = run_main_job(settings, config, progress=sys.stderr.isatty())
    except (MainJobError, WarehouseError) as err:
        print(f"unify demo: {err}", file=sys.stderr)
        return 1
    print_summary(settings, report)
    return 0
