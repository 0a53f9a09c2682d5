"""Schema evolution of raw columns: which types a source guarantees, and how a raw column widens.

A source's value that does not fit its raw column is one of two things:

- **schema evolution**, when the source never promised the type: a TMS identifier that turns out to be
  alphanumeric (`C7` in an integer column), a Salesforce text field an administrator lengthened. The
  loader widens the raw column along the ladder below (ALTER, in the batch transaction) and reports it like
  an added column: log event `schema_drift_column_widened`, the run summary, the ledger's
  `columns_widened`;
- **a broken guarantee**, when the source itself defines the type: then the file is quarantined.

Who guarantees what (from ../shared/SOURCE_FORMATS.md and DOMAIN.md):

| source | guaranteed (a misfit quarantines) | may widen |
| --- | --- | --- |
| DMS (AzureWare WMS) | every column: SQL Server types the columns, DMS adds `Op`, `dms_commit_ts`, `dms_change_seq` | nothing |
| AppFlow (Salesforce) | the system fields (18-character Ids, `IsDeleted`, the datetimes), reference Ids, booleans, dates and datetimes: their formats are pinned (BULKV2) | text fields and picklists (an administrator can lengthen them), numbers, currency and percent fields (precision can grow) |
| TMS extracts | timestamps (ISO 8601 in UTC is pinned) | everything else: the TMS promises no type, identifiers are opaque strings |

Columns a file adds (drift) are created wide already and never need this. Booleans, dates and timestamps
never widen: a value that is not one is a broken file, whoever the source.

The ladder (each step holds every value of the one before):

    smallint -> integer -> bigint -> numeric(p,s) -> varchar(65535)
    numeric(p,s) -> numeric(p',s') with more integer digits or more decimals (p' <= 38) -> varchar(65535)
    char(n) / varchar(n) -> varchar(m), m > n (up to 65535, the longest Redshift varchar)

`varchar(65535)` is the widest type both warehouses share (Redshift has no unbounded text: its TEXT is
varchar(256)), the type drift columns get too. A value longer than 65535 bytes cannot be held by Redshift
and quarantines the file.

The widening a file needs is found in the warehouse: the file is copied into a scratch table of text
columns and profiled by `profile_sql` (lengths, whether every value is an integer or a decimal, their
digits), so no record value ever leaves the warehouse or reaches a log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from loaders.source_tables import SourceTable

TEXT = "varchar(65535)"
MAX_VARCHAR = 65535
MAX_PRECISION = 38
INT_BOUNDS = {"smallint": 32767, "integer": 2147483647, "bigint": 9223372036854775807}
_INT_ORDER = ("smallint", "integer", "bigint")
_NAMES = {"int2": "smallint", "int4": "integer", "int": "integer", "int8": "bigint",
          "character varying": "varchar", "character": "char", "bpchar": "char", "decimal": "numeric",
          "timestamp without time zone": "timestamp", "text": "text"}
_TYPE = re.compile(r"^\s*([a-z ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")

# Salesforce system fields and formats SOURCE_FORMATS.md pins (BULKV2, JSON): their types are guaranteed.
_SALESFORCE_GUARANTEED_TYPES = ("id", "reference", "boolean", "date", "datetime")


@dataclass(frozen=True)
class SqlType:
    """A raw column type, normalised: name (smallint, integer, bigint, numeric, varchar, char, text, ...)
    and its length or precision/scale."""

    name: str
    length: int | None = None  # varchar/char
    precision: int | None = None  # numeric
    scale: int | None = None

    @classmethod
    def parse(cls, text: str) -> "SqlType":
        match = _TYPE.match(text.lower())
        if not match:
            return cls(text.lower().strip())
        name = _NAMES.get(match.group(1), match.group(1))
        a = int(match.group(2)) if match.group(2) else None
        b = int(match.group(3)) if match.group(3) else None
        if name == "numeric":
            return cls(name, precision=a, scale=b if b is not None else (0 if a is not None else None))
        if name in ("varchar", "char"):
            return cls(name, length=a if a is not None else (1 if name == "char" else None))
        return cls(name)

    def __str__(self) -> str:
        if self.name == "numeric" and self.precision is not None:
            return f"numeric({self.precision},{self.scale or 0})"
        if self.name in ("varchar", "char") and self.length is not None:
            return f"{self.name}({self.length})"
        return self.name

    @property
    def is_int(self) -> bool:
        return self.name in _INT_ORDER

    @property
    def is_text(self) -> bool:
        return self.name in ("varchar", "char", "text")


def same_type(a: str, b: str) -> bool:
    return SqlType.parse(a) == SqlType.parse(b)


def holds(wide: str, narrow: str) -> bool:
    """True when every value of type `narrow` is a value of type `wide` (the ladder, read upwards)."""
    w, n = SqlType.parse(wide), SqlType.parse(narrow)
    if w == n:
        return True
    if w.name == "text" or (w.name == "varchar" and w.length is None):
        return n.is_int or n.name == "numeric" or n.is_text
    if w.name == "varchar":
        if n.is_text:
            return n.length is not None and n.length <= (w.length or 0)
        if n.is_int:  # the longest integer of n, with its sign, as text
            return len(str(INT_BOUNDS[n.name])) + 1 <= (w.length or 0)
        if n.name == "numeric" and n.precision is not None:
            return n.precision + 2 <= (w.length or 0)  # sign and decimal point
        return False
    if w.is_int and n.is_int:
        return _INT_ORDER.index(w.name) >= _INT_ORDER.index(n.name)
    if w.name == "numeric":
        if w.precision is None:
            return n.is_int or n.name == "numeric"
        if n.is_int:
            return w.precision - (w.scale or 0) >= len(str(INT_BOUNDS[n.name]))
        if n.name == "numeric" and n.precision is not None:
            return (w.scale or 0) >= (n.scale or 0) and \
                w.precision - (w.scale or 0) >= n.precision - (n.scale or 0)
    return False


def may_widen(table: SourceTable, raw_name: str) -> bool:
    """Whether a value that does not fit this raw column is schema evolution (True) or a broken guarantee."""
    try:
        column = table.column(raw_name)
    except KeyError:
        return True  # a drift column: the loader created it, no source promised its type
    if SqlType.parse(column.raw_type).name in ("boolean", "date", "timestamp"):
        return False
    if table.system == "azureware":
        return False
    if table.system == "salesforce":
        return column.source_type.split("(")[0].lower() not in _SALESFORCE_GUARANTEED_TYPES
    return True  # tms: no type is promised but the timestamps' (excluded above)


def widenable_columns(table: SourceTable, raw_names: Sequence[str]) -> frozenset[str]:
    return frozenset(name for name in raw_names if may_widen(table, name))


@dataclass(frozen=True)
class ColumnProfile:
    """What a file's values of one column look like, as the warehouse measured them (no value itself)."""

    values: int  # non-null values
    max_chars: int  # longest value, characters
    max_bytes: int  # longest value, UTF-8 bytes (Redshift's varchar counts bytes)
    all_integer: bool  # every value an optionally signed run of digits
    all_decimal: bool  # every value a decimal number (digits, one optional point, an optional exponent)
    int_digits: int  # most digits before the point (leading zeros and sign dropped)
    scale: int  # most digits after the point
    min_int: int | None  # smallest and largest value, when all are integers of at most 38 digits
    max_int: int | None


