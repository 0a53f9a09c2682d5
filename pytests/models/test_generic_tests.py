"""The project's generic tests (tests/generic/) fail when they should and pass when they should.

A throw-away dbt project holds the real generic test files and a good and a bad fixture for each;
`dbt build` must fail exactly the tests on the bad fixtures, with the failing-row counts the
fixtures were built to produce, and pass on the good ones.

The volume and load-ledger fixtures are written out day by day and object by object below, with the
reason each row passes or fails next to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from unify.dbt_runner import run_dbt

ROOT = Path(__file__).resolve().parents[2]


def _daily_rows(rows_per_day: dict[int, int]) -> str:
    """A model with rows_per_day[d] rows on 2026-01-d (a day missing from the dict has none)."""
    return " union all ".join(
        f"select cast('2026-01-{day:02d} 10:00:00' as timestamp) + n * interval '1 second' as event_at "
        f"from generate_series(1, {count}) as n" for day, count in sorted(rows_per_day.items()))


# Load-ledger rows: (object_key, etag, status, raw_table, recorded_at).
DMS = "dms/azureware/dbo/OrderLines/"
SF = "appflow/salesforce/salesforce-account/"
TMS = "tms/shipments/dt=2026-11-0{0}/shipments-2026110{0}.csv"
_FILLER = [(f"{DMS}20261101-{h:02d}0000000.csv", f"e{h}", "loaded", "raw_azureware.order_lines",
            f"2026-11-01 {h:02d}:05:00") for h in range(10)]  # ten good files: the day's other deliveries
LEDGER_GOOD = _FILLER + [
    # a DMS file cut short, re-sent complete under a new time-named key 45 s later (same load)
    (f"{DMS}20261101-120000123.csv", "t1", "quarantined", "raw_azureware.order_lines", "2026-11-01 12:05:00"),
    (f"{DMS}20261101-120045123.csv", "t2", "loaded", "raw_azureware.order_lines", "2026-11-01 12:05:00"),
    # a failed AppFlow execution, retried as a new execution of the same flow
    (f"{SF}exec-a/part-0000", "a1", "quarantined", "raw_salesforce.accounts", "2026-11-01 23:10:00"),
    (f"{SF}exec-b/part-0000", "b1", "loaded", "raw_salesforce.accounts", "2026-11-01 23:10:00"),
    # a TMS extract refused, then written again under its key with corrected bytes (a new ETag)
    (TMS.format(1), "s1", "quarantined", "raw_tms.shipments", "2026-11-02 01:00:00"),
    (TMS.format(1), "s2", "loaded", "raw_tms.shipments", "2026-11-02 02:00:00"),
    # the same object quarantined twice (a retry that failed again) and finally loaded by a retry
    (f"{DMS}20261101-130000000.csv", "r1", "quarantined", "raw_azureware.order_lines", "2026-11-01 13:05:00"),
    (f"{DMS}20261101-130000000.csv", "r1", "quarantined", "raw_azureware.order_lines", "2026-11-01 14:05:00"),
    (f"{DMS}20261101-130000000.csv", "r1", "loaded", "raw_azureware.order_lines", "2026-11-01 15:05:00"),
]
LEDGER_BAD = _FILLER + [
    # 1. a DMS file whose next file came 30 minutes later: not a re-send (window 10 minutes)
    (f"{DMS}20261101-120000123.csv", "t1", "quarantined", "raw_azureware.order_lines", "2026-11-01 12:05:00"),
    (f"{DMS}20261101-123000123.csv", "t2", "loaded", "raw_azureware.order_lines", "2026-11-01 12:35:00"),
    # 2. a TMS extract refused and never delivered again (the next day's is another key)
    (TMS.format(1), "s1", "quarantined", "raw_tms.shipments", "2026-11-02 01:00:00"),
    (TMS.format(2), "s2", "loaded", "raw_tms.shipments", "2026-11-02 01:00:00"),
    # 3. a TMS extract loaded, then corrected under its key, and the correction refused
    (TMS.format(3), "u1", "loaded", "raw_tms.shipments", "2026-11-02 01:00:00"),
    (TMS.format(3), "u2", "quarantined", "raw_tms.shipments", "2026-11-02 03:00:00"),
    # 4. a failed AppFlow execution with only an earlier execution of the flow loaded
    (f"{SF}exec-old/part-0000", "o1", "loaded", "raw_salesforce.accounts", "2026-10-31 23:10:00"),
    (f"{SF}exec-a/part-0000", "a1", "quarantined", "raw_salesforce.accounts", "2026-11-01 23:10:00"),
]
# quarantine_share_within (max_share 0.2) counts, per raw table, the objects recorded in the day before
# the ledger's newest record (11-02 03:00, so from 11-01 03:00) and those of them lost to quarantine:
# raw_azureware.order_lines 1 lost of 9 (fillers 03..09, t1, t2: 0.11, passes); raw_tms.shipments 2 of 4
# (s1, u2 of s1, s2, u1, u2: 0.5, fails); raw_salesforce.accounts 1 of 1 (a1; o1 is older: 1.0, fails).
# In LEDGER_GOOD nothing is lost. So 2 failing tables.


def _ledger(rows: list[tuple]) -> str:
    return " union all ".join(
        f"select cast('{key}' as varchar(1024)) as object_key, cast('{etag}' as varchar(128)) as etag, "
        f"cast('{status}' as varchar(16)) as status, cast('{table}' as varchar(256)) as raw_table, "
        f"cast(null as varchar(4096)) as reason, cast('{at}' as timestamp) as recorded_at"
        for key, etag, status, table, at in rows)


MODELS = {
    # composite key: (1, a) twice in the bad fixture
    "keys_good": "select 1 as k1, 'a' as k2 union all select 1, 'b' union all select 2, 'a'",
    "keys_bad": "select 1 as k1, 'a' as k2 union all select 1, 'a' union all select 2, 'a'",
    # expression: one row breaks margin = revenue - cost, one has a null
    "money_good": "select 10.0 as revenue, 4.0 as cost, 6.0 as margin",
    "money_bad": "select 10.0 as revenue, 4.0 as cost, 6.0 as margin "
                 "union all select 10.0, 4.0, 5.0 union all select 10.0, null, 6.0",
    # SCD2 windows: entity 1 overlaps, entity 2 has a reversed window
    "versions_good": "select 1 as k, cast('2026-01-01' as timestamp) as vf, cast('2026-02-01' as timestamp) as vt, "
                     "false as cur union all select 1, cast('2026-02-01' as timestamp), "
                     "cast('9999-12-31' as timestamp), true",
    "versions_bad": "select 1 as k, cast('2026-01-01' as timestamp) as vf, cast('2026-03-01' as timestamp) as vt, "
                    "true as cur union all select 1, cast('2026-02-01' as timestamp), "
                    "cast('9999-12-31' as timestamp), true "
                    "union all select 2, cast('2026-05-01' as timestamp), cast('2026-04-01' as timestamp), false",
    # daily rows (event_at) on 2026-01-01..20: the newest day (01-20) may be partial and is never judged;
    # judged are 01-17..19, each against the average of the 14 days before it
    "volume_good": _daily_rows({**{d: 100 for d in range(1, 20)}, 20: 5}),
    # 01-17: no rows at all (0 vs 100); 01-18: 10 vs avg 92.9 (ratio 0.11 < 0.25); 01-19: 1000 vs avg 86.4
    # (ratio 11.6 > 4): three failing days
    "volume_bad": _daily_rows({**{d: 100 for d in range(1, 17)}, 18: 10, 19: 1000, 20: 5}),
    # a young table (first row 01-15): 01-17..19 have 2..4 days of history, under the 7 required
    "volume_young": _daily_rows({15: 100, 16: 100, 17: 100, 18: 2, 19: 100, 20: 100}),
    # a quiet table (5 rows a day, average under 20): a day without rows is not an anomaly
    "volume_quiet": _daily_rows({**{d: 5 for d in range(1, 17)}, 18: 5, 19: 5, 20: 5}),
    "ledger_good": _ledger(LEDGER_GOOD),
    "ledger_bad": _ledger(LEDGER_BAD),
}

SCHEMA_YML = """
version: 2
models:
{models}
"""
TESTS = {
    "keys": "      - unique_combination_of_columns:\n          arguments:\n            combination_of_columns: [k1, k2]",
    "money": "      - expression_is_true:\n          arguments:\n            expression: \"margin = revenue - cost\"",
    "versions": ("      - scd2_no_overlap:\n          arguments:\n            entity_key: k\n            valid_from: vf\n"
                 "            valid_to: vt\n      - scd2_one_current:\n          arguments:\n"
                 "            entity_key: k\n            is_current: cur"),
    "volume": "      - daily_rows_within_trailing_average:\n          arguments:\n            date_column: event_at",
    "ledger": ("      - quarantined_files_redelivered\n      - quarantine_share_within:\n          arguments:\n"
               "            max_share: 0.2"),
}
# failing rows each test must return on the bad fixture
EXPECTED_FAILURES = {
    "unique_combination_of_columns_keys_bad": 1,
    "expression_is_true_money_bad": 2,
    "scd2_no_overlap_versions_bad": 2,
    "scd2_one_current_versions_bad": 2,
    "daily_rows_within_trailing_average_volume_bad": 3,
    "quarantined_files_redelivered_ledger_bad": 4,
    "quarantine_share_within_ledger_bad": 2,
}


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "generic_tests_project"
    (project / "models").mkdir(parents=True)
    shutil.copytree(ROOT / "tests" / "generic", project / "macros")
    # the ledger tests call unify.ledger_quarantines: the fixture project is named unify
    shutil.copy(ROOT / "macros" / "testing" / "ledger_quarantines.sql", project / "macros")
    (project / "dbt_project.yml").write_text(
        "name: unify\nversion: '1.0'\nconfig-version: 2\nprofile: unify\n"
        "macro-paths: [macros]\nmodels:\n  unify:\n    +materialized: table\n"
    )
    shutil.copy(ROOT / "profiles.yml", project / "profiles.yml") if (ROOT / "profiles.yml").exists() else \
        shutil.copy(ROOT / "profiles.yml.example", project / "profiles.yml")
    entries = []
    for name, sql in MODELS.items():
        (project / "models" / f"{name}.sql").write_text(sql + "\n")
        entries.append(f"  - name: {name}\n    data_tests:\n{TESTS[name.rsplit('_', 1)[0]]}")
    (project / "models" / "_fixtures.yml").write_text(SCHEMA_YML.format(models="\n".join(entries)))
    return project


def test_each_generic_test_fails_on_its_bad_fixture_and_passes_on_its_good_one(raw_database, tmp_path: Path):
    project = _project(tmp_path)
    settings = raw_database.__class__(**{**raw_database.__dict__, "root": project})
    target = tmp_path / "target"
    proc = run_dbt(["build"], settings, target_path=target, capture=True, check=False)
    results = json.loads((target / "run_results.json").read_text())["results"]
    tests = {r["unique_id"].split(".")[2]: r for r in results if r["unique_id"].startswith("test.")}
    assert len(tests) == 16, (sorted(tests), proc.stdout[-3000:])
    for name, result in tests.items():
        bad = next((prefix for prefix in EXPECTED_FAILURES if name.startswith(prefix)), None)
        if bad:
            assert result["status"] == "fail", (name, result["status"], result.get("message"))
            assert result["failures"] == EXPECTED_FAILURES[bad], (name, result["failures"])
        else:
            assert result["status"] == "pass", (name, result["status"], result.get("message"))
