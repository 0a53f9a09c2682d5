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
Network and permission failures raise LandingError (transient or configuration, never "bad data"); an
object that is not there (any more) LandingNotFound; a landing zone that does not exist (a mistyped
folder, an unknown bucket or prefix) LandingNotFound from `check()`.

Content identity: `checksum(key)` is the CRC-64/NVME of the object's bytes as `crc64nvme:<base64>`, the
form S3 gives it. S3 computes that checksum for every object uploaded without one (its default since
2024-12) and always as a FULL_OBJECT checksum, which is a function of the bytes alone. Other S3 checksums
are not content identity when they are COMPOSITE: a multipart upload's CRC32/SHA-256 is a checksum of the
parts' checksums ("...-3"), so the same bytes uploaded in other parts get another one. So S3's value is
used only when HeadObject (ChecksumMode ENABLED) reports ChecksumCRC64NVME with ChecksumType FULL_OBJECT;
otherwise the loader computes it while streaming the bytes (awscrt's C implementation, the one botocore
uses). A local folder has no ETag: the checksum stands in.

A local folder is not written atomically by everyone: `list` returns each file's size and modification
time, so the loader can leave a file still being written for its next run (loaders/load.py), and it
reports symbolic links that lead outside the folder (refused: the loader reads only the landing zone) or
nowhere (dangling), instead of following them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from stat import S_ISLNK, S_ISREG
from typing import BinaryIO, Iterator, Protocol


class LandingError(Exception):
    """A landing-zone object cannot be listed, read or written; names the object and the reason."""


class LandingNotFound(LandingError):
    """The object does not exist (any more)."""


CHUNK_BYTES = 1 << 20


class ContentHash:
    """The CRC-64/NVME of a byte stream, fed chunk by chunk, as S3 writes it (`crc64nvme:<base64>`)."""

    PREFIX = "crc64nvme:"

    def __init__(self) -> None:
        from awscrt import checksums

        self._crc64nvme = checksums.crc64nvme
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._crc64nvme(data, self._value)

    def text(self) -> str:
        return self.PREFIX + base64.b64encode(self._value.to_bytes(8, "big")).decode("ascii")

    @classmethod
    def of_stream(cls, handle: BinaryIO) -> str:
        digest = cls()
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
        return digest.text()


@dataclass(frozen=True)
class LandedObject:
    key: str
    etag: str  # S3 ETag without quotes; "" for a local file (it has none)
    size: int
    last_modified: datetime
    checksum: str | None = None  # content identity (ContentHash) when known without reading the bytes
    # Set when the object cannot be loaded as it is: a symbolic link out of the landing zone (`refused`:
    # quarantined with this reason) or to nothing (reported, left alone).
    problem: str | None = None
    refused: bool = False


class LandingZone(Protocol):
    url: str
    atomic: bool  # objects appear whole (S3); False: a file may still be being written (a local folder)

    def check(self) -> None: ...
    def has_prefix(self, prefix: str) -> bool: ...
    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[LandedObject]: ...
    def stat(self, key: str) -> LandedObject: ...
    def checksum(self, key: str) -> str: ...
    def tail(self, key: str, size: int) -> bytes: ...
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


def _stat_following(path: str) -> tuple[os.stat_result, bool]:
    """os.stat's result and whether the path is a symbolic link: one system call for a plain file (the
    loader stats every landed file when listing and again after loading it). A dangling link raises
    FileNotFoundError, as os.stat does."""
    stat = os.lstat(path)
    link = S_ISLNK(stat.st_mode)
    return (os.stat(path) if link else stat), link


