"""Each fault appears when asked and only then; unloadable files never take good data down with them.

Every fault has a detector written from the files alone (what a loader or data test would see).
The matrix test simulates each fault on its own and checks that exactly its detector fires.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from _simfiles import DmsFile, read_appflow, read_dms, read_tms

from loaders.landing import open_landing
from unify.simulate import FAULTS, simulate
from loaders.source_tables import get_table

START = date(2026, 11, 1)


def file_time(f: DmsFile) -> datetime:
    stem = f.name.split(".")[0]
    return datetime.strptime(stem[:15], "%Y%m%d-%H%M%S") + timedelta(seconds=float("0." + stem[15:]))


def readable_cdc(files: list[DmsFile]) -> list[DmsFile]:
    """Readable CDC files in time order, byte-identical re-deliveries dropped (first copy kept)."""
    seen, out = set(), []
    for f in sorted((f for f in files if not f.is_load and not f.error), key=file_time):
        if f.data not in seen:
            seen.add(f.data)
            out.append(f)
    return out


class Detect:
    """Fault detectors over one landing folder."""

    def __init__(self, root: Path, writes: list[str]):
        self.root = root
        self.dms = read_dms(root)
        self.appflow = read_appflow(root)
        self.tms = read_tms(root)
        self.writes = writes

    def all(self) -> set[str]:
        return {name for name in FAULTS if getattr(self, name)()}

    def duplicate_records(self) -> bool:
        return any(len({r["dms_change_seq"] for r in f.rows}) < len(f.rows)
                   for files in self.dms.values() for f in files if not f.is_load and not f.error)

    def redelivered_file(self) -> bool:
        datas = [f.data for files in self.dms.values() for f in files]
        same_key_twice = any(self.writes.count(k) > 1 for k in set(self.writes) if k.startswith("tms/"))
        return len(set(datas)) < len(datas) or same_key_twice

    def out_of_order(self) -> bool:
        for table in ("OrderLines", "InventoryBalances", "Products"):
            newest = ""
            for f in readable_cdc(self.dms.get(table, [])):
                if f.rows and min(r["dms_change_seq"] for r in f.rows) < newest:
                    return True
                newest = max([newest, *(r["dms_change_seq"] for r in f.rows)])
        return False

    def deletes(self) -> bool:
        dms_deletes = any(r["Op"] == "D" for files in self.dms.values() for f in files for r in f.rows)
        sf_deletes = any(r.get("IsDeleted") is True for ex in self.appflow.values() for parts in ex.values()
                         for p in parts for r in p.records)
        return dms_deletes or sf_deletes

    def added_column(self) -> bool:
        contract = ["Op", "dms_commit_ts", *(c.name for c in get_table("azureware", "Orders").columns),
                    "dms_change_seq"]
        return any(f.header != contract for f in self.dms.get("Orders", []) if not f.error)

    def _unreadable(self) -> list[tuple[DmsFile, list[DmsFile]]]:
        return [(f, files) for files in self.dms.values() for f in files if f.error]

    def truncated_file(self) -> bool:
        return any(any(g is not f and len(g.data) > len(f.data) and g.data.startswith(f.data) for g in files)
                   for f, files in self._unreadable())

    def corrupt_file(self) -> bool:
        return any(not any(g is not f and g.data.startswith(f.data) for g in files)
                   for f, files in self._unreadable())

    def malformed_json(self) -> bool:
        return any(p.bad_lines for ex in self.appflow.values() for parts in ex.values() for p in parts)

    def _first_file_of_order_insert(self) -> dict[str, datetime]:
        first: dict[str, datetime] = {}
        for f in readable_cdc(self.dms.get("Orders", [])):
            for r in f.rows:
                if r["Op"] == "I":
                    first.setdefault(str(r["OrderId"]), file_time(f))
        return first

    def orphans(self) -> bool:
        order_arrives = self._first_file_of_order_insert()
        line_first_order_late = False
        for f in readable_cdc(self.dms.get("OrderLines", [])):
            for r in f.rows:  # a line landing well before its order (files of one interval differ by seconds)
                arrives = order_arrives.get(str(r["OrderId"]))
                if r["Op"] == "I" and arrives and arrives - file_time(f) > timedelta(minutes=5):
                    line_first_order_late = True
        numbers = {}
        for f in readable_cdc(self.dms.get("Orders", [])):
            for r in f.rows:
                numbers.setdefault(r["OrderNumber"], file_time(f))
        shipment_first = False
        for day, rows in sorted(self.tms.get("shipments", {}).items()):
            extract_end = datetime.fromisoformat(day) + timedelta(days=1)
            for row in rows:  # the shipment is extracted before its order reached S3
                arrives = numbers.get(row["order_number"])
                if arrives is None or arrives > extract_end:
                    shipment_first = True
        return line_first_order_late or shipment_first

    def late_shipments(self) -> bool:
        seen: set[str] = set()
        for day, rows in sorted(self.tms.get("shipments", {}).items()):
            for row in rows:
                if row["shipment_id"] not in seen:
                    seen.add(row["shipment_id"])
                    if date.fromisoformat(day) - date.fromisoformat(row["shipped_at"][:10]) >= timedelta(days=2):
                        return True
        return False


class RecordingLanding:
    """A local landing zone that remembers every key written (to see same-key re-deliveries)."""

    def __init__(self, root: Path):
        self.inner = open_landing(str(root))
        self.url = self.inner.url
        self.writes: list[str] = []

    def write(self, key, data):
        self.writes.append(key)
        self.inner.write(key, data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def run(root: Path, faults: list[str], days: int = 3, fmt: str = "csv") -> Detect:
    landing = RecordingLanding(root)
    simulate(landing, days=days, start=START, faults=faults, fmt=fmt)
    return Detect(root, landing.writes)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_no_faults_unless_asked(tmp_path, fmt):
    assert run(tmp_path, [], fmt=fmt).all() == set()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_all_faults(tmp_path, fmt):
    assert run(tmp_path, ["all"], fmt=fmt).all() == set(FAULTS)


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_alone(tmp_path, fault):
    days = 4 if fault == "late_shipments" else 2  # a late shipment surfaces 2-3 days after it shipped
    assert run(tmp_path, [fault], days=days).all() == {fault}


def test_unloadable_files_leave_the_rest_whole(all_faults_csv):
    """Broken files are extras: their data also lands intact, and every other file stays readable."""
    root = all_faults_csv.root
    dms = read_dms(root)
    broken = [(f, files) for files in dms.values() for f in files if f.error]
    assert {f.table for f, _ in broken} == {"OrderLines", "InventoryBalances"}
    for f, files in broken:
        intact = [g for g in files if not g.error and not g.is_load and len(g.data) >= len(f.data)
                  and timedelta(0) < file_time(g) - file_time(f) <= timedelta(minutes=2)]
        assert intact, f"{f.key}: no complete re-send"
        g = intact[0]
        if len(g.data) == len(f.data):  # corrupt: the same bytes except one small block
            diff = [i for i in range(len(f.data)) if f.data[i] != g.data[i]]
            assert diff and diff[-1] - diff[0] < 64
        else:  # truncated: a prefix of the complete file
            assert g.data.startswith(f.data)
    appflow = read_appflow(root)
    for flow, executions in appflow.items():
        good_ids = {r["Id"] for parts in executions.values() for p in parts if not p.bad_lines for r in p.records}
        for parts in executions.values():
            for p in parts:
                if p.bad_lines:
                    ids = set(re.findall(r'"Id":"(\w{18})"', p.data.decode("utf-8")))
                    assert ids and ids <= good_ids, f"{p.key}: its records are delivered intact by the retry"


def test_added_column_shows_in_header_from_noon(all_faults_csv):
    files = [f for f in read_dms(all_faults_csv.root)["Orders"] if not f.error]
    with_column = [f for f in files if "SalesChannel" in f.header]
    assert with_column and len(with_column) < len(files)
    noon = datetime(2026, 11, 1, 12)
    assert all(file_time(f) >= noon for f in with_column)
    assert all(file_time(f) < noon for f in files if f not in with_column)
    for f in with_column:
        assert f.header[-2:] == ["SalesChannel", "dms_change_seq"]
        assert {r["SalesChannel"] for r in f.rows} <= {"WEB", "EDI", "MARKETPLACE", "API", "NULL"}


def test_deleted_rows_are_the_row_before_the_delete(all_faults_csv):
    dms = read_dms(all_faults_csv.root)
    orders = [r for f in dms["Orders"] if not f.error for r in f.rows]
    deleted = [r for r in orders if r["Op"] == "D"]
    assert deleted
    for d in deleted:
        versions = {r["dms_change_seq"]: r for r in orders if r["OrderId"] == d["OrderId"]}  # duplicates once
        history = [versions[seq] for seq in sorted(versions)]
        assert history[-1]["Op"] == "D" and history[-2]["Op"] != "D"
        before = {k: v for k, v in history[-2].items() if k not in ("Op", "dms_commit_ts", "dms_change_seq")}
        after = {k: v for k, v in d.items() if k not in ("Op", "dms_commit_ts", "dms_change_seq")}
        assert before == after
    lines = [r for f in dms["OrderLines"] if not f.error for r in f.rows if r["Op"] == "D"]
    assert {r["OrderId"] for r in lines} == {d["OrderId"] for d in deleted}
    sf_deleted = [r for ex in read_appflow(all_faults_csv.root).values() for parts in ex.values()
                  for p in parts for r in p.records if r["IsDeleted"] is True]
    assert sf_deleted
