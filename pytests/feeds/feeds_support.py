"""The hand-written landing zone of pytests/feeds (landing/, described case by case in CASES.md).

Everything under landing/ is written by hand in the formats of ../shared/SOURCE_FORMATS.md, with choices
the simulator does not make. The one binary file, the DMS OrderLines table in Parquet, cannot be written
by hand: `write_order_lines_parquet` writes it with pyarrow from the literal table ORDER_LINES below, in
the types the DMS documentation gives (INT4 -> int32, BIGINT -> int64, DATETIME -> timestamp[us]; the
`dms_commit_ts` column a string, as DMS writes TimestampColumnName).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import support
from loaders.config import Settings
from unify.dbt_runner import dbt_env, run_dbt
from unify.local_warehouse import LocalWarehouse

ROOT = Path(__file__).resolve().parents[2]
LANDING = Path(__file__).resolve().parent / "landing"
# "Now" of every build here: after the last delivery (2026-11-07) and the last TMS extract (2026-11-08).
AS_OF_AT = "2026-11-10 00:00:00"
DBT_ENV = {"UNIFY_AS_OF_AT": AS_OF_AT, "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0"}

# dbo.OrderLines change records, in three CDC files (one per day), as DMS writes them:
# (file, Op, dms_commit_ts, OrderLineId, OrderId, LineNumber, ProductId, QtyOrdered, QtyPicked, QtyShipped,
#  ModifiedAt, dms_change_seq). An update carries the row after the change; a delete the row before it.
_D2, _D3, _D4 = "20261102-235900500", "20261103-235900600", "20261104-235900700"
ORDER_LINES = [
    # 11-02: the lines of orders 70001 (two lines), 70002, 70101 and 70006 are created, nothing picked yet
    (_D2, "I", "2026-11-02 08:00:00.000000", 800001, 70001, 1, 9001, 2, 0, 0, "2026-11-02 08:00:00", "20261102080000000000000000000000101"),
    (_D2, "I", "2026-11-02 08:00:00.000000", 800002, 70001, 2, 9002, 1, 0, 0, "2026-11-02 08:00:00", "20261102080000000000000000000000102"),
    (_D2, "I", "2026-11-02 09:00:00.000000", 800003, 70002, 1, 9001, 4, 0, 0, "2026-11-02 09:00:00", "20261102090000000000000000000000103"),
    (_D2, "I", "2026-11-02 14:00:00.000000", 800101, 70101, 1, 9101, 2, 0, 0, "2026-11-02 14:00:00", "20261102140000000000000000000000104"),
    (_D2, "I", "2026-11-02 15:00:00.000000", 800007, 70006, 1, 9001, 1, 0, 0, "2026-11-02 15:00:00", "20261102150000000000000000000000105"),
    # 11-03: 70001, 70101, 70002, 70102 ship in full; 70003, 70004, 70005 are created; 70006's line is
    # deleted with its order
    (_D3, "U", "2026-11-03 00:38:00.000000", 800001, 70001, 1, 9001, 2, 2, 2, "2026-11-03 00:38:00", "20261103003800000000000000000000106"),
    (_D3, "U", "2026-11-03 00:38:00.000000", 800002, 70001, 2, 9002, 1, 1, 1, "2026-11-03 00:38:00", "20261103003800000000000000000000107"),
    (_D3, "I", "2026-11-03 09:00:00.000000", 800102, 70102, 1, 9101, 1, 0, 0, "2026-11-03 09:00:00", "20261103090000000000000000000000108"),
    (_D3, "U", "2026-11-03 10:00:00.000000", 800101, 70101, 1, 9101, 2, 2, 2, "2026-11-03 10:00:00", "20261103100000000000000000000000109"),
    (_D3, "I", "2026-11-03 10:00:00.000000", 800004, 70003, 1, 9002, 5, 0, 0, "2026-11-03 10:00:00", "20261103100000000000000000000000110"),
    (_D3, "I", "2026-11-03 11:00:00.000000", 800005, 70004, 1, 9001, 1, 0, 0, "2026-11-03 11:00:00", "20261103110000000000000000000000111"),
    (_D3, "I", "2026-11-03 11:30:00.000000", 800006, 70005, 1, 9002, 2, 0, 0, "2026-11-03 11:30:00", "20261103113000000000000000000000112"),
    (_D3, "D", "2026-11-03 12:00:00.000000", 800007, 70006, 1, 9001, 1, 0, 0, "2026-11-02 15:00:00", "20261103120000000000000000000000113"),
    (_D3, "U", "2026-11-03 14:00:00.000000", 800003, 70002, 1, 9001, 4, 4, 4, "2026-11-03 14:00:00", "20261103140000000000000000000000114"),
    (_D3, "U", "2026-11-03 16:00:00.000000", 800102, 70102, 1, 9101, 1, 1, 1, "2026-11-03 16:00:00", "20261103160000000000000000000000115"),
    # 11-04: 70103 and 70007 are created; 70003 ships 3 of 5 (short), 70004 and 70103 ship in full;
    # 70007 stays open (nothing picked)
    (_D4, "I", "2026-11-04 08:00:00.000000", 800103, 70103, 1, 9101, 3, 0, 0, "2026-11-04 08:00:00", "20261104080000000000000000000000116"),
    (_D4, "I", "2026-11-04 09:30:00.000000", 800008, 70007, 1, 9002, 2, 0, 0, "2026-11-04 09:30:00", "20261104093000000000000000000000117"),
    (_D4, "U", "2026-11-04 11:00:00.000000", 800004, 70003, 1, 9002, 5, 3, 3, "2026-11-04 11:00:00", "20261104110000000000000000000000118"),
    (_D4, "U", "2026-11-04 12:00:00.000000", 800005, 70004, 1, 9001, 1, 1, 1, "2026-11-04 12:00:00", "20261104120000000000000000000000119"),
    (_D4, "U", "2026-11-04 15:00:00.000000", 800103, 70103, 1, 9101, 3, 3, 3, "2026-11-04 15:00:00", "20261104150000000000000000000000120"),
]


def write_order_lines_parquet(landing: Path) -> list[str]:
    """Write ORDER_LINES as DMS Parquet CDC files into `landing`; returns their keys."""
    schema = pa.schema([
        pa.field("Op", pa.string(), nullable=False), pa.field("dms_commit_ts", pa.string()),
        pa.field("OrderLineId", pa.int64()), pa.field("OrderId", pa.int64()), pa.field("LineNumber", pa.int32()),
        pa.field("ProductId", pa.int32()), pa.field("QtyOrdered", pa.int32()), pa.field("QtyPicked", pa.int32()),
        pa.field("QtyShipped", pa.int32()), pa.field("ModifiedAt", pa.timestamp("us")),
        pa.field("dms_change_seq", pa.string()),
    ])
    keys = []
    for name in sorted({row[0] for row in ORDER_LINES}):
        rows = [row[1:] for row in ORDER_LINES if row[0] == name]
        columns = [list(values) for values in zip(*rows)]
        columns[9] = [datetime.fromisoformat(v) for v in columns[9]]
        key = f"dms/azureware/dbo/OrderLines/{name}.parquet"
        path = landing / key
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema)], schema=schema),
                       path)
        keys.append(key)
    return keys


def landing_copy(destination: Path, without: tuple[str, ...] = ()) -> Path:
    """The hand-written landing zone copied to `destination` (prefixes in `without` left out), with the
    Parquet OrderLines files written into it."""
    shutil.copytree(LANDING, destination, ignore=shutil.ignore_patterns(".gitattributes"))
    for prefix in without:
        shutil.rmtree(destination / prefix)
    write_order_lines_parquet(destination)
    return destination


def unify_load(settings: Settings, landing: Path, *args: str) -> subprocess.CompletedProcess:
    """`unify load` on `landing`, in a subprocess, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "unify.cli", "load", "--no-progress", "--landing", str(landing),
                           *args], env=dbt_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=300)


