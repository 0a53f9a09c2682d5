"""The production cycle lock: an S3 object taken and kept with conditional writes, on moto's S3 server over
HTTP (If-None-Match on PutObject, If-Match on PutObject and DeleteObject). The local advisory lock is
exercised by test_cycle.py with a real overlapping process."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from unify.cycle_lock import CycleLockError, CycleRefused, Holder, S3CycleLock, open_lock


@pytest.fixture
def lock_url(s3_bucket):
    return f"s3://{s3_bucket}/cycles/test/lock.json"


def _body(s3_bucket) -> dict:
    return json.loads(boto3.client("s3").get_object(Bucket=s3_bucket, Key="cycles/test/lock.json")["Body"].read())


def test_one_holder_at_a_time_and_release_frees_it(lock_url, s3_bucket):
    first = S3CycleLock(lock_url, Holder("frequent"))
    first.acquire()
    try:
        body = _body(s3_bucket)
        assert (body["cycle"], body["run_id"]) == ("frequent", first.holder.run_id)
        assert datetime.fromisoformat(body["expires_at"]) > datetime.now(timezone.utc)
        second = S3CycleLock(lock_url, Holder("nightly"))
        with pytest.raises(CycleRefused, match=f"another cycle holds {lock_url}: cycle frequent run "
                                               f"{first.holder.run_id}"):
            second.acquire()
    finally:
        first.release()
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)
    third = S3CycleLock(lock_url, Holder("nightly"))
    third.acquire()
    third.release()


def test_an_expired_lease_is_taken_over(lock_url, s3_bucket):
    """A holder that was killed stops renewing; once its lease has passed the next cycle takes over."""
    dead = Holder("frequent")
    expired = {**vars(dead), "expires_at": (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()}
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="cycles/test/lock.json", Body=json.dumps(expired))
    taker = S3CycleLock(lock_url, Holder("frequent"))
    taker.acquire()
    try:
        assert _body(s3_bucket)["run_id"] == taker.holder.run_id
    finally:
        taker.release()


def test_the_lease_is_renewed_and_a_lost_lock_is_noticed(lock_url, s3_bucket):
    holder = S3CycleLock(lock_url, Holder("nightly"), lease_s=30, renew_s=0.2)
    holder.acquire()
    try:
        first_etag, first_expiry = holder.etag, _body(s3_bucket)["expires_at"]
        deadline = time.monotonic() + 10
        while holder.etag == first_etag and time.monotonic() < deadline:
            time.sleep(0.1)
        assert holder.etag != first_etag and _body(s3_bucket)["expires_at"] >= first_expiry
        holder.check()  # still ours
        # someone overwrites the lock (e.g. took it over after a long pause): the renewal notices
        boto3.client("s3").put_object(Bucket=s3_bucket, Key="cycles/test/lock.json", Body=b"{}")
        deadline = time.monotonic() + 10
        while holder.lost is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(CycleLockError, match="taken over or removed"):
            holder.check()
    finally:
        holder.release()
    assert _body(s3_bucket) == {}  # a lost lock is never deleted by its former holder


def test_lock_configuration():
    with pytest.raises(CycleLockError, match="must be s3://<bucket>/<key>"):
        S3CycleLock("s3://bucket-only/", Holder("frequent"))
    assert isinstance(open_lock(None, "analytics", Holder("frequent"), lock_url="s3://b/k", local_target=False),
                      S3CycleLock)
    with pytest.raises(CycleLockError, match="needs UNIFY_CYCLE_LOCK"):
        open_lock(None, "analytics", Holder("frequent"), lock_url=None, local_target=False)
