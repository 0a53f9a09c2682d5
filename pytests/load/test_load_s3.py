"""The S3 path over real HTTP (moto's server): paginated listing, ETags, streaming and ranged reads, and the
Lambda handler on S3 event notifications as AWS delivers them."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from urllib.parse import quote_plus

import boto3
import pytest
from _load_oracle import read_object
from _load_helpers import START, ledger, rows_per_key

from loaders.landing import S3Landing, open_landing
from loaders.load import EXIT_OK, EXIT_QUARANTINED, load
from unify.simulate import simulate

PREFIX = "raw"


@pytest.fixture(scope="module")
def shared_bucket(s3_endpoint) -> str:
    name = f"glc-raw-load-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def s3_landing(shared_bucket) -> tuple[str, dict]:
    """A landing written to S3 by the simulator (tiny, 2 days, every fault), and its oracle (read-only)."""
    url = f"s3://{shared_bucket}/{PREFIX}"
    simulate(url, start=START, days=2, seed=5, faults=["all"])
    client = boto3.client("s3")
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=shared_bucket, Prefix=f"{PREFIX}/"):
        for item in page.get("Contents", []):
            key = item["Key"][len(PREFIX) + 1:]
            if key.startswith(("dms/", "appflow/", "tms/")):
                objects[key] = read_object(key, client.get_object(Bucket=shared_bucket, Key=item["Key"])["Body"].read())
    return url, objects


def test_loading_from_s3_over_http(database, shared_bucket, s3_landing):
    url, objects = s3_landing
    zone = S3Landing(shared_bucket, PREFIX, page_size=40)  # several ListObjectsV2 pages
    listed = list(zone.list("dms/"))
    assert len(listed) > 40 and len(listed) == sum(k.startswith("dms/") for k in objects)

    report = load(database, zone)
    assert report.exit_code == EXIT_QUARANTINED
    assert {q.key for q in report.quarantined} == {k for k, v in objects.items() if not v.ok}
    assert rows_per_key(database) == {k: len(v.records) for k, v in objects.items() if v.ok and v.records}
    # identity is S3's ETag: for single-part uploads the MD5 of the bytes
    etags = {key: etag for key, etag, status, *_ in ledger(database)}
    assert etags == {k: hashlib.md5(v.data).hexdigest() for k, v in objects.items()}
    assert load(database, url).new == 0


def test_parquet_from_s3_reads_the_footer_by_range(database, shared_bucket, faults_parquet):
    client = boto3.client("s3")
    chosen = {k: v for k, v in faults_parquet.objects.items()
              if k.startswith(("dms/azureware/dbo/Orders/", "appflow/salesforce/salesforce-contract/"))}
    for key, obj in chosen.items():  # the simulator's Parquet files, uploaded to S3
        client.put_object(Bucket=shared_bucket, Key=f"pq/{key}", Body=obj.data)
    zone = open_landing(f"s3://{shared_bucket}/pq")
    key = next(k for k in chosen if k.startswith("dms/"))
    size = zone.stat(key).size
    zone.range_threshold = 0  # production files are large: read them by ranges
    with zone.open_seekable(key) as handle:
        handle.seek(-8, 2)
        tail = handle.read(8)
        assert tail[4:] == b"PAR1" and handle.raw.tell() == size  # the last bytes, without the rest
    report = load(database, zone)
    assert rows_per_key(database) == {k: len(v.records) for k, v in chosen.items() if v.ok and v.records}
    assert {q.key for q in report.quarantined} == {k for k, v in chosen.items() if not v.ok}


def _s3_event(bucket: str, keys: list[str]) -> dict:
    """An S3 event notification as AWS sends it (event structure version 2.1): keys URL-encoded."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-02T23:01:49.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:appflow"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "raw-landed",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                          "sequencer": "0055AED6DCD90281E5"}},
    } for key in keys]}


def test_lambda_handler_loads_the_objects_an_s3_event_names(database, shared_bucket, s3_landing, monkeypatch):
    from loaders.lambda_handler import handler

    url, objects = s3_landing
    monkeypatch.setenv("UNIFY_LANDING", url)
    monkeypatch.setenv("UNIFY_PG_DATABASE", database.pg_database)
    appflow = next(k for k, v in objects.items() if k.startswith("appflow/") and v.ok)  # ':' in the name
    tms = next(k for k, v in objects.items() if k.startswith("tms/shipments/") and v.ok)
    event = _s3_event(shared_bucket, [f"{PREFIX}/{appflow}", f"{PREFIX}/{tms}"])
    assert "%3A" in event["Records"][0]["s3"]["object"]["key"]

    result = handler(event, None)
    assert result["exit_code"] == EXIT_OK and result["files"] == 2
    assert set(rows_per_key(database)) == {appflow, tms}
    assert handler(event, None)["files"] == 0  # a redelivered event loads nothing twice

    # the same notification wrapped by SQS, and EventBridge's "Object Created"
    other = next(k for k, v in objects.items() if k.startswith("dms/azureware/dbo/Products/") and v.ok)
    sqs = {"Records": [{"messageId": "1", "eventSource": "aws:sqs",
                        "body": json.dumps(_s3_event(shared_bucket, [f"{PREFIX}/{other}"]))}]}
    assert handler(sqs, None)["files"] == 1
    third = next(k for k, v in objects.items() if k.startswith("tms/carriers/") and v.ok)
    bridge = {"version": "0", "detail-type": "Object Created", "source": "aws.s3",
              "detail": {"bucket": {"name": shared_bucket}, "object": {"key": f"{PREFIX}/{third}", "size": 10}}}
    assert handler(bridge, None)["files"] == 1
    # objects of another bucket or outside the landing prefix are not loaded
    foreign = copy.deepcopy(_s3_event("someone-elses-bucket", [f"{PREFIX}/{third}"]))
    assert handler(foreign, None)["files"] == 0
    gone = handler(_s3_event(shared_bucket, [f"{PREFIX}/tms/shipments/dt=2026-12-01/shipments-20261201.csv"]), None)
    assert gone["exit_code"] == EXIT_OK and gone["files"] == 0  # deleted before the event was handled
    assert set(rows_per_key(database)) == {appflow, tms, other, third}


def test_lambda_handler_raises_when_the_load_fails_so_lambda_retries(shared_bucket, s3_landing, monkeypatch):
    from loaders.lambda_handler import LoadFailedError, handler

    url, objects = s3_landing
    key = next(k for k, v in objects.items() if v.ok)
    monkeypatch.setenv("UNIFY_LANDING", url)
    monkeypatch.setenv("UNIFY_PG_PORT", "1")  # nothing listens there
    monkeypatch.setenv("UNIFY_LOAD_CONNECT_ATTEMPTS", "2")
    with pytest.raises(LoadFailedError, match="cannot connect to the warehouse"):
        handler(_s3_event(shared_bucket, [f"{PREFIX}/{key}"]), None)
