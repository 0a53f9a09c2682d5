"""AWS DMS writing the WMS to S3: the full load at task start, then one CDC file per table per interval.

GLC's endpoint: BucketFolder dms/azureware, schema dbo, AddColumnName (header row),
IncludeOpForFullLoad (Op first on every row), TimestampColumnName=dms_commit_ts (task start time on
full-load rows), add-column dms_change_seq = $AR_H_CHANGE_SEQ (last column; empty on full load),
NULL written as NULL, RFC 4180 quoting. Full-load files LOAD00000001.. count in hexadecimal; CDC files
are named by the time they were written. Changes get their sequence number in commit order, so
dms_change_seq is strictly increasing in change order even where commit times tie.

The DMS-side faults live here: duplicated records, re-delivered files, records landing in a later
file, the late Orders inserts and held-back orders of the orphans fault, truncated and corrupt files.
"""

from __future__ import annotations

import random

from unify.simulate import reference as ref
from unify.simulate.encode import (US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND, ColumnSpec, DmsEncoder,
                                     change_seq, day_start_us, dms_file_stamp, table_columns)
from unify.simulate.state import World
from unify.simulate.wms import Faults, inventory_changes
from loaders.source_tables import AZUREWARE

PREFIX = "dms/azureware/dbo"
TABLE_ORDER = tuple(t.name for t in AZUREWARE)
ENCODERS = {t.name: DmsEncoder(table_columns(t)) for t in AZUREWARE}
ADDED_COLUMN = ColumnSpec("SalesChannel", "str")
ORDERS_WITH_ADDED_COLUMN = DmsEncoder((*table_columns(next(t for t in AZUREWARE if t.name == "Orders")),
                                       ADDED_COLUMN))
OUT_OF_ORDER_TABLES = ("OrderLines", "InventoryBalances", "Products")
REDELIVERY_PREFERENCE = ("Orders", "OrderLines", "InventoryBalances", "Products")


def dms_key(table: str, name: str) -> str:
    return f"{PREFIX}/{table}/{name}"


