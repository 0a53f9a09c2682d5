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
from _load_helpers import START, ledger, query, rows_per_key

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


def _shipments_extract(rows: int, extra: str = "") -> bytes:
    """A TMS shipments extract of `rows` records, written here in the documented format (~150 bytes each)."""
    header = ("shipment_id,order_number,warehouse_code,carrier_id,service_level,tracking_number,shipped_at,"
              "estimated_delivery_at,delivered_at,status,weight_kg,freight_cost,currency,updated_at\n")
    body = "".join(f"SHP-{n:07d},SO-{n},LHR1,C{n % 9},LTL,TRK{n:09d},2026-11-02T09:00:00Z,2026-11-04T12:00:00Z,,"
                   f"IN_TRANSIT,{n % 50}.5,{n % 300}.25,GBP,2026-11-02T10:00:00Z\n" for n in range(1, rows + 1))
    return (header + body + extra).encode()


def _multipart(client, bucket: str, key: str, data: bytes, algorithm: str, checksum_type: str,
               full_object: str | None = None, split: int = 5 << 20) -> dict:
    """A real multipart upload over HTTP: two parts (`split` bytes, at least 5 MB, and the rest)."""
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm,
                                            ChecksumType=checksum_type)
    parts = []
    for number, chunk in enumerate((data[:split], data[split:]), start=1):
        part = client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=chunk,
                                  ChecksumAlgorithm=algorithm)
        parts.append({"PartNumber": number, "ETag": part["ETag"],
                      **{k: v for k, v in part.items() if k.startswith("Checksum") and k != "ChecksumType"}})
    extra = {"ChecksumType": checksum_type, "ChecksumCRC64NVME": full_object} if full_object else {}
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": parts}, **extra)
    return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")


def test_identity_is_content_a_multipart_re_upload_of_the_same_bytes_is_not_loaded_twice(database, s3_bucket):
    from _load_oracle import crc64nvme

    client = boto3.client("s3")
    key = "tms/shipments/dt=2026-11-02/shipments-20261102.csv"
    data = _shipments_extract(40_000)
    assert len(data) > 5 << 20  # two parts
    content = crc64nvme(data)
    put = client.put_object(Bucket=s3_bucket, Key=f"raw/{key}", Body=data, ChecksumAlgorithm="CRC64NVME")
    zone = S3Landing(s3_bucket, "raw")
    reads = []
    zone.client.meta.events.register("before-call.s3.GetObject", lambda **kw: reads.append(kw["params"]))
    first = load(database, zone, sources=["tms"])
    assert first.exit_code == EXIT_OK and first.rows == 40_000
    assert query(database, "select content_checksum from unify_loader.load_ledger") == [(content,)]

    # the same bytes uploaded again as a multipart upload with a COMPOSITE CRC32: a new ETag ("...-2") and a
    # checksum of the parts' checksums, which is not content identity: the loader reads the bytes instead
    head = _multipart(client, s3_bucket, f"raw/{key}", data, "CRC32", "COMPOSITE")
    assert head["ETag"].strip('"').endswith("-2") and head["ChecksumType"] == "COMPOSITE"
    reads.clear()
    again = load(database, zone, sources=["tms"])
    assert again.exit_code == EXIT_OK and again.files == 0 and again.rows == 0
    assert [d.key for d in again.duplicates] == [key], again.summary()
    assert query(database, "select count(*) from raw_tms.shipments") == [(40_000,)]
    rows = query(database, "select status, etag, content_checksum from unify_loader.load_ledger order by recorded_at")
    assert rows == [("loaded", put["ETag"].strip('"'), content),
                    ("duplicate", head["ETag"].strip('"'), content)]
    assert f"crc32:{head['ChecksumCRC32']}" not in str(rows) and len(reads) >= 1  # computed from the bytes
    assert load(database, zone, sources=["tms"]).new == 0  # that ETag is known now

    # a multipart upload with a FULL_OBJECT CRC-64/NVME (parts cut elsewhere: yet another ETag): S3 says
    # the content's checksum, nothing is read
    head = _multipart(client, s3_bucket, f"raw/{key}", data, "CRC64NVME", "FULL_OBJECT",
                      full_object=content.split(":", 1)[1], split=(5 << 20) + 4096)
    assert head["ChecksumType"] == "FULL_OBJECT" and f"crc64nvme:{head['ChecksumCRC64NVME']}" == content
    assert head["ETag"] not in {r for (r,) in query(database, "select etag from unify_loader.load_ledger")}
    reads.clear()
    third = load(database, zone, sources=["tms"])
    assert [d.key for d in third.duplicates] == [key] and third.rows == 0 and reads == []

    # changed bytes under the same key: a new delivery, loaded, later than the first in _loaded_at
    changed = _shipments_extract(40_000, extra="SHP-9999999,SO-9,LHR1,C1,LTL,TRK9,2026-11-02T09:00:00Z,,,IN_TRANSIT,"
                                               "1.5,2.25,GBP,2026-11-02T11:00:00Z\n")
    client.put_object(Bucket=s3_bucket, Key=f"raw/{key}", Body=changed)
    fourth = load(database, zone, sources=["tms"])
    assert fourth.files == 1 and fourth.rows == 40_001
    deliveries = query(database, "select _batch_id, min(_loaded_at), count(*) from raw_tms.shipments "
                                 "group by 1 order by 2")
    assert [n for _b, _t, n in deliveries] == [40_000, 40_001] and deliveries[0][0] != deliveries[1][0]
    assert query(database, "select status from unify_loader.load_ledger order by recorded_at") == \
        [("loaded",), ("duplicate",), ("duplicate",), ("loaded",)]
