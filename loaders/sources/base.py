"""What every reader shares: the identified file, what inspecting it finds, and the CSV/Parquet plumbing.

Readers turn a landed object into Arrow record batches (pyarrow's multithreaded CSV, JSON and Parquet
readers) whose columns are the file's, in the file's order, under their raw names, followed by
`_source_row` (the 1-based record number in the file). Text formats are read as strings: the warehouse
parses them into the raw types, exactly as Redshift's COPY does, so a value the raw type rejects is
reported by the warehouse with its line. Readers know nothing of the warehouse.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from loaders.landing import LandedObject, LandingZone
from loaders.errors import QuarantineError, clean_text
from loaders.records import FileFormat
from loaders.source_tables import SourceTable

SOURCE_ROW = "_source_row"
CSV_BLOCK_BYTES = 4 << 20  # pyarrow parses blocks in parallel; 4 MB keeps the COPY stream flowing early
PARQUET_BATCH_ROWS = 65_536
HEADER_MAX_BYTES = 1 << 20
# The largest record a file may hold: Redshift's COPY refuses rows over 4 MB ("Amazon Redshift COPY"
# limits), so both targets quarantine a longer one as "record too large", whatever else is wrong with it.
MAX_RECORD_BYTES = 4 << 20
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))


class UnknownObjectError(QuarantineError):
    """The key is under a source's prefix but names no known table, or breaks the source's layout."""


class FileFormatError(QuarantineError):
    """The file cannot be parsed: corrupt, truncated, malformed line, not the format it should be."""


class SchemaError(QuarantineError):
    """The file's columns are incompatible with its raw table (missing key column, uncastable type, unsafe name)."""


@dataclass(frozen=True)
class SourceFile:
    """A landed object identified as a delivery of one source table."""

    obj: LandedObject
    source: str  # dms | appflow | tms
    table: SourceTable
    fmt: str  # csv | parquet | appflow (JSON Lines or Parquet: decided by content)

    @property
    def key(self) -> str:
        return self.obj.key


@dataclass(frozen=True)
class FileInfo:
    """What inspecting a file found: its column names in order, their Arrow types when typed, its format."""

    names: tuple[str, ...]
    arrow_types: tuple[pa.DataType | None, ...]  # None: text values (CSV)
    file_format: FileFormat
    empty: bool = False  # a file without a single record (an AppFlow part with nothing in it)


# --- CSV ------------------------------------------------------------------------------------------


def read_csv_header(zone: LandingZone, key: str) -> list[str]:
    """The header row's names, parsed with RFC 4180 rules (csv module), from the object's first bytes."""
    with zone.open(key) as handle:
        head = b""
        want = 4096  # a header is short: read a page, then more only while no line break came
        ended = False
        while b"\n" not in head and len(head) < HEADER_MAX_BYTES:
            chunk = handle.read(min(want, HEADER_MAX_BYTES - len(head)))  # never past the limit
            if not chunk:
                ended = True
                break
            head += chunk
            want = min(want * 4, 1 << 20)
        if not head.strip() and not ended:  # blank lines so far: empty only if nothing else follows
            ended = not handle.read(HEADER_MAX_BYTES).strip()
    if not head.strip() and ended:
        raise FileFormatError(key, "empty file: no header row")
    line = head.split(b"\n", 1)[0]
    if b"\n" not in head and len(head) >= HEADER_MAX_BYTES:
        raise FileFormatError(key, f"header row too large: no line break in its first {HEADER_MAX_BYTES >> 20} MB", 1)
    try:
        text = line.decode("utf-8").removeprefix("\ufeff").rstrip("\r")
    except UnicodeDecodeError as err:
        raise FileFormatError(key, f"header row is not valid UTF-8 (byte {err.start})", 1) from None
    try:
        names = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration) as err:
        raise FileFormatError(key, f"header row is not valid CSV ({_csv_problem(err)})", 1) from None
    return [name.strip() for name in names]


