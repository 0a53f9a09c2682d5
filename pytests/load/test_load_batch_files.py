"""Files of one batch: each file is one COPY under its own savepoint (loaders/warehouse/postgres.py), so a
bad file is quarantined with its own line and reason while the files around it load, whatever their line
ends; and object keys are plain relative paths."""

from __future__ import annotations

import pytest
from _load_helpers import query

from loaders.landing import LandingError, check_key
from loaders.load import EXIT_QUARANTINED, load

ORDERS = "dms/azureware/dbo/Orders/"


def _landing(clean_landing, tmp_path, mutate) -> tuple[str, list[str]]:
    """The clean landing's WMS Orders CDC files (quoted values with commas, quotes and line breaks), each
    passed through mutate(index, bytes)."""
    keys = sorted(k for k in clean_landing.good if k.startswith(ORDERS) and "LOAD" not in k)
    assert len(keys) >= 8, keys  # enough files for bad ones in the middle
    for i, key in enumerate(keys):
        path = tmp_path / "landing" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(mutate(i, clean_landing.objects[key].data))
    return str(tmp_path / "landing"), keys


def test_bad_files_in_a_batch_are_quarantined_with_their_own_line_and_the_rest_load(database, clean_landing,
                                                                                   tmp_path):
    # a middle file's last record loses its last field (the line still ends: a record short of fields);
    # the last file ends inside a quoted value, after a line break (cut inside a multi-line address)
    short = 2

    def mutate(i, data):
        if i == short:
            return data[:data.rstrip(b"\n").rfind(b",")] + b"\n"
        return data

    landing, keys = _landing(clean_landing, tmp_path, mutate)
    last = keys[-1]
    path = tmp_path / "landing" / last
    path.write_bytes(path.read_bytes() + b'I,2026-11-02 10:00:00,"never closed\n')
    report = load(database, landing, sources=["azureware"])
    assert report.exit_code == EXIT_QUARANTINED
    quarantined = {q.key: q for q in report.quarantined}
    assert set(quarantined) == {keys[short], last}
    short_data = clean_landing.objects[keys[short]].data
    assert quarantined[keys[short]].line == short_data.rstrip(b"\n").count(b"\n") + 1  # the file's own line
    fields = len(clean_landing.objects[keys[short]].header)
    assert quarantined[keys[short]].reason == f"malformed CSV record: {fields - 1} fields where the header has " \
                                              f"{fields} (truncated or corrupt file)"
    assert quarantined[last].reason == "malformed CSV: a quoted value is never closed (truncated or corrupt file)"
    loaded = {k for (k,) in query(database, "select distinct _source_key from raw_azureware.orders")}
    assert loaded == set(keys) - set(quarantined)  # nothing of a quarantined file reached raw


@pytest.mark.parametrize("variant", ["CRLF", "LF", "mixed: CRLF and LF files"])
def test_files_with_any_line_ends_load_in_one_batch(database, clean_landing, tmp_path, variant):
    def mutate(i, data):
        crlf = variant == "CRLF" or (variant.startswith("mixed") and i % 2)
        return data.replace(b"\n", b"\r\n") if crlf else data

    landing, keys = _landing(clean_landing, tmp_path, mutate)
    report = load(database, landing, sources=["azureware"])
    assert report.quarantined == [] and report.files == len(keys)
    assert len(report.batches) == 1
    counts = dict(query(database, "select _source_key, count(*) from raw_azureware.orders group by 1"))
    assert counts == {k: len(clean_landing.objects[k].records) for k in keys if clean_landing.objects[k].records}


@pytest.mark.parametrize("key", ["", "/dms/a.csv", "dms/a.csv/", "dms\\a.csv", "dms/a\x00.csv", "..", "../a.csv",
                                 "dms/../a.csv", "dms/.."])
def test_a_key_that_is_not_a_plain_relative_path_is_refused(key):
    with pytest.raises(LandingError):
        check_key(key)


@pytest.mark.parametrize("key", ["dms/azureware/dbo/Orders/20261101-1.csv", "tms/x/dt=2026-11-01/a..b.csv",
                                 "a b/ü,\"%.csv"])
def test_a_plain_relative_key_is_accepted(key):
    assert check_key(key) == key
