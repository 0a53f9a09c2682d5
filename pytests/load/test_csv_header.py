"""read_csv_header reads a page first and more only while no line break came: the header's limit
(HEADER_MAX_BYTES) and the empty-file verdict stay what they were with one large read."""

from __future__ import annotations

import pytest

from loaders.landing import LocalLanding
from loaders.sources.base import HEADER_MAX_BYTES, FileFormatError, read_csv_header

KEY = "tms/shipments/dt=2026-11-01/shipments-20261101.csv"


def _header(tmp_path, data: bytes):
    path = tmp_path / KEY
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return read_csv_header(LocalLanding(tmp_path), KEY)


@pytest.mark.parametrize("extra", [0, 100 << 10, 400 << 10])
def test_a_header_without_a_line_break_in_its_first_mb_is_refused(tmp_path, extra):
    # a header of exactly the limit and ones whose line break comes after it, within what reads can overshoot
    data = b"a" * (HEADER_MAX_BYTES + extra) + b"\nx\n"
    with pytest.raises(FileFormatError, match="header row too large"):
        _header(tmp_path, data)


def test_a_header_longer_than_the_first_page_is_read_whole(tmp_path):
    names = [f"column_{n:05d}" for n in range(1000)]  # ~13 KB: four reads' worth
    assert _header(tmp_path, ",".join(names).encode() + b"\r\n1\n") == names


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n" * 3000])
def test_a_file_of_nothing_but_blank_lines_is_empty(tmp_path, data):
    with pytest.raises(FileFormatError, match="empty file"):
        _header(tmp_path, data)


def test_blank_lines_before_a_header_are_not_an_empty_file(tmp_path):
    # past the first page of blank lines there is content: the blank first line is the header (no names,
    # which the schema check refuses), never "empty file"
    assert _header(tmp_path, b"\n" * 10_000 + b"a,b\n1,2\n") == []
