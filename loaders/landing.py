"""The landing zone: where DMS, AppFlow and the TMS write, read and written through one interface.

Production is the S3 raw bucket (boto3: paginated listing, ETags, streaming reads). Locally it is a
folder laid out exactly like the bucket, so the same keys and the same code paths apply. Keys are
always relative to the zone's root and use '/' (e.g. `dms/azureware/dbo/Orders/LOAD00000001.csv`).

`open_landing("s3://bucket/prefix")` or `open_landing("/path/to/folder")`. The S3 endpoint comes from
boto3's own configuration (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, profiles), so tests point it at
moto's server over HTTP without code changes.

Loaders only read (list/stat/open); the project never modifies or deletes a landed object. `write`
exists for the simulators, which stand in for the services that write here. Reads are streamed: `open`
returns a buffered file object that pulls from the network as it is read (S3 GetObject), and
`open_seekable` one that fetches byte ranges on demand (Parquet footers without the whole object).
Network and permission failures raise LandingError (transient or configuration, never "bad data").
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol


class LandingError(Exception):
    """A landing-zone object cannot be listed, read or written; names the object and the reason."""


class LandingNotFound(LandingError):
    """The object does not exist (any more)."""


@dataclass(frozen=True)
class LandedObject:
    key: str
    etag: str  # S3 ETag without quotes; locally the MD5 of the content (what S3 gives a single-part upload);
    #            "" when listed with etags=False and not computed yet (local folders only)
    size: int
    last_modified: datetime


class LandingZone(Protocol):
    url: str

    def list(self, prefix: str = "", start_after: str | None = None, etags: bool = True) -> Iterator[LandedObject]: ...
    def stat(self, key: str) -> LandedObject: ...
    def open(self, key: str) -> BinaryIO: ...
    def open_seekable(self, key: str) -> BinaryIO: ...
    def read_bytes(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes | BinaryIO) -> None: ...
    def exists(self, key: str) -> bool: ...
    def uri(self, key: str) -> str: ...


def check_key(key: str) -> str:
    """Keys are relative, '/'-separated and never climb out of the zone."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key or key.endswith("/"):
        raise LandingError(f"invalid landing key {key!r}")
    if ".." in key and ".." in key.split("/"):  # a '..' part (PurePosixPath(key).parts)
        raise LandingError(f"invalid landing key {key!r}")
    return key


class LocalLanding:
    """A folder laid out like the bucket."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self._root_prefix = os.path.join(self.url, "")
        self._etags: dict[tuple[str, int, int], str] = {}

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        """The key's file path as text (os functions take it as is; cheaper than a Path per call)."""
        return self._root_prefix + check_key(key).replace("/", os.sep)

    def list(self, prefix: str = "", start_after: str | None = None, etags: bool = True) -> Iterator[LandedObject]:
        """Objects whose key starts with `prefix` (and sorts after `start_after`), in key order.

        `etags=False` skips reading every file to hash it (etag ""): the loader hashes only the files
        it needs to tell apart, and new files while it loads them."""
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
                if key.startswith(prefix) and (start_after is None or key > start_after):
                    found.append(key)
        for key in sorted(found):
            path = self._file(key)
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            yield LandedObject(key, self._etag(key, path, stat) if etags else "", stat.st_size,
                               datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc))

    def stat(self, key: str) -> LandedObject:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise LandingNotFound(f"{key}: no such object in {self.url}") from None
        if not path.is_file():
            raise LandingNotFound(f"{key}: not a file in {self.url}")
        return LandedObject(key, self._etag(key, path, stat), stat.st_size,
                            datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc))

    def _etag(self, key: str, path: str | Path, stat: os.stat_result) -> str:
        cache_key = (key, stat.st_size, stat.st_mtime_ns)
        if cache_key not in self._etags:
            digest = hashlib.md5()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            self._etags[cache_key] = digest.hexdigest()
        return self._etags[cache_key]

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._file(key), "rb")
        except FileNotFoundError:
            raise LandingNotFound(f"{key}: no such object in {self.url}") from None

    def open_seekable(self, key: str) -> BinaryIO:
        return self.open(key)

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
        return self._file(key)


