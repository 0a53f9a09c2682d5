"""Which named build a frequent cycle runs (unify/cycle_selection.py): the rule, and the marks on PostgreSQL
(loaded by the real loader from hand-written deliveries). The Redshift statements are checked in
pytests/load/test_load_redshift.py; the whole cycle's use of it in test_cycle.py (the `cycles` scenario: a
cycle with only a WMS delivery builds frequent_wms; the cycle after a failed one builds everything)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from loaders.load import EXIT_OK, EXIT_QUARANTINED, load
from unify import cycle_selection
from unify.cycle_selection import FULL, WMS_ONLY, WMS_RAW_SCHEMA, Selection, choose

T = datetime(2026, 12, 6, 12, 0, 0)


def test_only_new_wms_data_or_nothing_new_builds_the_wms_part():
    marks = {WMS_RAW_SCHEMA: T, "raw_tms": T, "raw_salesforce": T}
    assert choose({WMS_RAW_SCHEMA: T + timedelta(minutes=5), "raw_tms": T, "raw_salesforce": T}, marks).selector \
        == WMS_ONLY
    assert choose(dict(marks), marks).selector == WMS_ONLY  # nothing new: the "now" reports still move
    # a source with no batch yet, nor a mark, does not count as new
    assert choose({WMS_RAW_SCHEMA: T}, {WMS_RAW_SCHEMA: T}).selector == WMS_ONLY


def test_new_data_from_another_source_or_no_marks_builds_everything():
    marks = {WMS_RAW_SCHEMA: T, "raw_tms": T, "raw_salesforce": T}
    later = T + timedelta(microseconds=1)  # stamps rise by 1 µs at least: no tolerance on the comparison
    tms = choose({WMS_RAW_SCHEMA: T, "raw_tms": later, "raw_salesforce": T}, marks)
    assert (tms.selector, tms.reason) == (FULL, "new data in raw_tms")
    new_source = choose({WMS_RAW_SCHEMA: T, "raw_tms": T, "raw_salesforce": T, "raw_newsystem": T}, marks)
    assert (new_source.selector, new_source.reason) == (FULL, "new data in raw_newsystem")
    assert choose({WMS_RAW_SCHEMA: T}, {}).selector == FULL  # a first cycle, or marks never recorded


def test_a_partial_build_records_only_what_it_covers():
    newest = {WMS_RAW_SCHEMA: T, "raw_tms": T}
    assert Selection(WMS_ONLY, "", newest).covered() == {WMS_RAW_SCHEMA: T}
    assert Selection(FULL, "", newest).covered() == newest
    assert Selection("nightly", "", newest).covered() == newest


FEEDS = Path(__file__).resolve().parents[1] / "feeds" / "landing"  # hand-written deliveries


def _land(root: Path, key: str) -> None:
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes((FEEDS / key).read_bytes())


def test_marks_on_postgresql_follow_the_loads_per_dbt_schema(database, tmp_path, monkeypatch):
    monkeypatch.delenv("UNIFY_LOAD_TARGET", raising=False)
    monkeypatch.setenv("UNIFY_LOAD_QUIET_S", "0")
    root = tmp_path / "landing"
    _land(root, "dms/azureware/dbo/Orders/20261102-235900123.csv")
    _land(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv")
    assert load(database, str(root)).exit_code == EXIT_OK
    first = cycle_selection.select(database, FULL, "analytics")
    assert (first.selector, set(first.newest)) == (FULL, {WMS_RAW_SCHEMA, "raw_tms"})
    assert cycle_selection.record(database, "analytics", first) == first.newest

    _land(root, "dms/azureware/dbo/Orders/20261105-0100001111.csv")  # the WMS alone delivers
    assert load(database, str(root)).exit_code == EXIT_OK
    wms = cycle_selection.select(database, FULL, "analytics")
    assert wms.selector == WMS_ONLY and wms.newest[WMS_RAW_SCHEMA] > first.newest[WMS_RAW_SCHEMA]
    assert cycle_selection.record(database, "analytics", wms) == {WMS_RAW_SCHEMA: wms.newest[WMS_RAW_SCHEMA]}
    # another dbt schema on the same raw tables has its own marks: none yet
    assert cycle_selection.select(database, FULL, "dev_someone").selector == FULL
    # TMS deliveries that write no row are nothing new: a damaged extract (quarantined) and a day without
    # carrier changes (the header alone)
    header = "mode,carrier_id,carrier_name,scac,updated_at"
    (root / "tms/carriers/dt=2026-11-03").mkdir(parents=True)
    (root / "tms/carriers/dt=2026-11-03/carriers-20261103.csv").write_text(
        f"{header}\r\nROAD,C9,\"Unclosed quote,KHLT,2026-11-03T06:00:00Z\r\n")
    (root / "tms/carriers/dt=2026-11-04").mkdir(parents=True)
    (root / "tms/carriers/dt=2026-11-04/carriers-20261104.csv").write_text(header + "\r\n")
    report = load(database, str(root))
    assert report.exit_code == EXIT_QUARANTINED and (report.new, len(report.quarantined)) == (2, 1)
    assert cycle_selection.select(database, FULL, "analytics").selector == WMS_ONLY

    _land(root, "tms/carriers/dt=2026-11-05/carriers-20261105.csv")  # then the TMS
    assert load(database, str(root)).exit_code == EXIT_OK
    tms = cycle_selection.select(database, FULL, "analytics")
    assert (tms.selector, tms.reason) == (FULL, "new data in raw_tms")
    # the nightly is never narrowed, and records every raw schema
    nightly = cycle_selection.select(database, "nightly", "analytics")
    assert nightly.selector == "nightly" and cycle_selection.record(database, "analytics", nightly) == nightly.newest
    assert cycle_selection.select(database, FULL, "analytics").selector == WMS_ONLY


def test_unreadable_marks_build_everything(monkeypatch):
    def broken(_settings):
        raise ConnectionError("the warehouse is down")

    monkeypatch.setattr(cycle_selection, "_warehouse", broken)
    chosen = cycle_selection.select(None, FULL, "analytics")  # type: ignore[arg-type]
    assert chosen.selector == FULL and "could not be read (ConnectionError)" in chosen.reason
    assert chosen.covered() == {}  # nothing read, nothing recorded after the build
    assert cycle_selection.record(None, "analytics", Selection(FULL, "", {WMS_RAW_SCHEMA: T})) == {}  # type: ignore