class LocalLanding:
    """A folder laid out like the bucket."""

    atomic = False

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self._root_prefix = os.path.join(self.url, "")
        self._hashes: dict[tuple[str, str, int, int], str] = {}

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        """The key's file path as text (os functions take it as is; cheaper than a Path per call)."""
        return self._root_prefix + check_key(key).replace("/", os.sep)

    def check(self) -> None:
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise LandingNotFound(f"landing zone {self.url} {what}: check --landing or UNIFY_LANDING")

    def has_prefix(self, prefix: str) -> bool:
        """Whether the folder a source prefix names exists (empty or not: an empty one is a quiet source)."""
        folder = prefix.strip("/")
        return bool(folder) and os.path.isdir(self._root_prefix + folder.replace("/", os.sep))

    def _inside(self, path: str) -> bool:
        return os.path.realpath(path).startswith(self._root_prefix)

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[LandedObject]:
        """Objects whose key starts with `prefix` (and sorts after `start_after`), in key order, with size and
        modification time (never hashed here). Symbolic links are not followed into folders; a link to a
        file inside the zone is listed like the file, one out of it or to nothing comes back with a
        `problem`."""
        base = self.root
        if not base.exists():
            return
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, base)
            names = [n for n in filenames if not n.startswith(".unify-tmp-")]  # a write in progress
            names += [n for n in dirnames if os.path.islink(os.path.join(dirpath, n))]  # links to folders
            for name in names:
                key = name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"
                if key.startswith(prefix) and (start_after is None or key > start_after):
                    found.append(key)
        for key in sorted(found):
            path = self._file(key)
            try:
                stat, link = _stat_following(path)
            except FileNotFoundError:
                if os.path.islink(path):
                    yield LandedObject(key, "", 0, _EPOCH, problem="dangling symbolic link (its target does "
                                                                   "not exist)")
                continue  # gone since the walk
            modified = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)
            if link and os.path.isdir(path):
                where = "" if self._inside(path) else " outside the landing zone"
                yield LandedObject(key, "", 0, modified, problem=f"symbolic link to a folder{where}: not followed")
            elif link and not self._inside(path):
                yield LandedObject(key, _link_tag(path), stat.st_size, modified, refused=True,
                                   problem="symbolic link to a file outside the landing zone: refused")
            else:
                yield LandedObject(key, "", stat.st_size, modified)

    def stat(self, key: str) -> LandedObject:
        path = self._file(key)
        try:
            stat, link = _stat_following(path)
        except FileNotFoundError:
            raise LandingNotFound(f"{key}: no such object in {self.url}") from None
        if not S_ISREG(stat.st_mode):
            raise LandingNotFound(f"{key}: not a file in {self.url}")
        modified = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)
        if link and not self._inside(path):
            return LandedObject(key, _link_tag(path), stat.st_size, modified, refused=True,
                                problem="symbolic link to a file outside the landing zone: refused")
        return LandedObject(key, "", stat.st_size, modified)

    def _hash(self, key: str, kind: str) -> str:
        path = self._file(key)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise LandingNotFound(f"{key}: no such object in {self.url}") from None
        cache_key = (key, kind, stat.st_size, stat.st_mtime_ns)
        if cache_key not in self._hashes:
            with self.open(key) as handle:
                if kind == "md5":
                    self._hashes[cache_key] = hashlib.md5(handle.read()).hexdigest() if stat.st_size < CHUNK_BYTES \
                        else _md5_of_stream(handle)
                else:
                    self._hashes[cache_key] = ContentHash.of_stream(handle)
        return self._hashes[cache_key]

    def checksum(self, key: str) -> str:
        """The content checksum, computed by reading the file (cached while its size and time stay)."""
        return self._hash(key, "crc64nvme")

    def md5(self, key: str) -> str:
        """The MD5 of the bytes: what the loader recorded as a local file's ETag before content checksums."""
        return self._hash(key, "md5")

    def open(self, key: str) -> BinaryIO:
        path = self._file(key)
        if os.path.islink(path) and not self._inside(path):
            raise LandingError(f"{key}: a symbolic link to a file outside the landing zone {self.url}: refused")
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise LandingNotFound(f"{key}: no such object in {self.url}") from None

    def open_seekable(self, key: str) -> BinaryIO:
        return self.open(key)

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as handle:
            return handle.read()

    def tail(self, key: str, size: int) -> bytes:
        with self.open(key) as handle:
            handle.seek(0, io.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
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


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _link_tag(path: str) -> str:
    """A refused link's identity, never read through: where it points (a re-pointed link is a new object)."""
    return "symlink:" + hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]