class S3Landing:
    """The S3 raw bucket (or any S3-compatible endpoint boto3 is configured for)."""

    def __init__(self, bucket: str, prefix: str = "", client=None, page_size: int | None = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client or s3_client()
        self.page_size = page_size  # ListObjectsV2 MaxKeys (S3's default and maximum: 1000)
        self.range_threshold = 8 << 20  # open_seekable: smaller objects are fetched whole, in one GET

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str = "", start_after: str | None = None, etags: bool = True) -> Iterator[LandedObject]:
        """ListObjectsV2, every page; keys relative to the zone's prefix, in key order (ETags always)."""
        full_prefix = (f"{self.prefix}/{prefix}" if self.prefix else prefix) if prefix else (
            f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs: dict = {"Bucket": self.bucket, "Prefix": full_prefix}
        if self.page_size:
            kwargs["PaginationConfig"] = {"PageSize": self.page_size}
        if start_after:
            kwargs["StartAfter"] = self._full(start_after)
        try:
            for page in paginator.paginate(**kwargs):
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):
                        continue  # a "folder" placeholder object
                    yield LandedObject(item["Key"][strip:], item["ETag"].strip('"'), item["Size"],
                                       item["LastModified"])
        except Exception as err:  # botocore raises several unrelated types
            raise LandingError(f"cannot list {self.url}/{prefix}: {err}") from err

    def stat(self, key: str) -> LandedObject:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as err:
            code = str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise LandingNotFound(f"{key}: no such object in {self.url}") from err
            raise LandingError(f"{key}: cannot read its metadata in {self.url}: {err}") from err
        return LandedObject(key, head["ETag"].strip('"'), head["ContentLength"], head["LastModified"])

    def open(self, key: str) -> BinaryIO:
        """A buffered reader over GetObject's streaming body (read(n) pulls from the network)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as err:
            raise LandingError(f"{key}: cannot read from {self.url}: {err}") from err
        return io.BufferedReader(_StreamingReader(response["Body"], key, self.url), 1 << 20)

    def open_seekable(self, key: str) -> BinaryIO:
        """A seekable reader: small objects in one GET, larger ones by byte ranges (GetObject Range) as read."""
        size = self.stat(key).size
        if size < self.range_threshold:
            return io.BytesIO(self.read_bytes(key))
        return io.BufferedReader(_RangeReader(self.client, self.bucket, self._full(key), size, key, self.url),
                                 1 << 22)

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

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


def s3_client(client_config=None):
    """A boto3 S3 client with bounded retries (standard mode: throttling and dropped connections)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 6, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return boto3.client("s3", config=config.merge(client_config) if client_config else config)


class _StreamingReader(io.RawIOBase):
    """A raw file over a botocore StreamingBody; network failures become LandingError."""

    def __init__(self, body, key: str, url: str):
        self._body = body
        self._key = key
        self._url = url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._body.read(len(buffer))
        except Exception as err:  # urllib3/botocore read errors
            raise LandingError(f"{self._key}: reading from {self._url} failed: {err}") from err
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()


class _RangeReader(io.RawIOBase):
    """A seekable raw file over S3 byte-range GETs."""

    def __init__(self, client, bucket: str, full_key: str, size: int, key: str, url: str):
        self._client, self._bucket, self._full_key = client, bucket, full_key
        self._size, self._pos = size, 0
        self._key, self._url = key, url

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        end = min(self._size, self._pos + len(buffer)) - 1
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=self._full_key,
                                           Range=f"bytes={self._pos}-{end}")["Body"]
            data = body.read()
        except Exception as err:
            raise LandingError(f"{self._key}: reading bytes {self._pos}-{end} from {self._url} failed: {err}") from err
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


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