def landed_files(landing: Path) -> list[str]:
    return sorted(str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file())


@dataclass
class Built:
    settings: Settings
    landing: Path
    target: Path
    load_stdout: str
    load_exit: int
    build_exit: int
    build_stdout: str

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return support.query(self.settings, sql, params)

    def results(self) -> dict[str, dict]:
        """run_results.json of the last dbt command, by node name."""
        data = json.loads((self.target / "run_results.json").read_text())
        return {r["unique_id"].split(".")[2]: r for r in data["results"]}

    def outcome(self, test: str) -> tuple[str, int | None]:
        """(status, failing rows) of one test in the last dbt command."""
        result = self.results()[test]
        return result["status"], result["failures"]


def new_database(warehouse: Settings) -> Settings:
    name = f"test_feeds_{uuid.uuid4().hex[:10]}"
    LocalWarehouse(warehouse).ensure_database(name)
    return warehouse.with_database(name)


def load_and_build(settings: Settings, landing: Path, target: Path) -> Built:
    loaded = unify_load(settings, landing)
    built = run_dbt(["build"], settings, target_path=target, capture=True, check=False, env=DBT_ENV)
    return Built(settings, landing, target, loaded.stdout + loaded.stderr, loaded.returncode, built.returncode,
                 built.stdout)
