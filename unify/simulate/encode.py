"""How values are written in each service's format: times, the DMS/TMS CSV, AppFlow JSON Lines, Parquet.

Inside the simulator a value is plain data: timestamps are integer microseconds since the Unix epoch
(UTC), dates are proleptic ordinals, decimals are integers scaled by 10**scale. Column kinds come from
the source types in loaders/source_tables.py, so names, order and types follow that contract.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from loaders.source_tables import SourceTable

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_start_us(day: date) -> int:
    return (day.toordinal() - EPOCH_ORDINAL) * US_PER_DAY


def date_ordinal_of(us: int) -> int:
    return us // US_PER_DAY + EPOCH_ORDINAL


@lru_cache(maxsize=8192)
def _day_text(day_number: int) -> str:
    return date.fromordinal(day_number + EPOCH_ORDINAL).isoformat()


_EPOCH = datetime(1970, 1, 1)


def _iso(us: int) -> str:
    """yyyy-MM-dd HH:mm:ss.SSSSSS (C-implemented formatting: this runs for every timestamp written)."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(" ", "microseconds")


def _split(us: int) -> tuple[str, int, int, int, int]:
    days, rest = divmod(us, US_PER_DAY)
    seconds, micros = divmod(rest, US_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return _day_text(days), hours, minutes, seconds, micros


@lru_cache(maxsize=1 << 16)
def ts_dms(us: int) -> str:
    """DMS's timestamp text (TimestampColumnName and datetime2 columns): yyyy-MM-dd HH:mm:ss.SSSSSS."""
    return _iso(us)


def ts_iso(us: int) -> str:
    """TMS timestamps: ISO 8601 in UTC, whole seconds (2026-11-22T10:15:30Z)."""
    text = _iso(us)
    return f"{text[:10]}T{text[11:19]}Z"


def ts_salesforce(us: int) -> str:
    """Salesforce datetimes as AppFlow writes them: 2026-11-22T10:15:30.000Z."""
    text = _iso(us)
    return f"{text[:10]}T{text[11:23]}Z"


def date_text(ordinal: int) -> str:
    return _day_text(ordinal - EPOCH_ORDINAL)


def change_seq(commit_us: int, number: int) -> str:
    """$AR_H_CHANGE_SEQ: 16 timestamp digits (to the hundredth of a second) + 19 record digits."""
    t = ts_dms(commit_us)  # cached: the encoder formats the same commit time next
    return f"{t[0:4]}{t[5:7]}{t[8:10]}{t[11:13]}{t[14:16]}{t[17:19]}{t[20:22]}{number:019d}"


def dms_file_stamp(us: int, fraction_digits: int) -> str:
    """CDC file names are times: 20230905-151244585 (ms) or 20141029-1134010000 (4 digits)."""
    day, h, m, s, f = _split(us)
    fraction = f"{f // 1000:03d}" if fraction_digits == 3 else f"{f // 100:04d}"
    return f"{day[0:4]}{day[5:7]}{day[8:10]}-{h:02d}{m:02d}{s:02d}{fraction}"


# --- column kinds -------------------------------------------------------------------------------

_DECIMAL = re.compile(r"(?:decimal|numeric|currency|percent)\((\d+),(\d+)\)")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # int | bigint | str | ts | date | dec | bool
    precision: int = 0
    scale: int = 0


def column_kind(source_type: str) -> tuple[str, int, int]:
    t = source_type.lower()
    match = _DECIMAL.fullmatch(t)
    if match:
        return "dec", int(match.group(1)), int(match.group(2))
    if t == "bigint":
        return "bigint", 0, 0
    if t in ("int", "integer"):
        return "int", 0, 0
    if t in ("datetime2", "datetime", "timestamp"):
        return "ts", 0, 0
    if t == "date":
        return "date", 0, 0
    if t in ("bit", "boolean"):
        return "bool", 0, 0
    return "str", 0, 0


def table_columns(table: SourceTable) -> tuple[ColumnSpec, ...]:
    """The source columns of a table (without delivery columns), in the contract's order."""
    return tuple(ColumnSpec(c.name, *column_kind(c.source_type)) for c in table.columns)


def _dec_text(value: int, scale: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10 ** scale)
    return f"{sign}{whole}.{frac:0{scale}d}" if scale else f"{sign}{whole}"


def _row_encoder(columns: Sequence[ColumnSpec], null: str, ts_format) -> object:
    """A function turning a row's values into strings, generated once per table: the hot path of
    every CSV file, so each column's conversion is inlined rather than dispatched per value."""
    parts = []
    for i, col in enumerate(columns):
        v = f"v[{i}]"
        if col.kind in ("int", "bigint"):
            expr = f"str({v})"
        elif col.kind == "ts":
            expr = f"ts({v})"
        elif col.kind == "date":
            expr = f"day({v})"
        elif col.kind == "dec":
            expr = f"dec({v}, {col.scale})"
        elif col.kind == "bool":
            expr = f"('1' if {v} else '0')"
        else:
            expr = v
        parts.append(f"(NULL if {v} is None else {expr})")
    source = f"def encode(v):\n    return [{', '.join(parts)}]\n"
    namespace = {"NULL": null, "ts": ts_format, "day": date_text, "dec": _dec_text}
    exec(compile(source, f"<row encoder {','.join(c.name for c in columns)[:60]}>", "exec"), namespace)
    return namespace["encode"]


# --- DMS ------------------------------------------------------------------------------------------

DmsRecord = tuple  # (op, commit_us, seq, values): values in the file's column order


class DmsEncoder:
    """Encodes DMS files: header, Op first, dms_commit_ts, source columns, dms_change_seq last."""

    def __init__(self, columns: Sequence[ColumnSpec]):
        self.columns = tuple(columns)
        self.header = ["Op", "dms_commit_ts", *(c.name for c in self.columns), "dms_change_seq"]
        self._encode = _row_encoder(self.columns, "NULL", ts_dms)

    def csv(self, records: Iterable[DmsRecord]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")  # RFC 4180 quoting: QUOTE_MINIMAL, quotes doubled
        writer.writerow(self.header)
        encode = self._encode
        rows = []
        for op, commit_us, seq, values in records:
            row = encode(values)
            row.insert(0, ts_dms(commit_us))
            row.insert(0, op)
            row.append(seq)
            rows.append(row)
        writer.writerows(rows)
        return out.getvalue().encode("utf-8")

    def parquet(self, records: Sequence[DmsRecord]) -> bytes:
        arrays = [pa.array([r[0] for r in records], pa.string()),
                  pa.array([ts_dms(r[1]) for r in records], pa.string())]
        fields = [pa.field("Op", pa.string(), nullable=False), pa.field("dms_commit_ts", pa.string())]
        for i, col in enumerate(self.columns):
            values = [r[3][i] for r in records]
            arrays.append(_arrow_array(col, values, salesforce=False))
            fields.append(pa.field(col.name, arrays[-1].type))
        arrays.append(pa.array([r[2] for r in records], pa.string()))
        fields.append(pa.field("dms_change_seq", pa.string()))
        return _parquet_bytes(pa.Table.from_arrays(arrays, schema=pa.schema(fields)))


def _arrow_array(col: ColumnSpec, values: list, salesforce: bool) -> pa.Array:
    kind = col.kind
    if kind == "int":
        return pa.array(values, pa.int32())
    if kind == "bigint":
        return pa.array(values, pa.int64())
    if kind == "ts":
        if salesforce:  # AppFlow with preserveSourceDataTyping: millisecond UTC timestamps
            return pa.array([None if v is None else v // 1000 for v in values], pa.int64()).cast(
                pa.timestamp("ms", tz="UTC"))
        return pa.array(values, pa.int64()).cast(pa.timestamp("us"))
    if kind == "date":
        return pa.array([None if v is None else v - EPOCH_ORDINAL for v in values], pa.int32()).cast(pa.date32())
    if kind == "dec":
        if salesforce:  # Salesforce currency/percent fields are doubles in the API
            return pa.array([None if v is None else v / 10 ** col.scale for v in values], pa.float64())
        return pa.array([None if v is None else Decimal(v).scaleb(-col.scale) for v in values],
                        pa.decimal128(col.precision, col.scale))
    if kind == "bool":
        return pa.array(values, pa.bool_())
    return pa.array(values, pa.string())


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


# --- AppFlow (Salesforce) -------------------------------------------------------------------------


class AppFlowEncoder:
    """JSON Lines (one object per line, API field names, JSON types) or typed Parquet."""

    def __init__(self, columns: Sequence[ColumnSpec]):
        self.columns = tuple(columns)

    def _json_value(self, col: ColumnSpec, v):
        if v is None:
            return None
        if col.kind == "ts":
            return ts_salesforce(v)
        if col.kind == "date":
            return date_text(v)
        if col.kind == "dec":
            return v / 10 ** col.scale
        return v

    def json_lines(self, records: Iterable[Sequence]) -> bytes:
        lines = []
        for values in records:
            obj = {c.name: self._json_value(c, v) for c, v in zip(self.columns, values)}
            lines.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        return ("\n".join(lines) + "\n").encode("utf-8")

    def parquet(self, records: Sequence[Sequence]) -> bytes:
        arrays = [_arrow_array(c, [r[i] for r in records], salesforce=True) for i, c in enumerate(self.columns)]
        schema = pa.schema([pa.field(c.name, a.type) for c, a in zip(self.columns, arrays)])
        return _parquet_bytes(pa.Table.from_arrays(arrays, schema=schema))


# --- TMS ------------------------------------------------------------------------------------------


class TmsEncoder:
    """TMS extracts: CSV with a header, empty field = NULL, ISO 8601 UTC timestamps."""

    def __init__(self, columns: Sequence[ColumnSpec]):
        self.columns = tuple(columns)
        self.header = [c.name for c in self.columns]
        self.encode = _row_encoder(self.columns, "", ts_iso)

    def csv(self, rows: Iterable[Sequence]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(map(self.encode, rows))
        return out.getvalue().encode("utf-8")