# A value as the profile reads it: trimmed of blanks; the patterns are POSIX regular expressions, which
# PostgreSQL and Redshift (the `~` operator) both take.
INTEGER_PATTERN = r"^[+-]?[0-9]+$"
# A decimal may carry an exponent (`2.5E+0`): PostgreSQL's and Redshift's numeric input take it. Its digits
# are counted on the mantissa; a value the exponent makes too large fails its COPY again, and quarantines.
DECIMAL_PATTERN = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def profile_sql(table: str, columns: Sequence[str], quote: Callable[[str], str], literal: Callable[[str], str],
                length_chars: str = "char_length", length_bytes: str = "octet_length") -> str:
    """One query that profiles `columns` (text) of a scratch table: for each column, in order, the nine
    values of ColumnProfile. Valid for PostgreSQL and Redshift (quote/literal: the target's quoting)."""
    parts = []
    for name in columns:
        v = f"TRIM({quote(name)})"
        is_int = f"{v} ~ {literal(INTEGER_PATTERN)}"
        is_dec = f"{v} ~ {literal(DECIMAL_PATTERN)}"
        mantissa = f"SPLIT_PART(UPPER({v}), 'E', 1)"
        digits = f"LTRIM(SPLIT_PART(LTRIM(LTRIM({mantissa}, '+'), '-'), '.', 1), '0')"
        parts += [
            f"COUNT({quote(name)})",
            f"COALESCE(MAX({length_chars}({quote(name)})), 0)",
            f"COALESCE(MAX({length_bytes}({quote(name)})), 0)",
            f"COALESCE(MIN(CASE WHEN {quote(name)} IS NULL OR {is_int} THEN 1 ELSE 0 END), 1)",
            f"COALESCE(MIN(CASE WHEN {quote(name)} IS NULL OR {is_dec} THEN 1 ELSE 0 END), 1)",
            f"COALESCE(MAX(CASE WHEN {is_dec} THEN LENGTH({digits}) END), 0)",
            f"COALESCE(MAX(CASE WHEN {is_dec} THEN LENGTH(SPLIT_PART({mantissa}, '.', 2)) END), 0)",
            f"MIN(CASE WHEN {is_int} AND LENGTH({digits}) <= {MAX_PRECISION} THEN CAST({v} AS NUMERIC(38,0)) END)",
            f"MAX(CASE WHEN {is_int} AND LENGTH({digits}) <= {MAX_PRECISION} THEN CAST({v} AS NUMERIC(38,0)) END)",
        ]
    return f"SELECT {', '.join(parts)} FROM {table}"