class DmsWriter:
    """Turns the world's committed changes into DMS files; one instance per simulated day."""

    def __init__(self, world: World, out, files_rng: random.Random, faults: Faults, interval_us: int):
        self.world = world
        self.out = out
        self.rng = files_rng  # file names and write latency: kept apart from data draws
        self.faults = faults
        self.interval = interval_us
        self.ext = "parquet" if world.params.fmt == "parquet" else "csv"
        intervals = 86_400 * US_PER_SECOND // interval_us
        frng = faults.rng
        self.plan = {f: frng.randrange(intervals) for f in ("redelivered_file", "truncated_file", "corrupt_file")
                     if world.params.has(f)}

    # --- encoding and naming ----------------------------------------------------------------------

    def _encode(self, table: str, records: list, t_file: int) -> bytes:
        added_at = self.world.params.added_column_at
        encoder = ORDERS_WITH_ADDED_COLUMN if table == "Orders" and added_at is not None and t_file >= added_at \
            else ENCODERS[table]
        return encoder.parquet(records) if self.ext == "parquet" else encoder.csv(records)

    def _name(self, table: str, t_file: int) -> str:
        recent = self.world.dms_recent_names.setdefault(table, [])
        digits = 4 if self.rng.random() < 0.25 else 3
        while True:
            name = f"{dms_file_stamp(t_file, digits)}.{self.ext}"
            if name not in recent:
                break
            t_file += 1000  # one millisecond later
        recent.append(name)
        del recent[:-8]
        return name

    # --- full load --------------------------------------------------------------------------------

    def full_load(self, day_start: int) -> None:
        """The task's full load: every table that has rows, at the task start time."""
        task_start = day_start + 3 * US_PER_SECOND + self.rng.randrange(US_PER_SECOND)
        w = self.world
        tables = {
            "Warehouses": [(x.warehouse_id, x.code, x.name, x.city, x.country, x.time_zone, x.opened.toordinal(),
                            day_start_us(x.opened) + 9 * US_PER_HOUR) for x in ref.WAREHOUSES],
            "Clients": [(c.client_id, c.code, c.name, True, c.modified) for c in w.clients.values()],
            "Products": [tuple(p) for p in w.products.values()],
            "InventoryBalances": [(k[0], k[1], v[0], v[1], v[2]) for k, v in w.inventory.items()],
        }
        size = w.params.band.load_file_rows
        for table in TABLE_ORDER:
            rows = tables.get(table)
            if not rows:
                continue  # DMS creates a table's folder only once it has rows
            for number, first in enumerate(range(0, len(rows), size), start=1):
                records = [("I", task_start, "", values) for values in rows[first:first + size]]
                key = dms_key(table, f"LOAD{number:08X}.{self.ext}")
                self.out.write(key, self._encode(table, records, task_start), table, len(records))

    # --- CDC --------------------------------------------------------------------------------------

    def flush(self, index: int, t_end: int) -> None:
        """Write the interval ending at t_end: one file per table with changes."""
        w = self.world
        inventory_changes(w)
        changes, w.changes = w.changes, []
        changes.sort(key=lambda c: c[0])  # commit order (stable: a transaction keeps its statement order)
        files: dict[str, list] = {}
        may_hold = bool(w.holds or w.late_inserts or w.params.has("out_of_order"))
        seq = w.counters["seq"]
        for commit, table, op, values, oid in changes:
            seq += 1
            record = (op, commit, change_seq(commit, seq), values)
            hold = may_hold and self._hold_until(t_end, table, op, oid)
            if hold:
                w.held.append([hold, table, *record])
            else:
                files.setdefault(table, []).append(record)
        w.counters["seq"] = seq
        if w.held:
            self._release_held(t_end, files)
        if w.holds:
            for oid in [oid for oid, until in w.holds.items() if until <= t_end]:
                del w.holds[oid]
        for table in TABLE_ORDER:
            if table in files:
                self._write_file(index, table, files[table], t_end)
        planned = self.plan.get("redelivered_file")
        if planned is not None and planned <= index and self._redeliver(t_end):
            del self.plan["redelivered_file"]

    def _hold_until(self, t_end: int, table: str, op: str, oid: int) -> int:
        w = self.world
        if oid:
            until = w.holds.get(oid)
            if until and until > t_end:
                return until
            if op == "I" and oid in w.late_inserts:
                return t_end + w.late_inserts.pop(oid) * self.interval
            return 0
        if table in OUT_OF_ORDER_TABLES and self.faults.pick("out_of_order", 0.002):
            return t_end + self.faults.rng.randint(1, 3) * self.interval
        return 0

    def _release_held(self, t_end: int, files: dict[str, list]) -> None:
        keep = []
        released = set()
        for item in self.world.held:
            if item[0] <= t_end:
                files.setdefault(item[1], []).append(tuple(item[2:]))
                released.add(item[1])
            else:
                keep.append(item)
        self.world.held = keep
        for table in released:
            files[table].sort(key=lambda r: r[2])  # a late record sits in seq order within its file

    def _write_file(self, index: int, table: str, records: list, t_end: int) -> None:
        faults = self.faults
        if faults.params.has("duplicate_records"):
            for position in range(len(records) - 1, -1, -1):
                if faults.pick("duplicate_records", 0.003):
                    records.insert(faults.rng.randint(position + 1, len(records)), records[position])
        t_file = t_end + self.rng.randint(1, 25) * US_PER_SECOND + self.rng.randrange(US_PER_SECOND)
        data = self._encode(table, records, t_file)
        broken = None
        if table == "OrderLines" and self.plan.get("truncated_file", 1 << 30) <= index:
            broken = self._truncate(data)
            del self.plan["truncated_file"]
        elif table == "InventoryBalances" and self.plan.get("corrupt_file", 1 << 30) <= index:
            broken = self._corrupt(data)
            del self.plan["corrupt_file"]
        if broken is not None:
            self.out.write(dms_key(table, self._name(table, t_file)), broken, None, 0)
            t_file += 45 * US_PER_SECOND  # the task restarts and sends the batch again, complete
        key = dms_key(table, self._name(table, t_file))
        self.out.write(key, data, table, len(records))
        self.world.dms_last_key[table] = [key, len(records)]

    def _truncate(self, data: bytes) -> bytes:
        if self.ext == "parquet":
            return data[: len(data) // 2]  # no footer: unreadable
        starts = [i + 1 for i, b in enumerate(data[:-1]) if b == 0x0A]  # starts of lines after the header
        line_start = starts[self.faults.rng.randrange(len(starts))] if starts else 0
        line_end = data.find(b"\n", line_start)
        return data[: line_start + max(1, (line_end - line_start) // 2)]  # cut mid-record

    def _corrupt(self, data: bytes) -> bytes:
        if self.ext == "parquet":
            return data[:-8] + b"\x00\xffGARB"  # footer length and magic overwritten
        block = bytes(self.faults.rng.choice((0x00, 0xFF, 0xFE, 0xC3, 0x80)) for _ in range(min(32, len(data) // 3)))
        middle = len(data) // 2
        return data[:middle] + block + data[middle + len(block):]

    def _redeliver(self, t_end: int) -> bool:
        """A task restart re-sends the last file of a busy table: same bytes, new time-named key."""
        for table in REDELIVERY_PREFERENCE:
            last = self.world.dms_last_key.get(table)
            if last:
                key, rows = last
                data = self.out.read(key)
                t_file = t_end + self.rng.randint(30, 50) * US_PER_SECOND
                self.out.write(dms_key(table, self._name(table, t_file)), data, table, rows)
                return True
        return False


def interval_us(world: World) -> int:
    return world.params.band.cdc_interval_minutes * US_PER_MINUTE
