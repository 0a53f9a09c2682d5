"""The load core: discover -> plan -> load -> record. The CLI (`unify load`) and the Lambda handler call it.

1. Discover: check the landing zone exists, list it under each source's prefix (or stat the keys an S3
   event names) and identify each object's source table; read the ledger for those keys and keep the
   objects not yet loaded (an object is its key + content checksum: the same bytes uploaded again are a
   `duplicate`; quarantined ones wait for --retry-quarantined or new content). On a local folder a file
   modified in the last `quiet_s` seconds is loaded last, once it has been quiet that long and has not
   changed; one that keeps changing, one that vanished, a dangling symbolic link wait for the next run.
2. Plan: group new objects by raw table into batches (bounded in files and bytes); inspect each file
   (CSV header, its last line break, Parquet footer, JSON keys) and check it against its raw table:
   schema drift to add, incompatibilities to quarantine.
3. Load: the warehouse loads each batch in one transaction with its ledger rows, under the load lock.
4. Record: a report (files, rows, rows/s, per table, quarantines, drift) and an exit code:

    0  everything new was loaded (or there was nothing new)
    3  loaded, but some objects were quarantined (listed; fix and `unify load --retry-quarantined`)
    4  failed: the run stopped (warehouse or landing unreachable, lock not granted, an unexpected
       error); the batch in flight was rolled back, committed batches stay; a rerun loads exactly
       what is missing
    2  usage error (argparse)
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from loaders import evolution, ledger
from loaders.config import Settings
from loaders.crash import Checkpoints, CrashPlan
from loaders.landing import LandedObject, LandingError, LandingNotFound, LandingZone, open_landing
from loaders.errors import LoadError, LoadFailure, QuarantineError
from loaders.records import (DEFERRED, DUPLICATE, LOADED, QUARANTINED, SKIPPED, Batch, FileLoad, FileOutcome,
                             LedgerEntry, Quarantine)
from loaders.logs import log_event
from loaders.source_tables import ALL_TABLES, SYSTEMS, SourceTable
from loaders import sources as readers
from loaders.sources import Layout, SourceFile
from loaders.sources.base import check_last_line_break, csv_structure_problem
from loaders.sources.schema import SchemaPlan, check_schema
from loaders.warehouse.base import Warehouse, contract_types, literal_null_columns

log = logging.getLogger("loaders.load")

EXIT_OK = 0
EXIT_QUARANTINED = 3
EXIT_FAILED = 4
TARGETS = ("postgres", "redshift")


@dataclass(frozen=True)
class LoaderConfig:
    """Loader settings read once from the environment (defaults suit the local set-up)."""

    layout: Layout = Layout()
    target: str = "postgres"  # UNIFY_LOAD_TARGET: postgres (local) | redshift
    max_batch_files: int = 500  # UNIFY_LOAD_BATCH_FILES
    max_batch_bytes: int = 512 << 20  # UNIFY_LOAD_BATCH_MB
    lock_wait_s: float = 600.0  # UNIFY_LOAD_LOCK_WAIT_S
    connect_attempts: int = 5  # UNIFY_LOAD_CONNECT_ATTEMPTS: bounded retries of the warehouse connection
    # UNIFY_LOAD_QUIET_S: a local file modified less than this long ago may still be being written; it is
    # loaded last in the run, once it has been quiet that long and unchanged (0: no waiting)
    quiet_s: float = 2.0
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "LoaderConfig":
        env = dict(os.environ if env is None else env)
        target = (env.get("UNIFY_LOAD_TARGET") or "postgres").strip().lower()
        if target == "local":
            target = "postgres"
        if target not in TARGETS:
            raise LoadFailure(f"UNIFY_LOAD_TARGET must be one of {', '.join(TARGETS)} (or local), not {target!r}")

        def number(name: str, default: float, kind=int, zero: bool = False):
            text = env.get(name, "").strip()
            if not text:
                return default
            try:
                value = kind(text)
                if value < 0 or (value == 0 and not zero):
                    raise ValueError
                return value
            except ValueError:
                raise LoadFailure(f"{name} must be a {'non-negative' if zero else 'positive'} number, "
                                  f"not {text!r}") from None

        return cls(
            layout=Layout.from_env(env),
            target=target,
            max_batch_files=number("UNIFY_LOAD_BATCH_FILES", cls.max_batch_files),
            max_batch_bytes=number("UNIFY_LOAD_BATCH_MB", cls.max_batch_bytes >> 20) << 20,
            lock_wait_s=number("UNIFY_LOAD_LOCK_WAIT_S", cls.lock_wait_s, float),
            connect_attempts=number("UNIFY_LOAD_CONNECT_ATTEMPTS", cls.connect_attempts),
            quiet_s=number("UNIFY_LOAD_QUIET_S", cls.quiet_s, float, zero=True),
            env=env,
        )


@dataclass
class TableSummary:
    raw_table: str
    files: int = 0
    rows: int = 0
    quarantined: int = 0
    added_columns: list[str] = field(default_factory=list)
    widened_columns: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    """What a run did. `exit_code`: 0 all loaded, 3 loaded with quarantines, 4 failed."""

    landing: str
    target: str
    dry_run: bool = False
    exit_code: int = EXIT_OK
    seen: int = 0  # objects under the selected sources' prefixes
    new: int = 0  # of which not yet in the ledger (or retried)
    files: int = 0  # loaded (dry run: would be loaded)
    rows: int = 0
    seconds: float = 0.0
    tables: dict[str, TableSummary] = field(default_factory=dict)
    quarantined: list[FileOutcome] = field(default_factory=list)
    previously_quarantined: list[LedgerEntry] = field(default_factory=list)
    skipped: int = 0  # decided by another loader while this one waited
    duplicates: list[FileOutcome] = field(default_factory=list)  # same bytes re-uploaded: recorded, not loaded
    deferred: list[FileOutcome] = field(default_factory=list)  # left for the next run (written, gone, dangling)
    absent_prefixes: list[str] = field(default_factory=list)  # selected sources whose prefix the zone lacks
    batches: list[str] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)  # {change: added|widened, table, column, type, from, key}
    error: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def table(self, raw_table: str) -> TableSummary:
        return self.tables.setdefault(raw_table, TableSummary(raw_table))

    def to_dict(self) -> dict:
        return {
            "exit_code": self.exit_code, "dry_run": self.dry_run, "landing": self.landing, "target": self.target,
            "seen": self.seen, "new": self.new, "files": self.files, "rows": self.rows,
            "seconds": round(self.seconds, 3), "rows_per_second": round(self.rows_per_second),
            "quarantined": [{"key": q.key, "etag": q.etag, "reason": q.reason, "line": q.line,
                             "table": q.raw_table} for q in self.quarantined],
            "previously_quarantined": [{"key": e.key, "etag": e.etag, "reason": e.reason}
                                       for e in self.previously_quarantined],
            "skipped_loaded_by_another_loader": self.skipped,
            "duplicates": [{"key": d.key, "etag": d.etag, "reason": d.reason} for d in self.duplicates],
            "deferred": [{"key": d.key, "reason": d.reason} for d in self.deferred],
            "absent_prefixes": self.absent_prefixes,
            "tables": {name: {"files": t.files, "rows": t.rows, "quarantined": t.quarantined,
                              "added_columns": t.added_columns, "widened_columns": t.widened_columns}
                       for name, t in sorted(self.tables.items())},
            "drift": self.drift, "batches": self.batches, "error": self.error,
        }

    def summary(self) -> str:
        verb = "would load" if self.dry_run else "loaded"
        lines = [
            f"unify load: {verb} {self.files} file(s), {self.rows:,} rows in {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s) from {self.landing} into {self.target}",
            f"  objects under the source prefixes: {self.seen}, new: {self.new}, quarantined: {len(self.quarantined)}"
            + (f", loaded meanwhile by another loader: {self.skipped}" if self.skipped else ""),
        ]
        for prefix in self.absent_prefixes:
            lines.append(f"  no {prefix} prefix in the landing zone: nothing from that source")
        if self.tables:
            lines.append(f"  {'raw table':<36} {'files':>7} {'rows':>12} {'quarantined':>12}")
            for name, t in sorted(self.tables.items()):
                lines.append(f"  {name:<36} {t.files:>7} {t.rows:>12,} {t.quarantined:>12}")
        for d in self.drift:
            if d["change"] == "widened":
                lines.append(f"  schema drift: {d['table']} column {d['column']} widened {d['from']} -> {d['type']} "
                             f"(first in {d['key']})")
            else:
                lines.append(f"  schema drift: {d['table']} gained column {d['column']} {d['type']} "
                             f"(first in {d['key']})")
        for q in self.quarantined:
            lines.append(f"  QUARANTINED {q}")
        for d in self.duplicates:
            lines.append(f"  duplicate (same bytes as loaded before, not loaded again): {d.key}")
        for d in self.deferred:
            lines.append(f"  left for the next run: {d}")
        if self.previously_quarantined:
            lines.append(f"  {len(self.previously_quarantined)} object(s) quarantined by earlier runs were not retried "
                         "(fix them, then `unify load --retry-quarantined`):")
            lines.extend(f"    {e.key}: {e.reason}" for e in self.previously_quarantined[:20])
        if self.error:
            lines.append(f"  FAILED: {self.error}")
        lines.append(f"  exit code {self.exit_code} ({_EXIT_MEANING[self.exit_code]})")
        return "\n".join(lines)


_EXIT_MEANING = {EXIT_OK: "all loaded", EXIT_QUARANTINED: "loaded with quarantines", EXIT_FAILED: "failed"}


def new_batch_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"


def connect_warehouse(settings: Settings, config: LoaderConfig) -> Warehouse:
    if config.target == "redshift":
        from loaders.warehouse.redshift import RedshiftConfig, RedshiftWarehouse

        return RedshiftWarehouse.from_config(RedshiftConfig.from_env(config.env), lock_wait_s=config.lock_wait_s)
    from loaders.warehouse.postgres import PostgresWarehouse

    return PostgresWarehouse(settings, lock_wait_s=config.lock_wait_s, connect_attempts=config.connect_attempts)


def load(
    settings: Settings,
    landing: str | LandingZone | None = None,
    *,
    sources: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: bool = False,
    retry_quarantined: bool = False,
    keys: Sequence[str] | None = None,
    keys_from_events: bool = False,
    warehouse: Warehouse | None = None,
    config: LoaderConfig | None = None,
    crash_at: str | None = None,
    step_hook: Callable[[str], None] | None = None,
) -> LoadReport:
    """Load what is new in the landing zone into the raw tables; never raises for data or infrastructure
    problems (they are in the report and its exit code).

    `sources`: systems to load (azureware, salesforce, tms; default all). `keys`: load only these object
    keys: a key that names no object, or one outside the selected sources' prefixes, fails the run, unless
    `keys_from_events` (S3 events, the Lambda: such a key is logged and ignored). `crash_at`/`step_hook`: crash injection (loaders/crash.py; also UNIFY_LOAD_CRASH_AT).
    """
    started = time.monotonic()
    systems = tuple(sources) if sources else SYSTEMS
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}: choose from {', '.join(SYSTEMS)}")
    landing_url = landing if isinstance(landing, str) else getattr(landing, "url", None) or settings.landing
    report = LoadReport(landing=str(landing_url), target="?", dry_run=dry_run)
    own_warehouse = warehouse is None
    try:
        config = config or LoaderConfig.from_env()
        try:
            plan = CrashPlan.parse(crash_at, os.environ.get("UNIFY_LOAD_CRASH_MODE", "kill")) if crash_at \
                else CrashPlan.from_env(os.environ)
        except ValueError as err:
            raise LoadFailure(f"crash injection: {err}") from None
        checkpoints = Checkpoints(plan, step_hook)
        zone = landing if landing is not None and not isinstance(landing, str) else open_landing(landing_url)
        report.landing = zone.url
        warehouse = warehouse or connect_warehouse(settings, config)
        report.target = f"{warehouse.target} {warehouse.describe()}"
        log_event(log, "load_started", landing=zone.url, target=report.target, sources=",".join(systems),
                  dry_run=dry_run or None, keys=len(keys) if keys else None)
        _run(zone, warehouse, config, systems, report, dry_run=dry_run, progress=progress,
             retry_quarantined=retry_quarantined, keys=keys, keys_from_events=keys_from_events,
             checkpoints=checkpoints)
    except (LoadError, LandingError) as err:
        report.error = str(err)
        log_event(log, "load_failed", logging.ERROR, error=str(err))
    finally:
        if own_warehouse and warehouse is not None:
            warehouse.close()
    report.seconds = time.monotonic() - started
    report.exit_code = EXIT_FAILED if report.error else (EXIT_QUARANTINED if report.quarantined else EXIT_OK)
    log_event(log, "load_finished", exit_code=report.exit_code, files=report.files, rows=report.rows,
              quarantined=len(report.quarantined), seconds=round(report.seconds, 3),
              rows_per_second=round(report.rows_per_second), dry_run=dry_run or None)
    return report


def _run(zone: LandingZone, warehouse: Warehouse, config: LoaderConfig, systems: Sequence[str], report: LoadReport,
         *, dry_run: bool, progress: bool, retry_quarantined: bool, keys: Sequence[str] | None,
         keys_from_events: bool, checkpoints: Checkpoints) -> None:
    # 1. discover
    zone.check()  # a mistyped folder, bucket or prefix is an error, never "nothing new"
    if keys is None:
        objects = _discover_all(zone, config.layout, systems, report)
    else:
        objects = _discover_keys(zone, config.layout, systems, keys, keys_from_events)
    report.seen = len(objects)
    identified: list[SourceFile] = []
    unknown: list[Quarantine] = []
    for obj in objects:
        if obj.problem and not obj.refused:  # a dangling link, a link to a folder: reported, left alone
            report.deferred.append(FileOutcome(obj.key, obj.etag, obj.size, None, DEFERRED, "", reason=obj.problem))
            log_event(log, "object_ignored", logging.WARNING, key=obj.key, reason=obj.problem)
            continue
        try:
            sf = readers.identify(obj, config.layout, systems)
        except QuarantineError as err:
            unknown.append(Quarantine(obj.key, obj.etag, obj.size, err.reason))
            continue
        if sf is not None and obj.refused:  # a link out of the landing zone: never read
            unknown.append(Quarantine(obj.key, obj.etag, obj.size, str(obj.problem)))
        elif sf is not None:
            identified.append(sf)
    tables = [t for t in ALL_TABLES if t.system in systems]
    if not dry_run:
        warehouse.setup(ALL_TABLES)  # every raw table exists after any load: dbt's sources always resolve
    entries = warehouse.ledger_entries([o.key for o in objects])
    plan = _Identities(zone, entries, retry_quarantined, report)
    new_files: list[SourceFile] = []
    duplicates: list[tuple[SourceTable, Quarantine]] = []
    for sf in identified:
        verdict, obj, seen = plan.decide(sf.obj)
        if verdict == "new":
            new_files.append(SourceFile(obj, sf.source, sf.table, sf.fmt))
        elif verdict == "duplicate":
            duplicates.append((sf.table, Quarantine(obj.key, obj.etag, obj.size,
                                                    f"the same bytes as loaded by batch {seen}",
                                                    checksum=obj.checksum or "", status=DUPLICATE,
                                                    known_batches=plan.known(obj.key))))
    by_key = {o.key: o for o in objects}
    new_unknown = []
    for q in unknown:
        # never read through a link out of the zone; a local file (no ETag) needs its checksum in the ledger
        # row, or the next run cannot tell that these bytes were quarantined before and records them again
        readable = not by_key[q.key].refused
        verdict, obj, _seen = plan.decide(by_key[q.key], read=readable, identify_new=readable)
        if verdict == "new":
            new_unknown.append(Quarantine(q.key, obj.etag or (obj.checksum or ""), q.size, q.reason, q.line,
                                          checksum=obj.checksum or "", known_batches=plan.known(q.key)))
    report.new = len(new_files) + len(new_unknown) + len(duplicates)
    log_event(log, "discovered", objects=report.seen, new=report.new, unknown=len(new_unknown),
              duplicates=len(duplicates) or None, previously_quarantined=len(report.previously_quarantined) or None)

    # a local file modified in the last quiet_s seconds may still be being written: load it last
    now = datetime.now(timezone.utc)
    may_be_writing = not (zone.atomic or dry_run or not config.quiet_s)
    ready, fresh = [], []
    for sf in new_files:
        still_written = may_be_writing and (now - sf.obj.last_modified).total_seconds() < config.quiet_s
        (fresh if still_written else ready).append(sf)

    # 2. plan, 3. load, 4. record
    from tqdm import tqdm

    total_bytes = sum(sf.obj.size for sf in new_files) + sum(q.size for q in new_unknown)
    with tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="load", file=sys.stderr,
              disable=not progress or None, dynamic_ncols=True, leave=False) as bar:
        def on_file(outcome: FileOutcome) -> None:
            if bar.disable:  # no progress bar (not asked for, or not a terminal): nothing to format per file
                return
            bar.update(outcome.size)
            if outcome.status == LOADED:
                bar.set_postfix(rows=f"{report.rows + outcome.rows:,}", refresh=False)

        if new_unknown:
            _load_batch(warehouse, Batch(new_batch_id(), None, (), tuple(new_unknown)), report, dry_run,
                        checkpoints, on_file)
        loading = _Loading(zone, warehouse, config, report, dry_run, checkpoints, on_file, plan)
        loading.tables(tables, ready, duplicates)
        if fresh:
            settled = _settle(zone, fresh, config.quiet_s, report)
            loading.tables(tables, settled, [])


class _Identities:
    """Which landed objects are new, by their content: the ledger rows of their keys, the ETag S3 listed,
    and, when those do not settle it, the content checksum (S3's full-object CRC-64/NVME, or computed by
    reading the object; for rows from before checksums, a local file's MD5)."""

    def __init__(self, zone: LandingZone, entries: dict[str, list[LedgerEntry]], retry_quarantined: bool,
                 report: LoadReport):
        self.zone, self.entries, self.retry, self.report = zone, entries, retry_quarantined, report

    def known(self, key: str) -> frozenset[str]:
        return frozenset(e.batch_id for e in self.entries.get(key, []))

    def decide(self, obj: LandedObject, read: bool = True,
               identify_new: bool = False) -> tuple[str, LandedObject, str | None]:
        """("new" | "done" | "duplicate" | "quarantined before" | "gone", the object with its checksum when it
        was needed, the batch that settled it). `identify_new`: an object with no ETag gets its checksum even
        when the ledger does not know its key (one that will be recorded without being loaded)."""
        got = self.entries.get(obj.key, [])
        if not got and not (identify_new and not obj.etag and not obj.checksum):
            return "new", obj, None
        if obj.etag and ledger.decided(got, obj.etag, None) is not None:
            return "done", obj, None  # the same S3 ETag: the same bytes
        md5 = None
        try:
            if read or obj.checksum:
                obj = replace(obj, checksum=obj.checksum or self.zone.checksum(obj.key))
            if read and any(not e.checksum for e in got) and hasattr(self.zone, "md5"):
                md5 = self.zone.md5(obj.key)  # rows from before checksums: a local file's ETag was its MD5
        except LandingNotFound:
            self.report.deferred.append(FileOutcome(obj.key, obj.etag, obj.size, None, DEFERRED, "",
                                                    reason="disappeared before it could be loaded"))
            log_event(log, "file_deferred", logging.WARNING, key=obj.key, reason="disappeared before it could be read")
            return "gone", obj, None
        done = ledger.decided(got, obj.etag, obj.checksum, md5)
        if done is not None:
            new_upload = bool(obj.etag) and done.etag != obj.etag and not ledger.decided(got, obj.etag, None)
            return ("duplicate" if new_upload else "done"), obj, done.batch_id
        before = ledger.quarantined_before(got, obj.etag, obj.checksum, md5)
        if before is not None and not self.retry:
            self.report.previously_quarantined.append(before)
            return "quarantined before", obj, before.batch_id
        return "new", obj, None


def _settle(zone: LandingZone, fresh: list[SourceFile], quiet_s: float, report: LoadReport) -> list[SourceFile]:
    """Wait until the freshest file has been quiet for `quiet_s`, then keep those whose size and modification
    time have not changed since discovery; the others are still being written and wait for the next run."""
    newest = max(sf.obj.last_modified for sf in fresh)
    wait = quiet_s - (datetime.now(timezone.utc) - newest).total_seconds()
    if wait > 0:
        log_event(log, "quiet_period_wait", files=len(fresh), seconds=round(wait, 2))
        time.sleep(wait)
    settled = []
    for sf in fresh:
        try:
            now = zone.stat(sf.key)
        except LandingNotFound:
            now = None
        if now is not None and (now.size, now.last_modified) == (sf.obj.size, sf.obj.last_modified):
            settled.append(sf)
            continue
        why = "disappeared before it could be loaded" if now is None else \
            "still being written (its size or modification time changed since discovery)"
        report.deferred.append(FileOutcome(sf.key, sf.obj.etag, sf.obj.size, sf.table.qualified_raw_name, DEFERRED,
                                           "", reason=why))
        log_event(log, "file_deferred", logging.WARNING, key=sf.key, reason=why)
    return settled


@dataclass
class _Loading:
    """Plans batches per raw table and hands them to the warehouse (one run may do it twice: the quiet
    period's files come last)."""

    zone: LandingZone
    warehouse: Warehouse
    config: LoaderConfig
    report: LoadReport
    dry_run: bool
    checkpoints: Checkpoints
    on_file: Callable[[FileOutcome], None]
    plan: _Identities

    def tables(self, tables: Sequence[SourceTable], files: list[SourceFile],
               duplicates: list[tuple[SourceTable, Quarantine]]) -> None:
        for table in tables:
            mine = sorted((sf for sf in files if sf.table is table), key=lambda sf: sf.key)
            same = tuple(d for t, d in duplicates if t is table)
            chunks = _chunks(mine, self.config.max_batch_files, self.config.max_batch_bytes) or ([[]] if same else [])
            for i, chunk in enumerate(chunks):
                batch_id = new_batch_id()
                columns = dict(self.warehouse.table_columns(table)) or dict(contract_types(table))
                loads, quarantines = _prepare(self.zone, chunk, columns, self.plan, self.report)
                batch = Batch(batch_id, table, tuple(loads), tuple(quarantines) + (same if i == 0 else ()))
                _load_batch(self.warehouse, batch, self.report, self.dry_run, self.checkpoints, self.on_file)


def _discover_all(zone: LandingZone, layout: Layout, systems: Sequence[str], report: LoadReport) -> list[LandedObject]:
    """Every object under the selected sources' prefixes. A zone that has none of those prefixes (a mistyped
    --landing, a folder one level too deep or too shallow) fails the run: loading "nothing" from it would
    look fine. A prefix that exists but holds nothing new is a quiet source; one selected source whose
    prefix is absent while others are there is reported (`absent_prefixes`), and the run goes on."""
    found: list[LandedObject] = []
    absent: list[str] = []
    for system in systems:
        prefix = layout.prefix(system)
        listed = list(zone.list(prefix))
        if not listed and not zone.has_prefix(prefix):
            absent.append(prefix)
        found.extend(listed)
    if absent and len(absent) == len(systems):
        expected = ", ".join(absent)
        which = "the sources' prefixes" if len(systems) > 1 else f"the prefix of source {systems[0]}"
        raise LandingNotFound(f"landing zone {zone.url} holds none of {which} ({expected}): check --landing or "
                              "UNIFY_LANDING (a folder one level too deep or too shallow?)"
                              + ("" if set(systems) == set(SYSTEMS) else " and --source"))
    for prefix in absent:
        report.absent_prefixes.append(prefix)
        log_event(log, "source_prefix_absent", logging.WARNING, landing=zone.url, prefix=prefix)
    return found


def _discover_keys(zone: LandingZone, layout: Layout, systems: Sequence[str], keys: Sequence[str],
                   from_events: bool) -> list[LandedObject]:
    """The objects the keys name. A key given by hand (--key) that names no object, or lies outside the
    selected sources' prefixes, fails the run with the key; one from an S3 event is logged and ignored (the
    object may be gone since, and events also announce the loader's own manifests)."""
    found = []
    for key in dict.fromkeys(keys):
        system = layout.system_of(key)
        if system is None or system not in systems:
            reason = "outside the selected sources' prefixes (" + ", ".join(layout.prefix(s) for s in systems) + ")"
            if not from_events:
                raise LoadFailure(f"key {key}: {reason}")
            log_event(log, "key_ignored", key=key, reason=reason)
            continue
        try:
            found.append(zone.stat(key))
        except LandingNotFound as err:  # an event for an object that is gone: nothing to load
            if not from_events:
                raise LandingNotFound(f"key {key}: no such object in the landing zone {zone.url}") from err
            log_event(log, "key_ignored", logging.WARNING, key=key, reason="no such object in the landing zone")
    return found


def _chunks(files: list[SourceFile], max_files: int, max_bytes: int) -> list[list[SourceFile]]:
    chunks: list[list[SourceFile]] = []
    current: list[SourceFile] = []
    size = 0
    for sf in files:
        if current and (len(current) >= max_files or size + sf.obj.size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(sf)
        size += sf.obj.size
    if current:
        chunks.append(current)
    return chunks


def _prepare(zone: LandingZone, files: list[SourceFile], columns: dict[str, str], plan: _Identities | None = None,
             report: LoadReport | None = None) -> tuple[list[FileLoad], list[Quarantine]]:
    loads: list[FileLoad] = []
    quarantines: list[Quarantine] = []
    # thousands of files share a few headers: each is checked once, and what follows from it is worked out once
    plans: dict[tuple, tuple[SchemaPlan, frozenset[str], tuple[str, ...]]] = {}
    report = report or LoadReport(zone.url, "?")
    for sf in files:
        obj = sf.obj
        known = plan.known(obj.key) if plan is not None else frozenset()
        try:
            info = readers.inspect(zone, sf)
            if info.file_format.records_end_with_newline:
                check_last_line_break(zone, obj.key, obj.size)
            shape = (sf.table.qualified_raw_name, info.names, info.arrow_types, info.empty)
            if shape not in plans:  # which of its columns may widen, which take the NULL marker as text
                checked = check_schema(obj.key, sf.table, info, columns)
                plans[shape] = (checked, evolution.widenable_columns(sf.table, [c.raw_name for c in checked.columns]),
                                literal_null_columns(sf.table, info.file_format, checked.columns))
            schema, widenable, literal_nulls = plans[shape]
        except QuarantineError as err:
            try:
                checksum = obj.checksum or zone.checksum(obj.key)
            except LandingNotFound:
                checksum = ""
            quarantines.append(Quarantine(obj.key, obj.etag or checksum, obj.size, err.reason, err.line,
                                          checksum=checksum, known_batches=known))
            continue
        except LandingNotFound:  # gone between discovery and now: the run goes on without it
            report.deferred.append(FileOutcome(obj.key, obj.etag, obj.size, sf.table.qualified_raw_name, DEFERRED,
                                               "", reason="disappeared before it could be loaded"))
            log_event(log, "file_deferred", logging.WARNING, key=obj.key, reason="disappeared before it could be read")
            continue
        if schema.missing and not info.empty:
            log_event(log, "columns_missing", logging.WARNING, key=obj.key, table=sf.table.qualified_raw_name,
                      columns=",".join(schema.missing))
        open_raw = diagnose = None
        if info.file_format.kind == "csv" and not info.empty:
            open_raw = functools.partial(zone.open, obj.key)  # streamed as landed; checksummed on the way
            diagnose = functools.partial(csv_structure_problem, zone, obj.key, len(info.names))
        unchanged = None if zone.atomic else functools.partial(_unchanged, zone, obj)
        loads.append(FileLoad(obj.key, obj.etag, obj.size, zone.uri(obj.key), schema.columns, info.file_format,
                              functools.partial(readers.record_batches, zone, sf, info), schema.added, open_raw,
                              obj.checksum or "", functools.partial(zone.checksum, obj.key), diagnose, widenable,
                              known, unchanged, literal_nulls))
    return loads, quarantines


def _unchanged(zone: LandingZone, obj: LandedObject) -> bool:
    try:
        now = zone.stat(obj.key)
    except LandingNotFound:
        return False
    return (now.size, now.last_modified) == (obj.size, obj.last_modified)


def _load_batch(warehouse: Warehouse, batch: Batch, report: LoadReport, dry_run: bool, checkpoints: Checkpoints,
                on_file: Callable[[FileOutcome], None]) -> None:
    name = batch.table.qualified_raw_name if batch.table else "(no table)"
    log_event(log, "batch_started", batch_id=batch.batch_id, table=name, files=len(batch.files),
              quarantines=len(batch.quarantines) or None, dry_run=dry_run or None)
    outcomes = _dry_run(batch, on_file) if dry_run else warehouse.load_batch(batch, checkpoints, on_file)
    report.batches.append(batch.batch_id)
    loaded = quarantined = rows = 0
    for o in outcomes:
        if o.status == SKIPPED:
            report.skipped += 1
            continue
        if o.status == DEFERRED:
            report.deferred.append(o)
            continue
        if o.status == DUPLICATE:
            report.duplicates.append(o)
            continue
        summary = report.table(o.raw_table or "(no table)")
        if o.status == LOADED:
            summary.files += 1
            summary.rows += o.rows
            report.files += 1
            report.rows += o.rows
            loaded += 1
            rows += o.rows
            for column in o.added_columns:
                summary.added_columns.append(column)
                added_type = dict(next(f.added_columns for f in batch.files if f.key == o.key)).get(column)
                report.drift.append({"change": "added", "table": o.raw_table, "column": column, "type": added_type,
                                     "from": None, "key": o.key})
            for change in o.widened:
                column, _, types = change.partition(" ")
                old, _, new = types.partition("->")
                summary.widened_columns.append(column)
                report.drift.append({"change": "widened", "table": o.raw_table, "column": column, "type": new,
                                     "from": old, "key": o.key})
        elif o.status == QUARANTINED:
            summary.quarantined += 1
            report.quarantined.append(o)
            quarantined += 1
            if dry_run:
                log_event(log, "file_quarantined", logging.WARNING, batch_id=batch.batch_id, key=o.key,
                          table=o.raw_table, reason=o.reason, line=o.line, dry_run=True)
    for q in batch.quarantines:
        if not dry_run and q.status == QUARANTINED:
            log_event(log, "file_quarantined", logging.WARNING, batch_id=batch.batch_id, key=q.key, table=name,
                      reason=q.reason, line=q.line)
    log_event(log, "batch_dry_run" if dry_run else "batch_committed", batch_id=batch.batch_id, table=name,
              files=loaded, rows=rows, quarantined=quarantined,
              skipped=sum(o.status == SKIPPED for o in outcomes) or None)


def _dry_run(batch: Batch, on_file: Callable[[FileOutcome], None]) -> list[FileOutcome]:
    """Read every file through its reader (parse errors surface) without writing anything."""
    raw_table = batch.table.qualified_raw_name if batch.table else None
    outcomes = []
    for f in batch.files:
        try:
            rows = sum(b.num_rows for b in f.record_batches()) if f.columns else 0
            outcome = FileOutcome(f.key, f.etag, f.size, raw_table, LOADED, batch.batch_id, rows=rows,
                                  added_columns=tuple(name for name, _ in f.added_columns))
        except QuarantineError as err:
            outcome = FileOutcome(f.key, f.etag, f.size, raw_table, QUARANTINED, batch.batch_id,
                                  reason=err.reason, line=err.line)
        outcomes.append(outcome)
        on_file(outcome)
    for q in batch.quarantines:
        outcome = FileOutcome(q.key, q.etag, q.size, raw_table, q.status, batch.batch_id, reason=q.reason,
                              line=q.line)
        outcomes.append(outcome)
        on_file(outcome)
    return outcomes