def read_profile(row: Sequence, columns: Sequence[str]) -> dict[str, ColumnProfile]:
    found = {}
    for i, name in enumerate(columns):
        v = row[i * 9:(i + 1) * 9]
        found[name] = ColumnProfile(int(v[0] or 0), int(v[1] or 0), int(v[2] or 0), bool(int(v[3])), bool(int(v[4])),
                                    int(v[5] or 0), int(v[6] or 0), None if v[7] is None else int(v[7]),
                                    None if v[8] is None else int(v[8]))
    return found


def widened_type(current: str, profile: ColumnProfile, length_in_bytes: bool = False) -> str | None:
    """The narrowest type of the ladder at or above `current` that holds every value profiled; `current`
    itself when it already does (the misfit was elsewhere), None when no type of the ladder holds them
    (a value over 65535 bytes, or a boolean/date/timestamp column)."""
    now = SqlType.parse(current)
    if profile.values == 0:
        return current
    length = profile.max_bytes if length_in_bytes else profile.max_chars
    if now.is_int or now.name == "numeric":
        if profile.all_integer and profile.min_int is not None and profile.max_int is not None and now.is_int:
            for name in _INT_ORDER[_INT_ORDER.index(now.name):]:
                if -INT_BOUNDS[name] - 1 <= profile.min_int and profile.max_int <= INT_BOUNDS[name]:
                    return current if name == now.name else name
        if profile.all_decimal:
            scale = max(profile.scale, now.scale or 0)
            whole = max(profile.int_digits, (now.precision - (now.scale or 0)) if now.precision else 0,
                        len(str(INT_BOUNDS[now.name])) if now.is_int else 0)
            if whole + scale <= MAX_PRECISION:
                candidate = f"numeric({whole + scale},{scale})"
                return current if same_type(candidate, current) or holds(current, candidate) else candidate
        return _text_for(length)
    if now.is_text:
        if now.length is not None and length <= now.length:
            return current
        if length > MAX_VARCHAR:
            return None
        wanted = max(length, 2 * (now.length or 0))
        return f"varchar({min(MAX_VARCHAR, wanted)})"
    return None


def _text_for(length: int) -> str | None:
    return TEXT if length <= MAX_VARCHAR else None


def describe(column: str, old: str, new: str) -> str:
    """How a widening is written in the ledger's `columns_widened`, the summary and the logs."""
    return f"{column} {SqlType.parse(old)}->{SqlType.parse(new)}"
