"""Amazon AppFlow output (Salesforce): `<prefix>/<flow-name>/<execution-id>/<part files>`.

GLC's flows (SOURCE_FORMATS.md): one flow per object (`salesforce-account`, `salesforce-user`,
`salesforce-contract`), JSON Lines (one object per line) with Salesforce API field names, JSON booleans,
numbers and `null`; Parquet is possible too. AppFlow's file names are not documented (often no
extension, may contain ':'), so files are identified by their folder and their format by their content
(Parquet's magic bytes, else JSON Lines), never by extension.

JSON values are parsed with the raw types' Arrow equivalents for known fields (exact decimals for
currency and percent, int64, booleans, strings for dates and times) and inferred for new fields. A JSON
number is any number: a decimal field is read exactly at up to 38 places, then rounded to its column's
scale (half away from zero, as PostgreSQL and Redshift round numeric input), so `0.45000000000000001`
loads as 0.4500 as COPY would load it, never quarantines its file; one with more whole digits than its
column holds is passed on wider, for the loader's widening (loaders/evolution.py).
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from loaders.landing import LandedObject, LandingZone
from loaders.records import FileFormat
from loaders.source_tables import SALESFORCE, SourceTable
from loaders.sources.base import (MAX_RECORD_BYTES, FileFormatError, FileInfo, SourceFile, UnknownObjectError,
                                  _arrow_reason, _numbered, offsets_to_utc, parquet_batches, parquet_info, sniff)
from loaders.sources.schema import arrow_type_for_raw

JSON_FORMAT = FileFormat("json", zone_offsets=True)
PARQUET_FORMAT = FileFormat("parquet", zone_offsets=True)
JSON_BLOCK_BYTES = 8 << 20


def identify(obj: LandedObject, rest: str, flow_prefix: str) -> SourceFile:
    """`rest` is the key after the AppFlow prefix: `<flow-name>/<execution-id>/<part file>`."""
    parts = rest.split("/")
    if len(parts) != 3 or not all(parts):
        raise UnknownObjectError(obj.key, "not an AppFlow part file: expected <flow-name>/<execution-id>/<file> "
                                          "under the AppFlow prefix")
    flow = parts[0]
    table = flow_table(flow, flow_prefix)
    if table is None:
        known = ", ".join(f"{flow_prefix}{t.name.lower()}" for t in SALESFORCE)
        raise UnknownObjectError(obj.key, f"unknown AppFlow flow {flow!r} (known: {known})")
    return SourceFile(obj, "appflow", table, "appflow")


def flow_table(flow: str, flow_prefix: str) -> SourceTable | None:
    if not flow.startswith(flow_prefix):
        return None
    name = flow[len(flow_prefix):]
    return next((t for t in SALESFORCE if t.name.lower() == name), None)


# How JSON numbers of decimal fields are first read: exactly, 38 digits on either side of the point.
_JSON_DECIMAL = pa.decimal256(76, 38)


def _json_schema(table: SourceTable) -> pa.Schema:
    return pa.schema([pa.field(c.name, _JSON_DECIMAL if pa.types.is_decimal(t := arrow_type_for_raw(c.raw_type))
                               else t) for c in table.columns])


def _to_column_scale(key: str, table: pa.Table, source: SourceTable) -> pa.Table:
    """Decimal fields, read at 38 places, rounded to their raw column's scale and typed as the column (or,
    when a value has more whole digits than the column holds, as decimal(38, scale): a widening)."""
    wanted = {c.name: arrow_type_for_raw(c.raw_type) for c in source.columns}
    for index, name in enumerate(table.column_names):
        column, target = table.column(index), wanted.get(name)
        if target is None or column.type != _JSON_DECIMAL:
            continue
        rounded = pc.round(column, ndigits=target.scale, round_mode="half_towards_infinity")
        for typed in (target, pa.decimal128(38, target.scale)):
            try:
                table = table.set_column(index, name, rounded.cast(typed))
                break
            except pa.ArrowInvalid:
                continue
        else:
            raise FileFormatError(key, f"field {name}: a number with more than {38 - target.scale} whole digits", None)
    return table


def read_json_table(zone: LandingZone, sf: SourceFile) -> pa.Table:
    data = zone.read_bytes(sf.key)
    if not data.strip():
        return pa.table({})
    parse = pajson.ParseOptions(explicit_schema=_json_schema(sf.table), unexpected_field_behavior="infer",
                                newlines_in_values=False)
    try:
        table = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(block_size=JSON_BLOCK_BYTES),
                                 parse_options=parse)
    except pa.ArrowException as err:
        del data  # the diagnosis streams the object again, line by line
        raise FileFormatError(sf.key, *_locate_json_problem(zone, sf.key, err, parse.explicit_schema)) from None
    table = offsets_to_utc(sf.key, _to_column_scale(sf.key, table, sf.table), sf.table)
    # A known field no record mentions comes back all-null: harmless, except for the fields that
    # identify and order records, which count as missing (the schema check then quarantines the file),
    # and for a known field the records spell in another case ("name" for "Name": the same raw column),
    # which would collide with it.
    required = {c.lower() for c in (*sf.table.primary_key, *sf.table.version_order)}
    known = {c.name for c in sf.table.columns}
    spellings = Counter(name.lower() for name in table.column_names)
    present = [name for name in table.column_names
               if table.column(name).null_count < table.num_rows
               or not (name.lower() in required or (name in known and spellings[name.lower()] > 1))]
    return table.select(present)


_TYPE_CHANGED = re.compile(r"Column\(/([^)]*)\) changed from (\w+) to (\w+)")


def _locate_json_problem(zone: LandingZone, key: str, err: Exception, known: pa.Schema) -> tuple[str, int | None]:
    """The first line that is not one JSON object (1-based), or whose known field holds a JSON type its column
    cannot take (`known`: how the reader types the known fields), and why, without quoting it (personal
    data). Streams the object: memory holds one line (at most MAX_RECORD_BYTES)."""
    wanted = dict(zip(known.names, known.types))
    with zone.open(key) as handle:
        for number, line in enumerate(iter(lambda: handle.readline(MAX_RECORD_BYTES + 1), b""), start=1):
            if len(line) > MAX_RECORD_BYTES:
                return f"record too large: over {MAX_RECORD_BYTES >> 20} MB", number
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except UnicodeDecodeError:
                return "malformed JSON Lines: a line is not valid UTF-8", number
            except ValueError as exc:
                return f"malformed JSON Lines: {exc.msg} (column {exc.colno})", number
            if not isinstance(value, dict):
                return f"malformed JSON Lines: a line holds a JSON {type(value).__name__}, not an object", number
            for name, field_value in value.items():
                wrong = _wrong_json_type(field_value, wanted[name]) if name in wanted else None
                if wrong is not None:
                    return f"field {name}: {wrong}", number
    changed = _TYPE_CHANGED.search(str(err))
    if changed:  # every line is a JSON object: a new field of two JSON types, which one column cannot hold
        field, first, then = changed.groups()
        return (f"field {field} holds a JSON {first} in one record and a JSON {then} in another: one raw column "
                "cannot hold both (a field's type may change between files, where it widens)"), None
    return f"malformed JSON Lines: {_arrow_reason(err)}", None


_JSON_KINDS = {str: "a JSON string", bool: "a JSON boolean", int: "a JSON number", float: "a JSON number",
               dict: "a JSON object", list: "a JSON array"}
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")  # a number's text, as pyarrow reads it


def _wrong_json_type(value, wanted: pa.DataType) -> str | None:
    """What is wrong with a known field's JSON value for the type the reader wants (None: nothing), in the
    reader's own terms: a decimal field takes a number or a number's text, an integer field a number without
    a fraction, a boolean true or false, a text field a string (a date or time is text until it is loaded)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if pa.types.is_decimal(wanted) or pa.types.is_floating(wanted):
        text = pa.types.is_decimal(wanted) and isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value)
        fits, expected = number or bool(text), "a number"
    elif pa.types.is_integer(wanted):
        fits, expected = number and isinstance(value, int), "a whole number"
        if isinstance(value, float):
            return f"a number with a fraction where {expected} is expected"
    elif pa.types.is_boolean(wanted):
        fits, expected = isinstance(value, bool), "true or false"
    else:
        fits, expected = isinstance(value, str), "a string"
    if value is None or fits:
        return None
    kind = "an empty string" if value == "" else _JSON_KINDS.get(type(value), "a JSON value")
    return f"{kind} where {expected} is expected"


def inspect(zone: LandingZone, sf: SourceFile) -> FileInfo:
    kind = sniff(zone, sf.key, sf.obj.size)
    if kind == "parquet":
        return parquet_info(zone, sf.key, PARQUET_FORMAT)
    table = read_json_table(zone, sf)
    return FileInfo(tuple(table.column_names), tuple(table.schema.types), JSON_FORMAT, empty=table.num_rows == 0)


def record_batches(zone: LandingZone, sf: SourceFile, info: FileInfo) -> Iterator[pa.RecordBatch]:
    if info.file_format.kind == "parquet":  # a Parquet file of text values (no preserveSourceDataTyping)
        return (offsets_to_utc(sf.key, b, sf.table) for b in parquet_batches(zone, sf.key))
    return _json_batches(zone, sf, info)


def _json_batches(zone: LandingZone, sf: SourceFile, info: FileInfo) -> Iterator[pa.RecordBatch]:
    table = read_json_table(zone, sf)
    if table.num_rows == 0:
        return
    if tuple(table.column_names) != info.names:
        raise FileFormatError(sf.key, "the file changed between inspection and loading")
    yield from _numbered(table.to_batches(max_chunksize=65_536), sf.key)
