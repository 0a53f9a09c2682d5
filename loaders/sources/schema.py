"""A file's columns against its raw table: drift to add, incompatibilities to quarantine.

- Names map to raw columns folded to lower case (what Redshift does to identifiers and what
  `JSON 'auto ignorecase'` matches). A name must be a plain identifier (letters, digits, `_`, `$`,
  at most 63 characters): a header cell cannot smuggle SQL through a column name.
- Missing key columns (primary key, the DMS `Op`, the column that orders versions) quarantine the file;
  other missing columns load as NULL and are reported.
- A new column is added to the raw table, nullable: text formats as `varchar(65535)` (lossless;
  staging casts it), typed formats (Parquet, JSON numbers and booleans) as the matching raw type.
- A typed column whose values can never become the raw type (a timestamp for an integer, a nested
  struct) quarantines the file; strings always may (the warehouse parses them and rejects bad values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import pyarrow as pa

from loaders.records import FileColumn
from loaders.source_tables import METADATA_COLUMNS, SourceTable
from loaders.sources.base import FileInfo, SchemaError

SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
TEXT_TYPE = "varchar(65535)"
_NUMERIC = re.compile(r"(?:numeric|decimal)\((\d+),\s*(\d+)\)")


def family(raw_type: str) -> str:
    """The family of a raw (Redshift/PostgreSQL) type: int, numeric, float, bool, text, timestamp, date."""
    t = raw_type.lower().strip()
    if t in ("smallint", "integer", "int", "int2", "int4", "int8", "bigint"):
        return "int"
    if t.startswith(("numeric", "decimal")):
        return "numeric"
    if t in ("real", "float4", "float8", "double precision", "float"):
        return "float"
    if t in ("boolean", "bool"):
        return "bool"
    if t.startswith(("timestamp with time zone", "timestamptz")):
        return "timestamp"
    if t.startswith("timestamp"):
        return "timestamp"
    if t == "date":
        return "date"
    return "text"


def raw_type_for_arrow(dt: pa.DataType) -> str | None:
    """The raw type that holds an Arrow type's values as they are; None for types raw tables cannot hold."""
    if pa.types.is_dictionary(dt):
        return raw_type_for_arrow(dt.value_type)
    if pa.types.is_boolean(dt):
        return "boolean"
    if pa.types.is_int8(dt) or pa.types.is_int16(dt) or pa.types.is_uint8(dt):
        return "smallint"
    if pa.types.is_int32(dt) or pa.types.is_uint16(dt):
        return "integer"
    if pa.types.is_int64(dt) or pa.types.is_uint32(dt):
        return "bigint"
    if pa.types.is_uint64(dt):
        return "numeric(20,0)"
    if pa.types.is_float32(dt):
        return "real"
    if pa.types.is_float64(dt):
        return "double precision"
    if pa.types.is_decimal(dt):
        return f"numeric({min(dt.precision, 38)},{dt.scale})"
    if pa.types.is_string(dt) or pa.types.is_large_string(dt) or pa.types.is_null(dt):
        return TEXT_TYPE
    if pa.types.is_timestamp(dt):
        return "timestamp"
    if pa.types.is_date(dt):
        return "date"
    return None


_COMPATIBLE = {
    # file family -> raw families its values can always be converted to
    "int": {"int", "numeric", "float", "text"},
    "numeric": {"numeric", "float", "text"},
    "float": {"float", "numeric", "text"},
    "bool": {"bool", "text"},
    "timestamp": {"timestamp", "text"},
    "date": {"date", "timestamp", "text"},
    "text": {"int", "numeric", "float", "bool", "timestamp", "date", "text"},
}


def compatible(file_type: str, raw_type: str) -> bool:
    return family(raw_type) in _COMPATIBLE[family(file_type)]


def arrow_type_for_raw(raw_type: str) -> pa.DataType:
    """How a JSON reader should parse a raw column: exact decimals, int64, bool, otherwise strings."""
    fam = family(raw_type)
    if fam == "int":
        return pa.int64()
    if fam == "bool":
        return pa.bool_()
    if fam == "float":
        return pa.float64()
    if fam == "numeric":
        match = _NUMERIC.fullmatch(raw_type.lower().replace(" ", ""))
        if match:
            return pa.decimal128(int(match.group(1)), int(match.group(2)))
        return pa.decimal128(38, 10)
    return pa.string()


@dataclass(frozen=True)
class SchemaPlan:
    columns: tuple[FileColumn, ...]
    added: tuple[tuple[str, str], ...]  # (raw name, raw type) to add to the table
    missing: tuple[str, ...]  # raw columns the file does not have (loaded as NULL)


def required_columns(table: SourceTable) -> tuple[str, ...]:
    """Columns without which a file's rows cannot be identified or ordered: key, DMS Op, version order."""
    names = list(table.primary_key) + list(table.version_order)
    if any(c.name == "Op" for c in table.delivery_columns):
        names.insert(0, "Op")
    return tuple(dict.fromkeys(n.lower() for n in names))


def check_schema(key: str, table: SourceTable, info: FileInfo, table_columns: Mapping[str, str]) -> SchemaPlan:
    """Map a file's columns onto its raw table (current columns `table_columns`: raw name -> type)."""
    if info.empty:
        return SchemaPlan((), (), ())
    metadata = {c.raw_name for c in METADATA_COLUMNS}
    seen: dict[str, str] = {}
    columns: list[FileColumn] = []
    added: list[tuple[str, str]] = []
    for position, (name, arrow_type) in enumerate(zip(info.names, info.arrow_types), start=1):
        if not SAFE_NAME.fullmatch(name):  # never quoted: a header cell can hold anything, of any length
            raise SchemaError(key, f"column {position} of the header is not a plain identifier (letters, digits, "
                                   f"_ and $, at most 63 characters; it has {len(name):,}); refusing to load it",
                              1 if info.file_format.kind == "csv" else None)
        raw_name = name.lower()
        if raw_name in seen:
            raise SchemaError(key, f"columns {seen[raw_name]!r} and {name!r} are the same raw column {raw_name!r}")
        seen[raw_name] = name
        if raw_name in metadata:
            raise SchemaError(key, f"column {name!r} collides with the loader's metadata column {raw_name!r}")
        if arrow_type is None:
            file_type = table_columns.get(raw_name, TEXT_TYPE)
        else:
            file_type = raw_type_for_arrow(arrow_type)
            if file_type is None:
                raise SchemaError(key, f"column {name!r} has type {arrow_type}, which a raw table cannot hold")
        if raw_name in table_columns:
            if not compatible(file_type, table_columns[raw_name]):
                raise SchemaError(key, f"column {name!r} holds {arrow_type} values, which cannot be cast to "
                                       f"its raw type {table_columns[raw_name]}")
        else:
            added.append((raw_name, file_type))
        columns.append(FileColumn(name, raw_name, file_type))
    missing_required = [c for c in required_columns(table) if c not in seen]
    if missing_required:
        names = ", ".join(table.column(c).name for c in missing_required)
        raise SchemaError(key, f"missing key column(s) {names} of {table.system}.{table.name}")
    missing = tuple(c.raw_name for c in (*table.delivery_columns, *table.columns) if c.raw_name not in seen)
    return SchemaPlan(tuple(columns), tuple(added), missing)