def csv_batches(zone: LandingZone, key: str, names: Sequence[str],
                null_values: Sequence[str], quoted_null: bool = False) -> Iterator[pa.RecordBatch]:
    """Records of a CSV file with a header, every column as a string, then `_source_row`.

    RFC 4180: quoted fields may hold commas, doubled quotes and line breaks. `null_values` are the
    unquoted texts that mean NULL; a quoted value is a string, unless `quoted_null` (the TMS: an empty
    field is NULL, quoted or not; DMS tells `""`, an empty string, from NULL). A stray quote (StrayQuotes)
    quarantines the file, as on the PostgreSQL stream: pyarrow's parser would read on through it.
    """
    read, parse, convert = _csv_options(names, null_values, use_threads=True, quoted_null=quoted_null)
    with zone.open(key) as raw:
        handle = _QuoteCheckedReader(raw, key, lambda: zone.open(key))
        try:
            try:
                reader = pacsv.open_csv(handle, read_options=read, parse_options=parse, convert_options=convert)
            except pa.ArrowInvalid as err:  # the header skipped: nothing after it, not even its line break
                if "skip initial" in str(err) and _header_only(zone, key):
                    return
                raise
            yield from _numbered(reader, key)
        except pa.ArrowException as err:
            reason, line = _locate_csv_problem(zone, key, names, null_values, err)
            raise FileFormatError(key, reason, line) from None


def _header_only(zone: LandingZone, key: str) -> bool:
    """A CSV object of one line and no line break (DMS promises no final one; read_csv_header read it)."""
    with zone.open(key) as handle:
        head = handle.read(HEADER_MAX_BYTES + 1)
    return b"\n" not in head and len(head) <= HEADER_MAX_BYTES


def _csv_options(names: Sequence[str], null_values: Sequence[str], use_threads: bool, quoted_null: bool = False):
    # the header row is skipped and `names` used: the names read_csv_header made of it (padding around a
    # name stripped, as for COPY's column list), not pyarrow's own reading of it
    read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=use_threads, column_names=list(names),
                             skip_rows=1)
    parse = pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, escape_char=False,
                               newlines_in_values=True)
    convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in names},
                                   null_values=list(null_values), strings_can_be_null=True,
                                   quoted_strings_can_be_null=quoted_null, check_utf8=True)
    return read, parse, convert


_GOT_COLUMNS = re.compile(r"Expected (\d+) columns?, got (\d+)")


def csv_structure_problem(zone: LandingZone, key: str, fields: int) -> tuple[str, int] | None:
    """The first structural problem of a CSV file (not UTF-8, a NUL byte, a record too large, a record with
    the wrong number of fields, a quoted value never closed) and its line (1-based, the header is line 1),
    found with Python's csv module; None when every record is well formed. It streams the file (memory:
    one record, at most MAX_RECORD_BYTES) and never quotes the record (it may hold personal data)."""
    lines = _CheckedLines()
    with zone.open(key) as handle:
        reader = csv.reader(lines(handle), strict=True)
        try:
            for record in reader:
                if len(record) != fields:
                    return (f"malformed CSV record: {len(record)} fields where the header has {fields} "
                            "(truncated or corrupt file)", reader.line_num)
        except _LineProblem as problem:
            return problem.reason, problem.line
        except csv.Error as err:
            return f"malformed CSV: {_csv_problem(err)}", lines.number
    return None


BOM = b"\xef\xbb\xbf"
# RFC 4180 puts a quote where it opens a value (after a comma or a line break), closes one (before a comma
# or a line break) or is doubled inside one. A quote between two other characters is none of these: a
# value's own quote not doubled (`"say "hi" now"`), text after a closing quote (`"abc"x`), a quote in an
# unquoted value (`5'10"x`). PostgreSQL's COPY reads on through such a file, joining or shifting values
# (`"abc"x` loads as `abcx`), and so does pyarrow's parser: the loaders quarantine it instead.
# The quote first, then what follows and what precedes it: the search skips from quote to quote (~1.9 GB/s on
# a file with no quote, ~180 MB/s when every field is quoted; 45 MB/s with the look-behind first).
_STRAY_QUOTE = re.compile(rb'"(?=[^,\r\n"])(?<=[^,\r\n"]")')
STRAY_QUOTE_REASON = ("malformed CSV: a quote between two other characters (RFC 4180: a quoted value doubles "
                      "its quotes, and an unquoted value holds none)")


