"""The landing zone: where DMS, AppFlow and the TMS write, read and written through one interface.

Production is the S3 raw bucket (boto3: paginated listing, ETags, streaming reads). Locally it is a
folder laid out exactly like the bucket, so the same keys and the same code paths apply. Keys are
always relative to the zone's root and use '/' (e.g. `dms/azureware/dbo/Orders/LOAD00000001.csv`).

`open_landing("s3://bucket/prefix")` or `open_landing("/path/to/folder")`. The S3 endpoint comes from
boto3's own configuration (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, profiles), so tests point it at
moto's server over HTTP without code changes.

Loaders only read (list/open); the project never modifies or deletes a landed object. `write` exists
for the simulators, which stand in for the services that write here.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator, Protocol


class LandingError(Exception):
    """A landing-zone object cannot be listed, read or written; names the object and the reason."""


@dataclass(frozen=True)
class LandedObject:
    key: str
    etag: str  # S3 ETag without quotes; locally the MD5 of the content (what S3 gives a single-part upload)
    size: int
    last_modified: datetime


class LandingZone(Protocol):
    url: str

    def list(self, prefix: str = "") -> Iterator[LandedObject]: ...
    def open(self, key: str) -> BinaryIO: ...
    def read_bytes(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes | BinaryIO) -> None: ...
    def exists(self, key: str) -> bool: ...
    def uri(self, key: str) -> str: ...


def check_key(key: str) -> str:
    """Keys are relative, '/'-separated and never climb out of the zone."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise LandingError(f"invalid landing key {key!r}")
    if any(part in ("", ".", "..") for part in PurePosixPath(key).parts) or key.endswith("/"):
        raise LandingError(f"invalid landing key {key!r}")
    return key


class LocalLanding:
    """A folder laid out like the bucket."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self._etags: dict[tuple[str, int, int], str] = {}

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def list(self, prefix: str = "") -> Iterator[LandedObject]:
        base = self.root
        if not base.exists():
            return
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, base)
            for name in filenames:
                if name.startswith(".unify-tmp-"):
                    continue  # a write in progress
                key = name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"
                if key.startswith(prefix):
                    found.append(key)
        for key in sorted(found):
            path = self._path(key)
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            yield LandedObject(key, self._etag(key, path, stat), stat.st_size,
                               datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc))

    def _etag(self, key: str, path: Path, stat: os.stat_result) -> str:
        cache_key = (key, stat.st_size, stat.st_mtime_ns)
        if cache_key not in self._etags:
            digest = hashlib.md5()
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            self._etags[cache_key] = digest.hexdigest()
        return self._etags[cache_key]

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise LandingError(f"{key}: no such object in {self.url}") from None

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as handle:
            return handle.read()

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        """Write atomically (temporary file, then rename): a reader never sees half a file."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".unify-tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    handle.write(data)
                else:
                    shutil.copyfileobj(data, handle, 1 << 20)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def uri(self, key: str) -> str:
        return str(self._path(key))


class S3Landing:
    """The S3 raw bucket (or any S3-compatible endpoint boto3 is configured for)."""

    def __init__(self, bucket: str, prefix: str = "", client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client or boto3.client("s3")

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str = "") -> Iterator[LandedObject]:
        full_prefix = self._full(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):
                        continue  # a "folder" placeholder object
                    yield LandedObject(item["Key"][strip:], item["ETag"].strip('"'), item["Size"],
                                       item["LastModified"])
        except Exception as err:  # botocore raises several unrelated types
            raise LandingError(f"cannot list {self.url}/{prefix}: {err}") from err

    def open(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as err:
            raise LandingError(f"{key}: cannot read from {self.url}: {err}") from err
        return response["Body"]  # a streaming body: read(n) pulls from the network

    def read_bytes(self, key: str) -> bytes:
        body = self.open(key)
        try:
            return body.read()
        finally:
            body.close()

    def write(self, key: str, data: bytes | BinaryIO) -> None:
        stream = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
        try:
            self.client.upload_fileobj(stream, self.bucket, self._full(key))
        except Exception as err:
            raise LandingError(f"{key}: cannot write to {self.url}: {err}") from err

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except Exception:  # noqa: BLE001 - 404 and 403 both mean "not usable"
            return False

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"


def open_landing(url: str, s3_client=None) -> LandingZone:
    """A landing zone from a folder path or an s3://bucket[/prefix] URL."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        if not bucket:
            raise LandingError(f"no bucket in {url!r}")
        return S3Landing(bucket, prefix, s3_client)
    if "://" in url:
        raise LandingError(f"unsupported landing zone {url!r}: use a folder path or s3://bucket/prefix")
    return LocalLanding(url)
