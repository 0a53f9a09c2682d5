"""An independent reading of a landing zone for the loader tests: Python's csv and json modules (and
pyarrow.parquet for Parquet), following SOURCE_FORMATS.md, never the loader's own readers.

It says, for each landed object, which source table it belongs to, its records (column -> text or typed
value, NULLs resolved the way each source writes them), or why it cannot be read. Tests compare what
the warehouse holds with this.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from loaders.source_tables import AZUREWARE, SALESFORCE, TMS, SourceTable


@dataclass
class Landed:
    key: str
    data: bytes
    table: SourceTable | None
    fmt: str  # csv | parquet | json
    header: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.table is not None


def _table_for(key: str) -> SourceTable | None:
    parts = key.split("/")
    if key.startswith("dms/azureware/dbo/") and len(parts) == 5:
        return next((t for t in AZUREWARE if t.name == parts[3]), None)
    if key.startswith("appflow/salesforce/") and len(parts) == 5:
        return next((t for t in SALESFORCE if f"salesforce-{t.name.lower()}" == parts[2]), None)
    if key.startswith("tms/") and len(parts) == 4:
        return next((t for t in TMS if t.name == parts[1]), None)
    return None


def read_landing(root: str | Path) -> dict[str, Landed]:
    root = Path(root)
    found: dict[str, Landed] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            if not key.startswith(("dms/", "appflow/", "tms/")):
                continue
            found[key] = read_object(key, path.read_bytes())
    return dict(sorted(found.items()))


def read_object(key: str, data: bytes) -> Landed:
    table = _table_for(key)
    if data[:4] == b"PAR1" or key.endswith(".parquet"):
        landed = Landed(key, data, table, "parquet")
        try:
            t = pq.read_table(io.BytesIO(data))
            landed.header = t.column_names
            landed.records = t.to_pylist()
        except Exception as err:  # noqa: BLE001
            landed.error = f"parquet: {err}"
        return landed
    if key.startswith("appflow/"):
        landed = Landed(key, data, table, "json")
        try:
            for line in data.decode("utf-8").splitlines():
                if line.strip():
                    value = json.loads(line)
                    if not isinstance(value, dict):
                        raise ValueError("not an object")
                    landed.records.append(value)
        except ValueError as err:
            landed.error = f"json: {err}"
        return landed
    landed = Landed(key, data, table, "csv")
    null = "NULL" if key.startswith("dms/") else ""
    try:
        text = data.decode("utf-8")
        if "\x00" in text:
            raise ValueError("NUL byte")
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        if not rows:
            raise ValueError("empty")
        landed.header = rows[0]
        for row in rows[1:]:
            if len(row) != len(landed.header):
                raise ValueError(f"{len(row)} fields, header has {len(landed.header)}")
            landed.records.append({h: (None if v == null else v) for h, v in zip(landed.header, row)})
    except (ValueError, csv.Error) as err:
        landed.error = f"csv: {err}"
    return landed


_CRC64_NVME_TABLE: list[int] = []


def crc64nvme(data: bytes) -> str:
    """CRC-64/NVME of `data` as the ledger writes it (`crc64nvme:` + base64 of the 8 bytes, as S3 does),
    computed here in plain Python from the algorithm's definition (reflected polynomial 0x9A6C9329AC4BC9B5,
    init and xorout all ones; check value of b"123456789": 0xAE8B14860A799888), not with the loader's
    library."""
    import base64

    if not _CRC64_NVME_TABLE:
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ 0x9A6C9329AC4BC9B5 if crc & 1 else crc >> 1
            _CRC64_NVME_TABLE.append(crc)
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _CRC64_NVME_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFFFFFFFFFF
    return "crc64nvme:" + base64.b64encode(crc.to_bytes(8, "big")).decode("ascii")


def expected_value(raw_type: str, value):
    """The Python value psycopg2 returns for a landed value of a column of this raw type."""
    if value is None:
        return None
    t = raw_type.lower()
    if isinstance(value, str):
        if t.startswith(("integer", "bigint", "smallint")):
            return int(value)
        if t.startswith(("numeric", "decimal")):
            return Decimal(value)
        if t == "boolean":
            return value.strip().lower() in ("1", "t", "true")
        if t.startswith("timestamp"):
            return datetime.fromisoformat(value.replace("Z", "").replace("T", " "))
        if t == "date":
            return date.fromisoformat(value)
        return value
    if isinstance(value, float) and t.startswith("numeric"):
        return Decimal(str(value))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if isinstance(value, datetime) and t == "date":
        return value.date()
    return value