class StrayQuotes:
    """Finds the first stray quote (`_STRAY_QUOTE`) of a CSV file whose bytes come in chunks: one search per
    chunk, from quote to quote (the feeds' common file quotes little), and one across each chunk boundary;
    no per-record work."""

    def __init__(self) -> None:
        self._last = b""  # the previous chunk's last two bytes
        self._offset = 0  # file offset of the next chunk

    def find(self, chunk: bytes) -> int | None:
        """The file offset of a stray quote in this chunk or across its start, else None."""
        start = len(BOM) if self._offset == 0 and chunk.startswith(BOM) else 0  # the BOM's last byte is not text
        match = _STRAY_QUOTE.search(memoryview(chunk)[start:] if start else chunk)
        found = None if match is None else self._offset + start + match.start()
        if found is None and self._last:
            across = _STRAY_QUOTE.search(self._last + chunk[:2])
            if across is not None:
                found = self._offset - len(self._last) + across.start()
        self._last = (self._last + chunk[-2:])[-2:]
        self._offset += len(chunk)
        return found


def line_at(open_raw: Callable[[], BinaryIO], offset: int, chunk_bytes: int = 1 << 20) -> int:
    """The line (1-based) holding byte `offset` of an object, counted again from its start: only when a file
    is rejected."""
    breaks = 0
    with open_raw() as handle:
        while offset > 0:
            chunk = handle.read(min(chunk_bytes, offset))
            if not chunk:
                break
            breaks += chunk.count(b"\n")
            offset -= len(chunk)
    return breaks + 1


class _QuoteCheckedReader:
    """A landed object's reader for pyarrow's CSV parser that raises FileFormatError at a stray quote."""

    def __init__(self, handle: BinaryIO, key: str, reopen: Callable[[], BinaryIO]):
        self._handle = handle
        self._key = key
        self._reopen = reopen
        self._quotes = StrayQuotes()
        self.closed = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        offset = self._quotes.find(chunk) if chunk else None
        if offset is not None:
            raise FileFormatError(self._key, STRAY_QUOTE_REASON, line_at(self._reopen, offset))
        return chunk

    def close(self) -> None:
        self.closed = True


def csv_record_count(open_raw: Callable[[], BinaryIO]) -> int | None:
    """The records of a CSV file, its header included and blank lines not (Python's csv module: a quoted
    value may hold line breaks); None when it is not well formed (csv_structure_problem says why). Streams
    the file; memory holds one record."""
    with open_raw() as handle:
        try:
            return sum(1 for record in csv.reader(_CheckedLines()(handle), strict=True) if record)
        except (_LineProblem, csv.Error):
            return None


class _LineProblem(Exception):
    def __init__(self, reason: str, line: int):
        super().__init__(reason)
        self.reason, self.line = reason, line


class _CheckedLines:
    """A binary file's lines as text for csv.reader, each checked: bounded in size, UTF-8, no NUL."""

    def __init__(self) -> None:
        self.number = 0

    def __call__(self, handle: BinaryIO) -> Iterator[str]:
        while True:
            line = handle.readline(MAX_RECORD_BYTES + 1)
            if not line:
                return
            self.number += 1
            if len(line) > MAX_RECORD_BYTES:
                raise _LineProblem(f"record too large: over {MAX_RECORD_BYTES >> 20} MB", self.number)
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise _LineProblem("not valid UTF-8 (corrupt file)", self.number) from None
            if "\x00" in text:
                raise _LineProblem("a NUL byte (corrupt file)", self.number)
            yield text.removeprefix("\ufeff") if self.number == 1 else text


