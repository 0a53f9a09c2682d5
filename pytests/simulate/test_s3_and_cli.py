"""The S3 path (boto3 over HTTP against moto's server) and the `unify simulate` command."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import boto3

from unify.cli import main
from unify.simulate import continue_simulation, simulate

START = date(2026, 11, 1)


def local_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def bucket_files(bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            out[item["Key"][len(prefix) + 1:]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def test_s3_landing_gets_the_same_files(s3_bucket, tmp_path):
    url = f"s3://{s3_bucket}/raw"
    report = simulate(url, days=1, start=START, faults=["redelivered_file", "truncated_file"])
    continue_simulation(url, days=1)  # reads the state back from S3
    simulate(str(tmp_path), days=2, start=START, faults=["redelivered_file", "truncated_file"])
    remote, local = bucket_files(s3_bucket, "raw"), local_files(tmp_path)
    assert report.files_written > 50
    assert sorted(remote) == sorted(local)
    assert remote == local
    assert any(":" in key for key in remote)  # AppFlow part names with ':' are fine as S3 keys


def test_cli_simulate_and_continue(tmp_path, capsys):
    out = str(tmp_path / "landing")
    assert main(["simulate", "--scale", "tiny", "--days", "2", "--start", "2026-11-01", "--seed", "42",
                 "--format", "csv", "--faults", "none", "--out", out, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "2026-11-01 .. 2026-11-02" in printed and "records/s" in printed and "peak RSS" in printed
    assert main(["simulate", "--continue", "--days", "1", "--out", out]) == 0
    assert "2026-11-03 .. 2026-11-03" in capsys.readouterr().out
    assert (tmp_path / "landing/tms/shipments/dt=2026-11-03/shipments-20261103.csv").exists()
    assert main(["simulate", "--out", out, "--start", "2026-11-01"]) == 1  # already holds a simulation
    assert "already holds a simulation" in capsys.readouterr().err
    assert main(["simulate", "--continue", "--seed", "3", "--out", out]) == 2
    assert main(["simulate", "--faults", "gremlins", "--out", str(tmp_path / "other")]) == 1


def test_cli_defaults_to_settings_landing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UNIFY_LANDING", str(tmp_path / "zone"))
    assert main(["simulate", "--days", "1", "--start", "2026-11-01", "--faults", "deletes,orphans"]) == 0
    assert (tmp_path / "zone/_simulator/state.json.gz").exists()
    assert "faults: deletes, orphans" in capsys.readouterr().out
