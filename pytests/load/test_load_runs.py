"""Runs: locally, consecutive CSV files of a batch with the same header go through ONE COPY
(loaders/warehouse/postgres.py, `_CsvRun`). Whatever the files hold, the outcome must be exactly that of
loading them one at a time: the same ledger (key, ETag, status, rows, reason, line) and the same raw rows
(`_source_key`, `_source_row`, every value). Each test loads the same landing twice, into two databases:
as the loader does, and with runs switched off (every file its own COPY), and compares.
"""

from __future__ import annotations

import pytest
from _load_helpers import query
from support import drop_database

from loaders.landing import LandingError, check_key
from loaders.load import load
from unify.local_warehouse import LocalWarehouse
from loaders.warehouse import postgres

ORDERS = "dms/azureware/dbo/Orders/"


def _landing(clean_landing, tmp_path, mutate) -> tuple[str, list[str]]:
    """The clean landing's WMS Orders CDC files (quoted values with commas, quotes and line breaks), each
    passed through mutate(index, bytes)."""
    keys = sorted(k for k in clean_landing.good if k.startswith(ORDERS) and "LOAD" not in k)
    assert len(keys) >= 8, keys  # enough files for runs with bad ones inside
    for i, key in enumerate(keys):
        path = tmp_path / "landing" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(mutate(i, clean_landing.objects[key].data))
    return str(tmp_path / "landing"), keys


def _load_and_read(settings, landing: str) -> tuple[list[tuple], list[tuple]]:
    load(settings, landing, sources=["azureware"])
    ledger = query(settings, "select object_key, etag, status, rows_loaded, reason, error_line "
                             "from unify_loader.load_ledger order by object_key, status")
    raw = query(settings, "select * from raw_azureware.orders order by _source_key, _source_row")
    columns = [c for (c,) in query(settings, "select column_name from information_schema.columns where "
                                             "table_schema = 'raw_azureware' and table_name = 'orders' "
                                             "order by ordinal_position")]
    first = [columns.index("_source_key"), columns.index("_source_row")]
    keep = first + [i for i, c in enumerate(columns)
                    if i not in first and c not in ("_batch_id", "_loaded_at")]  # these two differ by run
    return ledger, [tuple(row[i] for i in keep) for row in raw]


@pytest.fixture
def spy(monkeypatch):
    """Counts the run COPYs and how many of them the warehouse (or the stream) rejected."""
    calls = {"runs": 0, "failed": 0}
    original = postgres.PostgresWarehouse._copy_run

    def copy_run(self, *args, **kwargs):
        calls["runs"] += 1
        try:
            return original(self, *args, **kwargs)
        except postgres._RunFailed:
            calls["failed"] += 1
            raise

    monkeypatch.setattr(postgres.PostgresWarehouse, "_copy_run", copy_run)
    return calls


def _compare(warehouse, monkeypatch, landing: str) -> tuple[list[tuple], list[tuple]]:
    """(ledger, raw rows) of the loader as it is, after asserting they equal one-file-per-COPY's."""
    results = []
    for single in (False, True):
        name = f"test_runs_{'single' if single else 'run'}_{id(results)}"
        LocalWarehouse(warehouse).ensure_database(name)
        try:
            if single:
                monkeypatch.setattr(postgres, "_runs", lambda files: [[f] for f in files])
            results.append(_load_and_read(warehouse.with_database(name), landing))
        finally:
            drop_database(warehouse, name)
    (run_ledger, run_raw), (single_ledger, single_raw) = results
    assert run_ledger == single_ledger
    assert run_raw == single_raw
    return run_ledger, run_raw


def test_bad_files_inside_a_run_are_quarantined_with_their_own_line_and_the_rest_load_together(
        warehouse, clean_landing, tmp_path, monkeypatch, spy):
    # a middle file's last record loses its last field; the last file ends inside a quoted value
    truncated = 2
    last = len([k for k in clean_landing.good if k.startswith(ORDERS) and "LOAD" not in k]) - 1

    def mutate(i, data):
        if i == truncated:
            return data[:data.rstrip(b"\n").rfind(b",")] + b"\n"
        if i == last:
            return data + b'I,2026-11-02 10:00:00,"never closed\n'
        return data

    landing, keys = _landing(clean_landing, tmp_path, mutate)
    ledger, raw = _compare(warehouse, monkeypatch, landing)

    quarantined = {key: line for key, _etag, status, _rows, _reason, line in ledger if status == "quarantined"}
    assert set(quarantined) == {keys[truncated], keys[last]}
    expected_line = clean_landing.objects[keys[truncated]].data.rstrip(b"\n").count(b"\n") + 1
    assert quarantined[keys[truncated]] == expected_line  # the file's own line, not the run's
    loaded = {key for key, _e, status, _r, _re, _l in ledger if status == "loaded"}
    assert loaded == set(keys) - set(quarantined)
    assert {k for k, *_ in raw} == loaded and raw  # nothing of a quarantined file reached raw
    # the good files really went through runs: one rejected run per bad file, then one that succeeds
    assert spy["failed"] == 2 and spy["runs"] == 3, spy


@pytest.mark.parametrize("variant", ["CRLF, no final line break", "LF, no final line break"])
def test_runs_of_files_without_a_final_line_break_load_in_one_copy_across_any_chunking(
        warehouse, clean_landing, tmp_path, monkeypatch, spy, variant):
    """Chunk ends inside quoted values, in both streams; a last line without a break gets one in the
    file's own style, so the run's COPY is never rejected for mixing line ends."""
    monkeypatch.setattr(postgres._NumberedCsv, "CHUNK_BYTES", 37)
    monkeypatch.setattr(postgres._CsvRun, "CHUNK_BYTES", 101)

    def mutate(_i, data):
        data = data.rstrip(b"\n")
        return data.replace(b"\n", b"\r\n") if variant.startswith("CRLF") else data

    landing, keys = _landing(clean_landing, tmp_path, mutate)
    ledger, raw = _compare(warehouse, monkeypatch, landing)
    assert {status for _k, _e, status, *_ in ledger} == {"loaded"}
    assert sum(rows for _k, _e, _s, rows, *_ in ledger) == len(raw) > 0
    assert spy["failed"] == 0 and spy["runs"] >= 1, spy


@pytest.mark.parametrize("key", ["", "/dms/a.csv", "dms/a.csv/", "dms\\a.csv", "dms/a\x00.csv", "..", "../a.csv",
                                 "dms/../a.csv", "dms/.."])
def test_a_key_that_is_not_a_plain_relative_path_is_refused(key):
    with pytest.raises(LandingError):
        check_key(key)


@pytest.mark.parametrize("key", ["dms/azureware/dbo/Orders/20261101-1.csv", "tms/x/dt=2026-11-01/a..b.csv",
                                 "a b/ü,\"%.csv"])
def test_a_plain_relative_key_is_accepted(key):
    assert check_key(key) == key
