"""Diagnosing a rejected file streams it: the loader's peak memory (a child process's own peak RSS) with a
rejected file stays within twice what the same file needs when it is valid, locally and on the Redshift
path (whose diagnosis reads the object from S3). A ratio of memory, never a time.

The files are written here in DMS's documented CSV format (dbo.OrderLines, ~40 MB, one value or one record
broken near the end, where a diagnosis has read nearly everything before it finds the problem).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import pytest
from _load_helpers import ROOT

HEADER = "Op,dms_commit_ts,OrderLineId,OrderId,LineNumber,ProductId,QtyOrdered,QtyPicked,QtyShipped,ModifiedAt," \
         "dms_change_seq\n"
ROWS = 450_000
KEY = "dms/azureware/dbo/OrderLines/LOAD00000001.csv"


def _orderlines(broken: str | None = None) -> bytes:
    """~40 MB of DMS full-load records; `broken`: 'value' (a letter in QtyOrdered) or 'record' (a field
    missing), 100 records before the end."""
    lines = [HEADER]
    for n in range(1, ROWS + 1):
        qty = "x" if broken == "value" and n == ROWS - 100 else str(n % 40 + 1)
        line = (f"I,2026-11-01 00:00:00.000000,{n},{n // 3 + 1},{n % 3 + 1},{n % 5000 + 1},{qty},{qty},{qty},"
                f"2026-11-01 08:00:00.{n % 1000000:06d},\n")
        if broken == "record" and n == ROWS - 100:
            line = line.replace(f",{n % 5000 + 1},", ",", 1)
        lines.append(line)
    return "".join(lines).encode()


# The child's own peak RSS: VmHWM of its memory map (getrusage's ru_maxrss would also count the parent's
# pages: Linux carries the high-water mark across fork and exec).
PEAK = textwrap.dedent("""
    def peak_kb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
""")

LOCAL_CHILD = PEAK + textwrap.dedent("""
    import json, sys
    from dataclasses import replace
    from loaders.config import load_settings
    from loaders.load import LoaderConfig, load
    settings = load_settings().with_database(sys.argv[2])
    report = load(settings, sys.argv[1], config=replace(LoaderConfig.from_env(), quiet_s=0.0))
    print(json.dumps({"peak_kb": peak_kb(), "rows": report.rows,
                      "reasons": [q.reason for q in report.quarantined], "error": report.error}))
""")

REDSHIFT_CHILD = PEAK + textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[4])
    import boto3
    from dataclasses import replace
    from _fake_redshift_data import Answer, FakeRedshiftData
    from loaders.config import load_settings
    from loaders.load import LoaderConfig, load
    from loaders.warehouse.base import contract_types
    from loaders.source_tables import get_table
    from loaders.warehouse.redshift import DataApi, RedshiftConfig, RedshiftWarehouse
    url, bad = sys.argv[1], sys.argv[2] == "bad"
    table = get_table("azureware", "OrderLines")
    svv = json.loads(sys.argv[3])
    batches, decided = [], []
    def answer(sqls, params):
        sql = sqls[0]
        if len(sqls) > 1:
            decided.extend(s for s in sqls if "'quarantined'" in s and s.startswith("INSERT INTO \\"unify_loader\\".\\"load_ledger\\""))
            batches.extend(s for s in sqls if s.startswith("COPY"))
            if bad and len(batches) == 1 and any(s.startswith("COPY") for s in sqls):
                return Answer("FAILED", "Load into table failed", next(i for i, s in enumerate(sqls) if s.startswith("COPY")))
            return Answer("FINISHED")
        if "sys_load_error_detail" in sql:
            return Answer(rows=[[params["Parameters"][0]["value"], 449901, "qtyordered", 1207,
                                 "Invalid digit, Value 'x', Pos 0, Type: Integer"]])
        if "svv_columns" in sql and ":table" in sql:
            return Answer(rows=svv)
        return Answer(rows=[])
    config = RedshiftConfig("unify", "arn:aws:iam::123456789012:role/copy", url.rsplit("/", 1)[0] + "/_unify/m",
                            workgroup="glc-serverless", secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:x", poll_s=0.01)
    warehouse = RedshiftWarehouse(config, DataApi(FakeRedshiftData(answer), config, sleep=lambda s: None),
                                  boto3.client("s3"))
    settings = load_settings()
    report = load(settings, url, warehouse=warehouse, config=replace(LoaderConfig.from_env(), quiet_s=0.0))
    print(json.dumps({"peak_kb": peak_kb(), "decided": decided,
                      "error": report.error}))
""")


def _child(script: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    return {"valid": _orderlines(), "value": _orderlines("value"), "record": _orderlines("record")}


def test_local_diagnosis_of_a_rejected_file_streams_it(warehouse, files, tmp_path):
    from support import drop_database

    from unify.local_warehouse import LocalWarehouse

    assert len(files["valid"]) > 35 << 20
    peaks = {}
    for case, data in files.items():
        path = tmp_path / case / KEY
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        name = f"test_memory_{case}"
        LocalWarehouse(warehouse).ensure_database(name)
        try:
            got = _child(LOCAL_CHILD, str(tmp_path / case), name)
        finally:
            drop_database(warehouse, name)
        assert got["error"] is None
        peaks[case] = got["peak_kb"]
        if case == "valid":
            assert got["rows"] == ROWS and got["reasons"] == []
        elif case == "value":
            assert got["rows"] == 0 and got["reasons"] == ["column qtyordered: not a valid integer"]
        else:
            assert got["rows"] == 0 and got["reasons"] == [
                "malformed CSV record: 10 fields where the header has 11 (truncated or corrupt file)"]
    print("peak RSS (MB):", {k: round(v / 1024) for k, v in peaks.items()})
    assert peaks["value"] <= 2 * peaks["valid"], peaks
    assert peaks["record"] <= 2 * peaks["valid"], peaks


def test_redshift_diagnosis_of_a_rejected_file_streams_it_from_s3(files, s3_bucket):
    from loaders.source_tables import get_table
    from loaders.warehouse.base import contract_types

    sys.path.insert(0, str(Path(__file__).parent))
    from test_load_redshift import svv_rows

    client = boto3.client("s3")
    svv = json.dumps(svv_rows(dict(contract_types(get_table("azureware", "OrderLines")))))
    peaks = {}
    for case in ("valid", "record"):
        client.put_object(Bucket=s3_bucket, Key=f"{case}/{KEY}", Body=files[case])
        got = _child(REDSHIFT_CHILD, f"s3://{s3_bucket}/{case}", "bad" if case != "valid" else "good", svv,
                     str(Path(__file__).parent))
        assert got["error"] is None, got
        peaks[case] = got["peak_kb"]
        if case == "record":  # the COPY error is overridden by the file's own diagnosis, read from S3 in a stream
            [quarantine] = got["decided"]
            assert "'malformed CSV record: 10 fields where the header has 11 (truncated or corrupt file)', " \
                   f"{ROWS - 100 + 1}, " in quarantine
            assert "Invalid digit" not in quarantine and "'x'" not in quarantine
        else:
            assert got["decided"] == []
    print("peak RSS (MB):", {k: round(v / 1024) for k, v in peaks.items()})
    assert peaks["record"] <= 2 * peaks["valid"], peaks