def _csv_problem(err: Exception) -> str:
    """Python's csv error in words that never carry the record (its messages are fixed texts)."""
    text = str(err)
    if "unexpected end of data" in text or "EOF" in text:
        return "a quoted value is never closed (truncated or corrupt file)"
    if "field larger than field limit" in text:
        return f"record too large: over {MAX_RECORD_BYTES >> 20} MB"
    return clean_text(text, 120)


def count_lines(zone: LandingZone, key: str) -> int:
    """The number of lines of an object (line breaks + 1), counted while streaming it."""
    breaks = 0
    with zone.open(key) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            breaks += chunk.count(b"\n")
    return breaks + 1


def check_last_line_break(zone: LandingZone, key: str, size: int) -> None:
    """A format whose every record ends with a line break: a file whose last byte is not one was cut short
    (its last record would load with a shortened last value). Raises FileFormatError with its last line."""
    if size and zone.tail(key, 1) != b"\n":
        raise FileFormatError(key, "truncated: the last record has no line break (the file was cut short)",
                              count_lines(zone, key))


def _locate_csv_problem(zone: LandingZone, key: str, names: Sequence[str], null_values: Sequence[str],
                        err: Exception) -> tuple[str, int | None]:
    """Name the problem of a CSV file pyarrow rejected, and its line in the file."""
    problem = csv_structure_problem(zone, key, len(names))
    if problem is not None:
        return problem
    match = _GOT_COLUMNS.search(_arrow_reason(err))
    if match:
        return f"malformed CSV record: expected {match.group(1)} fields, found {match.group(2)}", None
    return f"unreadable CSV: {_arrow_reason(err)}", None


def _numbered(batches, key: str) -> Iterator[pa.RecordBatch]:
    """Append `_source_row` (1-based, counting records across batches). A timestamp column with a time
    zone (a Parquet writer's choice) becomes the UTC time it holds: the raw columns are UTC timestamps
    without a zone, and the text of a zoned value would carry an offset the warehouse ignores."""
    start = 1
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        rows = pa.array(range(start, start + n), pa.int64())
        start += n
        columns = [c.cast(pa.timestamp(c.type.unit)) if pa.types.is_timestamp(c.type) and c.type.tz else c
                   for c in batch.columns]
        yield pa.RecordBatch.from_arrays([*columns, rows], names=[*batch.schema.names, SOURCE_ROW])


# ISO 8601 timestamps as the sources write them (SOURCE_FORMATS.md: TMS "ISO 8601 in UTC", AppFlow
# `2026-11-22T10:15:30.000Z`), in the extended or the basic format, a date alone included.
_ISO_8601 = (r"^\d{4}-?\d\d-?\d\d(?:[T ]\d\d(?::?\d\d(?::?\d\d)?)?(?:[.,]\d+)?)?"
             r"(?:Z| ?(?:UTC|GMT|[+-]\d\d(?::?\d\d)?|[A-Za-z][A-Za-z_/+-]*))?$")
# One that names its zone, by an offset (+02:00, +0200, -05, +00:00, after a space too) or by a name other
# than Z, UTC or GMT (CET, Europe/Zurich): PostgreSQL and Redshift both ignore either in a value for a
# TIMESTAMP column (the raw columns' type) and load its wall time.
ZONED = r"[T ]\d\d(?::?\d\d){0,2}(?:[.,]\d+)? ?(?:[+-]\d\d(?::?\d\d)?|(?:[A-Za-z][A-Za-z_/+-]*))$"
_UTC_NAMED = r"(?:Z|UTC|GMT)$"
# To the extended format arrow's parser reads: basic date and time, the comma of a fraction, a space
# before the offset
_NORMALISE = ((r"^(\d{4})(\d\d)(\d\d)T", r"\1-\2-\3T"), (r"T(\d\d)(\d\d)(\d\d)", r"T\1:\2:\3"),
              (r"T(\d\d)(\d\d)([^\d:])", r"T\1:\2\3"), (r",(\d+)", r".\1"), (r" ([+-]\d\d(?::?\d\d)?)$", r"\1"))


