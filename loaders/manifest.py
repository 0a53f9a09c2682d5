"""Redshift COPY manifests: the exact S3 objects a COPY reads, written to S3 before the COPY runs.

A manifest (Redshift developer guide, "Using a manifest to specify data files") is JSON:

    {"entries": [{"url": "s3://bucket/dms/azureware/dbo/Orders/LOAD00000001.csv", "mandatory": true}]}

`mandatory: true` makes COPY fail if the object is missing (never a silent partial load); Parquet and ORC
entries must carry `"meta": {"content_length": <bytes>}`. A manifest, unlike a FROM prefix, never picks
up a neighbour (`LOAD00000001.csv.bak`). Manifests live under their own prefix
(`<manifest prefix>/<batch id>/<n>.manifest`), never among the landed files, and are never deleted
by the loader (an S3 lifecycle rule may expire them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from loaders.landing import LandingError


@dataclass(frozen=True)
class ManifestEntry:
    url: str  # s3://bucket/key
    content_length: int | None = None  # required for Parquet/ORC entries

    def to_json(self) -> dict:
        entry: dict = {"url": self.url, "mandatory": True}
        if self.content_length is not None:
            entry["meta"] = {"content_length": self.content_length}
        return entry


def manifest_document(entries: Sequence[ManifestEntry]) -> dict:
    if not entries:
        raise ValueError("a manifest needs at least one entry")
    for entry in entries:
        if not entry.url.startswith("s3://"):
            raise ValueError(f"manifest entries must be s3:// URLs, not {entry.url!r}")
    return {"entries": [e.to_json() for e in entries]}


def manifest_bytes(entries: Sequence[ManifestEntry]) -> bytes:
    return json.dumps(manifest_document(entries), indent=2, ensure_ascii=False).encode("utf-8")


def split_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, key


def manifest_url(prefix: str, batch_id: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{batch_id}/{name}.manifest"


def write_manifest(s3_client, url: str, entries: Sequence[ManifestEntry]) -> None:
    bucket, key = split_s3_url(url)
    try:
        s3_client.put_object(Bucket=bucket, Key=key, Body=manifest_bytes(entries), ContentType="application/json")
    except Exception as err:  # botocore raises several unrelated types
        raise LandingError(f"cannot write the COPY manifest {url}: {err}") from err


def read_manifest(s3_client, url: str) -> dict:
    bucket, key = split_s3_url(url)
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as err:
        raise LandingError(f"cannot read the COPY manifest {url}: {err}") from err
    return json.loads(body)
