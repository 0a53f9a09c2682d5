"""Independent readers of a landing zone for the simulator tests: csv, json and pyarrow only.

Nothing here imports the simulator's writers; these readers follow SOURCE_FORMATS.md, as a loader
would, so the tests check the files against the documented formats rather than against the code.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq

DMS_PREFIX = "dms/azureware/dbo/"


@dataclass
class DmsFile:
    table: str
    name: str
    key: str
    data: bytes
    header: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    error: str | None = None  # why the file cannot be read (truncated, corrupt, ...)

    @property
    def is_load(self) -> bool:
        return self.name.startswith("LOAD")

    @property
    def file_time(self) -> str:
        """CDC file names are times: YYYYMMDD-HHMMSS + 3 or 4 fraction digits; compare as a time."""
        stem = self.name.split(".")[0]
        day, _, clock = stem.partition("-")
        return f"{day}{clock[:6]}.{clock[6:]:0<4}"


def read_csv_strict(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and records of an RFC 4180 file; raises ValueError when the file is not well formed."""
    text = data.decode("utf-8")  # strict: invalid bytes raise
    if "\x00" in text:
        raise ValueError("NUL byte in file")
    if text and not text.endswith("\n"):
        raise ValueError("file does not end with a line break (truncated)")
    records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if not records:
        raise ValueError("empty file")
    header, rows = records[0], records[1:]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"record {number} has {len(row)} fields, header has {len(header)}")
    return header, rows


def read_dms_file(table: str, name: str, key: str, data: bytes) -> DmsFile:
    f = DmsFile(table, name, key, data)
    try:
        if name.endswith(".parquet"):
            t = pq.read_table(io.BytesIO(data))
            f.header = t.column_names
            f.rows = t.to_pylist()
        else:
            f.header, records = read_csv_strict(data)
            f.rows = [dict(zip(f.header, r)) for r in records]
    except Exception as err:  # noqa: BLE001 - any failure means "unreadable", which is what we record
        f.error = f"{type(err).__name__}: {err}"
    return f


def read_dms(root: Path) -> dict[str, list[DmsFile]]:
    tables: dict[str, list[DmsFile]] = {}
    base = root / DMS_PREFIX
    if not base.exists():
        return tables
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        files = [read_dms_file(folder.name, p.name, str(p.relative_to(root)), p.read_bytes())
                 for p in sorted(folder.iterdir())]
        tables[folder.name] = files
    return tables


def seq_key(row: dict) -> str:
    """dms_change_seq orders changes; full-load rows (empty) come first."""
    return row.get("dms_change_seq") or ""


def latest_versions(files: list[DmsFile], key_columns: tuple[str, ...]) -> dict[tuple, dict]:
    """The newest version of each row by dms_change_seq, over every readable file."""
    latest: dict[tuple, dict] = {}
    for f in files:
        if f.error:
            continue
        for row in f.rows:
            k = tuple(str(row[c]) for c in key_columns)
            if k not in latest or seq_key(row) >= seq_key(latest[k]):
                latest[k] = row
    return latest


@dataclass
class AppFlowPart:
    flow: str
    execution: str
    name: str
    key: str
    data: bytes
    records: list[dict] = field(default_factory=list)
    bad_lines: int = 0


def read_appflow(root: Path) -> dict[str, dict[str, list[AppFlowPart]]]:
    """flow -> execution id -> parts; JSON Lines parsed line by line (Parquet with pyarrow)."""
    flows: dict[str, dict[str, list[AppFlowPart]]] = {}
    base = root / "appflow" / "salesforce"
    if not base.exists():
        return flows
    for flow_dir in sorted(base.iterdir()):
        for exec_dir in sorted(flow_dir.iterdir()):
            for part in sorted(exec_dir.iterdir()):
                p = AppFlowPart(flow_dir.name, exec_dir.name, part.name, str(part.relative_to(root)), part.read_bytes())
                if p.data[:4] == b"PAR1":
                    try:
                        p.records = pq.read_table(io.BytesIO(p.data)).to_pylist()
                    except Exception:  # noqa: BLE001
                        p.bad_lines = 1
                else:
                    for line in p.data.decode("utf-8").splitlines():
                        try:
                            p.records.append(json.loads(line))
                        except json.JSONDecodeError:
                            p.bad_lines += 1
                flows.setdefault(flow_dir.name, {}).setdefault(exec_dir.name, []).append(p)
    return flows


def read_tms(root: Path) -> dict[str, dict[str, list[dict]]]:
    """extract -> dt -> rows (empty fields as None)."""
    out: dict[str, dict[str, list[dict]]] = {}
    base = root / "tms"
    if not base.exists():
        return out
    for extract in sorted(base.iterdir()):
        for part in sorted(extract.iterdir()):
            files = list(part.iterdir())
            assert len(files) == 1, files
            header, rows = read_csv_strict(files[0].read_bytes())
            out.setdefault(extract.name, {})[part.name[3:]] = [
                {h: (v if v != "" else None) for h, v in zip(header, r)} for r in rows]
    return out


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def otif_by_client(root: Path, as_of: date) -> dict[str, tuple[int, int]]:
    """DOMAIN.md's OTIF per ClientId: (orders due, orders on time and in full), from the files alone."""
    dms = read_dms(root)
    orders = latest_versions(dms["Orders"], ("OrderId",))
    lines = latest_versions(dms["OrderLines"], ("OrderLineId",))
    in_full: dict[str, bool] = {}
    for row in lines.values():
        if row["Op"] == "D":
            continue
        ok = int(row["QtyShipped"]) >= int(row["QtyOrdered"])
        in_full[str(row["OrderId"])] = in_full.get(str(row["OrderId"]), True) and ok
    shipments: dict[str, dict] = {}
    for day, rows in sorted(read_tms(root).get("shipments", {}).items()):
        for row in rows:
            old = shipments.get(row["shipment_id"])
            if old is None or row["updated_at"] >= old["updated_at"]:
                shipments[row["shipment_id"]] = row
    whens: dict[str, list[date | None]] = {}
    for row in shipments.values():
        when = parse_ts(row["delivered_at"]).date() if row["delivered_at"] else None
        whens.setdefault(row["order_number"], []).append(when)
    # delivered date: the latest delivery of the order's shipments; undelivered while any is undelivered
    delivered = {n: None if None in ds else max(ds) for n, ds in whens.items()}
    result: dict[str, tuple[int, int]] = {}
    for row in orders.values():
        if row["Op"] == "D" or row["Status"] == "CANCELLED":
            continue
        promised = row["PromisedDeliveryDate"]
        promised = promised if isinstance(promised, date) else date.fromisoformat(promised)
        if promised > as_of:
            continue
        got = delivered.get(row["OrderNumber"])
        good = got is not None and got <= promised and in_full.get(str(row["OrderId"]), False)
        due, hits = result.get(str(row["ClientId"]), (0, 0))
        result[str(row["ClientId"])] = (due + 1, hits + int(good))
    return result