def offsets_to_utc(key: str, data, source: SourceTable):
    """A table or record batch whose timestamp columns (text here) have each value that names its zone
    (`ZONED`) replaced by the UTC time it means (ISO 8601 text, no offset); other values as they are. A value
    that is not an ISO 8601 timestamp (`02/11/2026`: day or month first depends on the reader) or whose zone
    cannot be read (a zone name) quarantines the file (FileFormatError). Vectorised: one or two matches per
    timestamp column and batch; the common file names no zone and is left alone."""
    timestamps = {c.raw_name for c in source.columns if c.raw_type.startswith("timestamp")}
    for index, name in enumerate(data.schema.names):
        values = data.column(index)
        if name.lower() not in timestamps or not pa.types.is_string(values.type):  # any spelling of the field
            continue
        iso = pc.fill_null(pc.match_substring_regex(values, _ISO_8601), True)
        if not pc.all(iso).as_py():
            raise FileFormatError(key, f"field {name}: a value that is not an ISO 8601 timestamp", None)
        zoned = pc.and_(pc.fill_null(pc.match_substring_regex(values, ZONED), False),
                        pc.invert(pc.fill_null(pc.match_substring_regex(values, _UTC_NAMED), False)))
        if not pc.any(zoned).as_py():
            continue
        text = pc.if_else(zoned, values, pa.scalar(None, pa.string()))
        for pattern, replacement in _NORMALISE:
            text = pc.replace_substring_regex(text, pattern, replacement)
        try:
            utc = text.cast(pa.timestamp("us", "UTC"))
        except pa.ArrowInvalid:
            raise FileFormatError(key, f"field {name}: a timestamp whose time zone cannot be read", None) from None
        # Arrow's %S carries the fraction of the second (micro-seconds here)
        converted = pc.strftime(utc.cast(pa.timestamp("us")), format="%Y-%m-%dT%H:%M:%S")
        data = data.set_column(index, name, pc.if_else(zoned, converted, values))
    return data


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_ROW_AFTER = re.compile(r"((?:got|columns?) \d+)\s*:.*$")


def _arrow_reason(err: Exception) -> str:
    """pyarrow's reason, first line only, without the row it sometimes appends ("Expected 11 columns, got 3:
    <the row>") or any quoted text: a reason never carries a value."""
    lines = str(err).strip().splitlines()
    first = lines[0].strip() if lines else type(err).__name__
    return clean_text(_QUOTED.sub("'...'", _ROW_AFTER.sub(r"\1", first)), 160)


# --- Parquet --------------------------------------------------------------------------------------


def parquet_file(zone: LandingZone, key: str, handle: BinaryIO | None = None) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(handle or zone.open_seekable(key))
    except pa.ArrowException as err:
        raise FileFormatError(key, f"not a readable Parquet file: {_arrow_reason(err)}") from None


def parquet_info(zone: LandingZone, key: str, file_format: FileFormat) -> FileInfo:
    pf = parquet_file(zone, key)
    try:
        schema = pf.schema_arrow
    finally:
        pf.close()
    return FileInfo(tuple(schema.names), tuple(f.type for f in schema), file_format)


def parquet_batches(zone: LandingZone, key: str, handle: BinaryIO | None = None) -> Iterator[pa.RecordBatch]:
    pf = parquet_file(zone, key, handle)
    try:
        yield from _numbered(pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=True), key)
    except pa.ArrowException as err:
        raise FileFormatError(key, f"unreadable Parquet data: {_arrow_reason(err)}") from None
    finally:
        pf.close()


def sniff(zone: LandingZone, key: str, size: int) -> str:
    """'parquet' if the object starts with Parquet's magic bytes, 'empty' if blank, else 'json'."""
    if size == 0:
        return "empty"
    with zone.open(key) as handle:
        head = handle.read(4096)
    if head[:4] == b"PAR1":
        return "parquet"
    if not head.strip():
        return "empty" if size <= len(head) else "json"
    return "json"

