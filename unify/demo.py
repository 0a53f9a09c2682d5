"""The main job (`unify demo`, `make demo`): simulate -> land -> load -> dbt build, several cycles, then docs.

It replays what production does over time: an initial load (DMS full load + CDC, AppFlow's first full
pull, the TMS's first extracts), then daily increments from the simulator's continue mode, each
followed by a load and a `dbt build` — so snapshots hold real history and incremental models run
incrementally. It ends with `dbt docs generate`, the column lineage and a short summary of what was built.

The terminal shows one line per stage (a progress bar while a long one runs, on a terminal), then the
summary; dbt's own log goes to <target>/logs/dbt.log, which the summary names. A failing dbt run is shown
in full: each failing node with its message, and where the log is.

By default it starts from a clean slate (the local landing folder and the project database are
recreated) so that every run of `make demo` gives the same numbers for the same options.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from loaders.config import Settings, load_settings
from unify.dbt_runner import DbtError, dbt_log_file, dbt_schema, dbt_target_path, run_dbt_logged
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
    dbt_log: Path | None = None
    docs_path: Path | None = None
    lineage_path: Path | None = None
    tests: dict[str, int] = field(default_factory=dict)  # status -> count, from the last build
    mart_rows: dict[str, int] = field(default_factory=dict)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)
    logins: list[tuple[str, str]] = field(default_factory=list)  # (user, role) created for the local demo
    dashboards: list[tuple[str, str, Path]] = field(default_factory=list)  # (user, role, page) rendered as them


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
    """Run the main job; `say` gets one line per stage, `progress` shows bars while stages run."""
    from loaders.load import EXIT_OK, EXIT_QUARANTINED, load
    from unify.simulate import continue_simulation, simulate

    started = time.monotonic()
    landing = landing or settings.landing
    target_path = target_path or dbt_target_path()
    report = MainJobReport(target_path=target_path, dbt_log=dbt_log_file(target_path))

    if config.fresh:
        reset(settings, landing)
        say(f"fresh start: recreated database {settings.pg_database!r} and emptied the landing folder {landing}")

    def cycle(name: str, simulate_step: Callable[[], object], full_refresh: bool = False) -> None:
        simulated = simulate_step()
        say(f"{name}: simulated {simulated.files_written:,} files, {simulated.rows_total:,} source records "
            f"in {simulated.seconds:.1f} s")
        t0 = time.monotonic()
        loaded = load(settings, landing, progress=progress)
        load_s = time.monotonic() - t0
        if loaded.exit_code not in (EXIT_OK, EXIT_QUARANTINED):
            raise MainJobError(f"{name}: the load failed (exit {loaded.exit_code}):\n{loaded.summary()}")
        quarantined = list(loaded.quarantined)
        report.quarantined.extend((q.key, q.reason) for q in quarantined)
        say(f"{name}: loaded {loaded.files:,} files, {loaded.rows:,} rows in {load_s:.1f} s"
            + (f"; {len(quarantined)} file(s) quarantined (grouped by reason in the summary)" if quarantined else ""))
        args = ["build"] + (["--full-refresh"] if full_refresh else [])
        try:
            built = run_dbt_logged(args, settings, target_path=target_path, progress=progress,
                                   description=f"{name}: dbt build", env=as_of_env(simulated.last_day))
        except DbtError as err:
            raise MainJobError(f"{name}: {err}") from None
        say(f"{name}: {built.summary()}")
        for warning in built.warnings:
            say(f"{name}: dbt warning: {warning}")
        report.cycles.append(CycleResult(name, loaded.files, loaded.rows, len(quarantined), load_s,
                                         built.seconds))

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
        from unify.catalog.lineage import LineageError, generate_docs

        try:
            docs, lineage = generate_docs(settings, target_path, progress=progress)
        except (DbtError, LineageError) as err:
            raise MainJobError(f"docs: {err}") from None
        say(f"docs: {docs.summary()}")
        say(f"docs: {lineage.summary()}")
        report.docs_path = target_path / "index.html"
        report.lineage_path = lineage.html_path
    report.mart_rows = _mart_row_counts(settings)
    if not settings.external:
        from unify.access import AccessQueryError, create_local_logins

        try:
            report.logins = create_local_logins(settings, dbt_schema())
        except AccessQueryError as err:
            say(f"local logins not created: {err}")
        report.dashboards = _render_dashboards(settings, report.logins, say)
    report.seconds = time.monotonic() - started
    return report


def as_of_env(last_day: date) -> dict[str, str]:
    """The models' "now" for a cycle that simulated up to `last_day`: the midnight that ends it. With the
    clock instead, a cycle replaying past days is judged days after its data ends: the completeness
    tests then expect TMS shipments and extracts that the next cycles have not simulated yet, and passed
    or failed with the hour the demo ran (just after midnight UTC, the late shipments of a few minutes of
    orders were 6% of them). An UNIFY_AS_OF_AT already set (the tests pin one) is kept."""
    if os.environ.get("UNIFY_AS_OF_AT"):
        return {}
    return {"UNIFY_AS_OF_AT": f"{last_day + timedelta(days=1):%Y-%m-%d} 00:00:00"}


# Whose dashboards the demo renders: one person who sees some clients, one who sees them all.
DASHBOARD_VIEWERS = ("unify_account_manager", "unify_finance")


def _render_dashboards(settings: Settings, logins: list[tuple[str, str]],
                       say: Callable[[str], None]) -> list[tuple[str, str, Path]]:
    """Both dashboards as the first account manager and the first finance person of the mapping see
    them (logged in as them, so row-level security applies): (user, role, page) per person rendered."""
    from unify.dashboards.preview import DashboardError, render_dashboards

    pages = []
    for role in DASHBOARD_VIEWERS:
        user = next((u for u, r in logins if r == role), None)
        if user is None:
            continue
        try:
            pages.append((user, role, render_dashboards(settings, user)))
        except DashboardError as err:
            say(f"dashboards as {user} not rendered: {err}")
    if pages:
        say(f"dashboards: rendered as {', '.join(user for user, _, _ in pages)}")
    return pages


def _test_counts(run_results: Path) -> dict[str, int]:
    """Data and unit tests of the last dbt build per status, from its run_results.json."""
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, KeyError, ValueError):
        return {}
    return dict(Counter(r["status"] for r in results if r.get("unique_id", "").startswith(("test.", "unit_test."))))


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


def _mart_lines(mart_rows: dict[str, int], width: int = 110) -> list[str]:
    """Rows per table, one wrapped paragraph per schema: `  analytics_marts: dim_client 26, ...`."""
    by_schema: dict[str, list[str]] = {}
    for name, rows in mart_rows.items():
        schema, table = name.split(".", 1)
        by_schema.setdefault(schema, []).append(f"{table}\N{NO-BREAK SPACE}{rows:,}")  # wrapped between tables only
    return [line.replace("\N{NO-BREAK SPACE}", " ") for schema, tables in by_schema.items()
            for line in textwrap.wrap(", ".join(tables), width, initial_indent=f"  {schema}: ",
                                      subsequent_indent="    ", break_on_hyphens=False)]


def print_summary(settings: Settings, report: MainJobReport) -> None:
    from unify.summary import OTIF_ANALYSIS, SummaryError, format_otif_lines, otif_by_client_last_month

    rule = "=" * 78
    print(rule)
    files = sum(c.files for c in report.cycles)
    rows = sum(c.rows for c in report.cycles)
    cycles = f"{len(report.cycles)} load cycle" + ("s" if len(report.cycles) != 1 else "")
    print(f"Main job finished in {report.seconds:.0f} s: {cycles}, {files:,} files, "
          f"{rows:,} rows")
    if report.quarantined:
        print(f"Quarantined files (kept, never deleted; fix and retry with `unify load`): {len(report.quarantined)}")
        for reason, count, example in quarantine_reasons(report.quarantined):
            print(f"  {count:>4} x {reason}  (e.g. {example})")
    tests = ", ".join(f"{n} {s}" for s, n in sorted(report.tests.items())) or "none run"
    print(f"Tests in the last dbt build: {tests}")
    print("Rows per mart and reporting table:")
    for line in _mart_lines(report.mart_rows):
        print(line)
    try:
        lines = format_otif_lines(otif_by_client_last_month(settings, report.target_path))
        print(f"OTIF by client, last complete month (analyses/{OTIF_ANALYSIS}.sql):")
        for line in lines or ["none: no order was due in the last complete month (simulate more --days)"]:
            print("  " + line)
    except (SummaryError, DbtError) as err:
        print(f"OTIF summary unavailable: {err}")
    print(f"Warehouse:  {settings.url()}   (`unify warehouse psql`, or any PostgreSQL client)")
    print(f"Artifacts:  {report.target_path}  (run_results.json, manifest.json, catalog.json)")
    print(f"dbt log:    {report.dbt_log}  (every dbt run's full log)")
    if report.docs_path and report.lineage_path:
        print(f"Docs:       {report.docs_path} and {report.lineage_path.name} (column lineage); serve them: "
              "`unify docs serve`, then http://127.0.0.1:8080/")
    for user, role, page in report.dashboards:
        print(f"Dashboards: {page}  (as {user}, {role.removeprefix('unify_').replace('_', ' ')}; "
              "`unify dashboards --as <person>`)")
    print("Next:       source .venv/bin/activate && dbt build -s fct_orders   (README: 'Working with dbt')")
    managers = [user for user, role in report.logins if role == "unify_account_manager"]
    if managers:
        print(f"RLS:        {len(report.logins)} local logins, one per person in the access mapping; try")
        print(f"              unify access show {managers[0]}")
        print(f"              unify warehouse psql -U {managers[0]} -c 'select count(*) from {dbt_schema()}_marts.fct_orders'")
    print(rule)


def add_parser(sub: argparse._SubParsersAction) -> None:
    defaults = MainJobConfig()
    parser = sub.add_parser(
        "demo",
        help="run the main job end to end on the local warehouse (simulate, load, dbt build, docs)",
        description=__doc__,
    )
    parser.add_argument("--scale", default=defaults.scale,
                        help="simulator scale: tiny, small, medium, large or a number")
    parser.add_argument("--days", type=int, default=defaults.days, help="days of initial history")
    parser.add_argument("--cycles", type=int, default=defaults.cycles, help="daily load cycles after the initial load")
    parser.add_argument("--start", type=date.fromisoformat,
                        help="first simulated day, YYYY-MM-DD (default: the last cycle simulates yesterday)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the simulator's random seed")
    parser.add_argument("--format", dest="fmt", choices=["csv", "parquet"], default=defaults.fmt,
                        help="file format of the DMS and TMS deliveries")
    parser.add_argument("--faults", default=",".join(defaults.faults),
                        help="simulator faults, comma-separated, 'all' or 'none'")
    parser.add_argument("--no-fresh", dest="fresh", action="store_false",
                        help="keep the existing database and landing folder (default: start clean)")
    parser.add_argument("--no-docs", dest="docs", action="store_false", help="skip dbt docs generate")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from unify.simulate.params import SimulationError

    settings = load_settings()
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    config = MainJobConfig(scale=args.scale, days=args.days, cycles=args.cycles, start=args.start,
                           seed=args.seed, fmt=args.fmt, faults=faults, fresh=args.fresh, docs=args.docs)
    if not args.verbose:
        # The demo shows each load's summary and its warnings, not one line per batch; quarantined files
        # are listed grouped by reason at the end instead of one warning each (-v shows them; `unify load`
        # always does).
        # The same for the tools the stages call (the local PII key's installation, the dashboards): their
        # events are one stage line here.
        for name in ("loaders", "unify.pii_key", "unify.dashboards"):
            logging.getLogger(name).setLevel(logging.WARNING)
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda record: getattr(record, "event", None) != "file_quarantined")
    try:
        status = LocalWarehouse(settings).start()
        _say(f"warehouse: {status.url} ({status.note or 'started'})")
        report = run_main_job(settings, config, progress=sys.stderr.isatty())
    except (MainJobError, WarehouseError, SimulationError) as err:
        print(f"unify demo: {err}", file=sys.stderr)
        return 1
    print_summary(settings, report)
    return 0