def _md5_of_stream(handle: BinaryIO) -> str:
    digest = hashlib.md5()
    for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
        digest.update(chunk)
    return digest.hexdigest()


class S3Landing:
    """The S3 raw bucket (or any S3-compatible endpoint boto3 is configured for)."""

    atomic = True

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

    def check(self) -> None:
        """The bucket exists and, when the zone has a prefix, holds something under it (S3 has no folders:
        an empty prefix and a mistyped one look the same, and loading "nothing" from it would look fine)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as err:  # botocore raises several unrelated types
            if _error_code(err) in ("404", "NoSuchBucket", "NotFound"):
                raise LandingNotFound(f"landing zone {self.url}: bucket {self.bucket} does not exist") from err
            raise LandingError(f"landing zone {self.url}: cannot reach bucket {self.bucket}: {err}") from err
        if self.prefix:
            try:
                page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/", MaxKeys=1)
            except Exception as err:
                raise LandingError(f"cannot list {self.url}: {err}") from err
            if not page.get("KeyCount", len(page.get("Contents", []))):
                raise LandingNotFound(f"landing zone {self.url}: no object under the prefix {self.prefix}/ "
                                      "(a mistyped prefix?)")

    def has_prefix(self, prefix: str) -> bool:
        """Whether any object has a key under `prefix` (S3 has no folders: an empty prefix does not exist)."""
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._full(prefix.rstrip("/")) + "/",
                                               MaxKeys=1)
        except Exception as err:  # botocore raises several unrelated types
            raise LandingError(f"cannot list {self.url}/{prefix}: {err}") from err
        return bool(page.get("KeyCount", len(page.get("Contents", []))))

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[LandedObject]:
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
        """HeadObject with ChecksumMode ENABLED: the content checksum when S3 holds a full-object CRC-64/NVME."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._full(key), ChecksumMode="ENABLED")
        except Exception as err:
            if _error_code(err) in ("404", "NoSuchKey", "NotFound"):
                raise LandingNotFound(f"{key}: no such object in {self.url}") from err
            raise LandingError(f"{key}: cannot read its metadata in {self.url}: {err}") from err
        return LandedObject(key, head["ETag"].strip('"'), head["ContentLength"], head["LastModified"],
                            checksum=full_object_checksum(head))

    def checksum(self, key: str) -> str:
        """S3's full-object CRC-64/NVME when it has one, else computed by streaming the object."""
        known = self.stat(key).checksum
        if known:
            return known
        with self.open(key) as handle:
            return ContentHash.of_stream(handle)

    def open(self, key: str) -> BinaryIO:
        """A buffered reader over GetObject's streaming body (read(n) pulls from the network)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as err:
            if _error_code(err) in ("404", "NoSuchKey", "NotFound"):
                raise LandingNotFound(f"{key}: no such object in {self.url}") from err
            raise LandingError(f"{key}: cannot read from {self.url}: {err}") from err
        return io.BufferedReader(_StreamingReader(response["Body"], key, self.url), 1 << 20)

    def tail(self, key: str, size: int) -> bytes:
        """The last `size` bytes (GetObject with a suffix Range), without reading the rest."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key), Range=f"bytes=-{size}")
            return response["Body"].read()
        except Exception as err:
            if _error_code(err) in ("404", "NoSuchKey", "NotFound"):
                raise LandingNotFound(f"{key}: no such object in {self.url}") from err
            if _error_code(err) == "InvalidRange":  # an empty object
                return b""
            raise LandingError(f"{key}: cannot read from {self.url}: {err}") from err

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


def full_object_checksum(head: dict) -> str | None:
    """The content checksum S3 reports for an object (HeadObject/GetObject response), when it is one: a
    CRC-64/NVME of type FULL_OBJECT (S3 computes no other kind for that algorithm). A COMPOSITE checksum
    (multipart CRC32/CRC32C/SHA, "<value>-<parts>") depends on how the object was cut into parts: not
    content identity, never used."""
    value = head.get("ChecksumCRC64NVME")
    if not value or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT" or "-" in value:
        return None
    return ContentHash.PREFIX + value


def _error_code(err: Exception) -> str:
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))


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
