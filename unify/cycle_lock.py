"""The cycle lock: at most one load cycle per environment at a time (`unify cycle`, docs/operations.md).

A scheduler ticks every 10 minutes whether or not the previous cycle has finished; two cycles building
the same schemas at once would fight over the same tables. The second one is refused (`CycleRefused`,
exit 75) and the next tick picks up the work. Two implementations, one contract (acquire, release):

- **PostgreSQL advisory lock** (the local warehouse): `pg_try_advisory_lock(<cycle>, crc32(<schema>))`
  on a connection held for the whole cycle. The server releases it when that session ends, so a killed
  cycle never leaves a stale lock. Redshift has no advisory locks.
- **S3 conditional writes** (production, where cycles run as container tasks that may overlap): the lock
  is an object, `s3://<bucket>/<key>`, created with `PutObject If-None-Match: *` (S3 refuses with 412
  when it exists: only one writer wins). It holds who took it and a lease (`expires_at`) that a
  background thread renews with `PutObject If-Match: <its ETag>` while the cycle runs; release is
  `DeleteObject If-Match: <its ETag>` (a conditional delete: it never deletes another holder's lock).
  A holder that dies stops renewing: once the lease has expired, the next cycle deletes that exact lock
  (If-Match its ETag) and takes it. The lease (5 minutes) outlives any pause of the renewing thread;
  IAM: s3:PutObject, s3:GetObject, s3:DeleteObject on the lock's key only.

Why not the warehouse for production: Redshift has no advisory lock, and a `LOCK` would have to stay in
an open transaction for the whole cycle, across dbt's own connections. Why not DynamoDB: the platform
already has buckets, and S3's conditional writes give the same compare-and-swap.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from loaders.config import Settings
from loaders.logs import log_event

log = logging.getLogger("unify.cycle")

ADVISORY_CLASS = 0x756E6963  # "unic": first key of the two-key advisory lock (the loader uses one bigint key)
LEASE_S = 300.0
RENEW_S = 60.0


class CycleRefused(Exception):
    """Another cycle holds the lock; the message says who and since when."""


class CycleLockError(Exception):
    """The lock could not be taken or kept for a reason other than another holder (configuration, access)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class Holder:
    """Who holds (or asks for) the lock: written into the S3 object, shown when a cycle is refused."""

    cycle: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    acquired_at: str = field(default_factory=lambda: _iso(_now()))

    def describe(self) -> str:
        return f"cycle {self.cycle} run {self.run_id} on {self.host} (pid {self.pid}), started {self.acquired_at}"


class PostgresCycleLock:
    """Session-level advisory lock on the local (or any PostgreSQL) warehouse, scoped to a dbt schema."""

    def __init__(self, settings: Settings, scope: str, holder: Holder) -> None:
        self.settings, self.scope, self.holder = settings, scope, holder
        self.key = zlib.crc32(scope.encode()) & 0x7FFFFFFF
        self._conn = None

    def describe(self) -> str:
        return f"PostgreSQL advisory lock ({ADVISORY_CLASS}, {self.key}) for schema {self.scope!r} on {self.settings.url()}"

    def acquire(self) -> None:
        import psycopg2

        try:
            conn = psycopg2.connect(self.settings.dsn(), connect_timeout=10,
                                    application_name=f"unify cycle lock: {self.holder.describe()}"[:63])
        except psycopg2.Error as err:
            raise CycleLockError(f"{self.describe()}: cannot connect: {str(err).strip()}") from err
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s, %s)", (ADVISORY_CLASS, self.key))
            if cur.fetchone()[0]:
                self._conn = conn
                return
            cur.execute(
                "select a.application_name, a.backend_start, a.pid from pg_locks l "
                "join pg_stat_activity a on a.pid = l.pid where l.locktype = 'advisory' and l.granted "
                "and l.classid = %s and l.objid = %s and l.objsubid = 2 and l.database = "
                "(select oid from pg_database where datname = current_database())",
                (ADVISORY_CLASS, self.key))
            row = cur.fetchone()
        conn.close()
        who = (f"{row[0] or 'a session'} (server pid {row[2]}, connected {row[1]:%Y-%m-%d %H:%M:%S %Z})"
               if row else "another session")
        raise CycleRefused(f"another cycle holds the lock on schema {self.scope!r}: {who}")

    def check(self) -> None:
        """Raise CycleLockError if the lock was lost (the session holding it ended)."""
        if self._conn is None or self._conn.closed:
            raise CycleLockError(f"{self.describe()}: the session holding the lock has ended")

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            if not self._conn.closed:
                with self._conn.cursor() as cur:
                    cur.execute("select pg_advisory_unlock(%s, %s)", (ADVISORY_CLASS, self.key))
        except Exception as err:  # the session is closed next anyway: that releases the lock too
            log_event(log, "cycle_lock_release_failed", logging.WARNING, lock=self.describe(), error=str(err))
        finally:
            self._conn.close()
            self._conn = None


class S3CycleLock:
    """A lease in an S3 object, taken and kept with conditional writes (see the module docstring)."""

    def __init__(self, url: str, holder: Holder, *, lease_s: float = LEASE_S, renew_s: float = RENEW_S,
                 client: Any = None) -> None:
        if not url.startswith("s3://") or "/" not in url[5:] or url.endswith("/"):
            raise CycleLockError(f"UNIFY_CYCLE_LOCK must be s3://<bucket>/<key>, not {url!r}")
        self.url, self.holder = url, holder
        self.bucket, self.key = url[5:].split("/", 1)
        self.lease_s, self.renew_s = lease_s, renew_s
        self._client = client
        self.etag: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))
        return self._client

    def describe(self) -> str:
        return f"S3 lock {self.url}"

    def _body(self) -> bytes:
        body = {**vars(self.holder), "expires_at": _iso(_now() + timedelta(seconds=self.lease_s)),
                "lease_s": self.lease_s}
        return json.dumps(body).encode()

    def _put(self, **condition: str) -> str:
        response = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._body(),
                                          ContentType="application/json", **condition)
        return response["ETag"]

    @staticmethod
    def _code(err: Exception) -> str:
        return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))

    def _read(self) -> tuple[dict, str] | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as err:
            if self._code(err) in ("NoSuchKey", "404"):
                return None
            raise CycleLockError(f"{self.describe()}: cannot read the lock: {err}") from err
        try:
            body = json.loads(response["Body"].read())
        except ValueError:
            body = {}
        return body, response["ETag"]

    def _ours(self, current: tuple[dict, str] | None) -> bool:
        """Whether the lock object read back is this run's own lease: a write whose reply was lost succeeded,
        and botocore's retry of it met our own object (412). Then the lock is ours, at the etag read."""
        return current is not None and current[0].get("run_id") == self.holder.run_id

    def acquire(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(2):
            try:
                self.etag = self._put(IfNoneMatch="*")
                break
            except ClientError as err:
                if self._code(err) not in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                    raise CycleLockError(f"{self.describe()}: cannot write the lock: {err}") from err
            except BotoCoreError as err:
                raise CycleLockError(f"{self.describe()}: cannot write the lock: {err}") from err
            current = self._read()
            if current is None:
                continue  # released between our write and our read: try once more
            body, etag = current
            if self._ours(current):
                self.etag = etag
                break
            expires = body.get("expires_at")
            try:
                expired = expires is None or datetime.fromisoformat(expires) < _now()
            except ValueError:
                expired = True
            who = (f"cycle {body.get('cycle', '?')} run {body.get('run_id', '?')} on {body.get('host', '?')} "
                   f"(pid {body.get('pid', '?')}), started {body.get('acquired_at', '?')}, lease until {expires}")
            if not expired or attempt:
                raise CycleRefused(f"another cycle holds {self.url}: {who}")
            log_event(log, "cycle_lock_expired", logging.WARNING, lock=self.url, holder=who,
                      reason="its holder stopped renewing the lease (killed or timed out): taking it over")
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
            except ClientError as err:  # someone else took it over first: the next put decides
                log_event(log, "cycle_lock_takeover_lost", lock=self.url, error=self._code(err))
        else:
            raise CycleRefused(f"another cycle took {self.url} at the same moment")
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name="cycle-lock-renewal", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        while not self._stop.wait(self.renew_s):
            try:
                self.etag = self._put(IfMatch=self.etag)
            except ClientError as err:
                if self._code(err) in ("PreconditionFailed", "NoSuchKey", "404", "412"):
                    try:
                        current = self._read()
                    except CycleLockError:
                        current = None
                    if self._ours(current):
                        self.etag = current[1]
                        continue
                    self.lost = f"the lock was taken over or removed ({self._code(err)})"
                    log_event(log, "cycle_lock_lost", logging.ERROR, lock=self.url, reason=self.lost)
                    return
                log_event(log, "cycle_lock_renewal_failed", logging.WARNING, lock=self.url, error=str(err))
            except BotoCoreError as err:
                log_event(log, "cycle_lock_renewal_failed", logging.WARNING, lock=self.url, error=str(err))

    def check(self) -> None:
        if self.lost:
            raise CycleLockError(f"{self.describe()}: {self.lost}")

    def release(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.etag is None or self.lost:
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        except (ClientError, BotoCoreError) as err:
            log_event(log, "cycle_lock_release_failed", logging.WARNING, lock=self.url, error=str(err),
                      note="the lease expires on its own")
        self.etag = None


def open_lock(settings: Settings, schema: str, holder: Holder, *, lock_url: str | None, local_target: bool):
    """The lock for this environment: UNIFY_CYCLE_LOCK (s3://...) when set; else the local warehouse's
    advisory lock. A Redshift target without UNIFY_CYCLE_LOCK is refused: nothing else would stop two
    container tasks from overlapping."""
    if lock_url:
        return S3CycleLock(lock_url, holder)
    if not local_target:
        raise CycleLockError("a cycle on Redshift needs UNIFY_CYCLE_LOCK=s3://<bucket>/<key> (the S3 lock that "
                             "refuses overlapping container tasks; see docs/operations.md)")
    return PostgresCycleLock(settings, schema, holder)
