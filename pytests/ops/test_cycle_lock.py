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


def test_a_retried_write_that_had_succeeded_keeps_the_lock(lock_url, s3_bucket):
    """botocore retries a write whose reply was lost; the retry meets the object the first attempt wrote
    (412). The lease is the cycle's own (its run id): acquiring succeeds, and so does a renewal, instead of
    refusing the cycle, or calling the lock lost, because of itself."""
    from botocore.exceptions import ClientError

    holder = S3CycleLock(lock_url, Holder("frequent"), lease_s=30, renew_s=0.2)
    put = holder.client.put_object
    lost_replies = {"count": 0}

    def put_then_lose_the_reply(**kwargs):
        response = put(**kwargs)
        if lost_replies["count"] < 2:  # the acquiring write and the first renewal: the retry's 412
            lost_replies["count"] += 1
            raise ClientError({"Error": {"Code": "PreconditionFailed"}}, "PutObject")
        return response

    holder.client.put_object = put_then_lose_the_reply
    holder.acquire()
    try:
        assert holder.etag and _body(s3_bucket)["run_id"] == holder.holder.run_id
        deadline = time.monotonic() + 5
        while lost_replies["count"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # renewals after the lost reply succeed with the etag read back
        assert lost_replies["count"] == 2
        holder.check()  # not lost
        with pytest.raises(CycleRefused):
            S3CycleLock(lock_url, Holder("nightly")).acquire()
    finally:
        holder.release()


def test_lock_configuration():
    with pytest.raises(CycleLockError, match="must be s3://<bucket>/<key>"):
        S3CycleLock("s3://bucket-only/", Holder("frequent"))
    assert isinstance(open_lock(None, "analytics", Holder("frequent"), lock_url="s3://b/k", local_target=False),
                      S3CycleLock)
    with pytest.raises(CycleLockError, match="needs UNIFY_CYCLE_LOCK"):
        open_lock(None, "analytics", Holder("frequent"), lock_url=None, local_target=False)


def test_key_rotation_waits_for_no_cycle(lock_url, s3_bucket, cycles, capsys, monkeypatch):
    """`unify access rotate-pii-key` rebuilds what a cycle builds: it takes the same lock and is refused
    (exit 75) while a cycle holds it, before it reads a key or builds anything. On the production S3 lock
    (target prod) and on the local warehouse's advisory lock."""
    from support import query

    from unify.cli import main
    from unify.cycle_lock import PostgresCycleLock

    monkeypatch.setenv("UNIFY_CYCLE_LOCK", lock_url)
    running = S3CycleLock(lock_url, Holder("frequent"))
    running.acquire()
    try:
        assert main(["access", "rotate-pii-key", "--target", "prod", "--secret-id", "unify-prod-pii-hash-key"]) == 75
    finally:
        running.release()
    err = capsys.readouterr().err
    assert "refused, a load cycle is running" in err and f"cycle frequent run {running.holder.run_id}" in err

    monkeypatch.delenv("UNIFY_CYCLE_LOCK")
    monkeypatch.setenv("UNIFY_PG_DATABASE", cycles.settings.pg_database)
    monkeypatch.setenv("UNIFY_SCHEMA", "analytics")
    vault = "select key_id, installed_at from analytics_pii.pii_hash_key"
    before = query(cycles.settings, vault)
    local = PostgresCycleLock(cycles.settings, "analytics", Holder("nightly"))
    local.acquire()
    try:
        assert main(["access", "rotate-pii-key"]) == 75
    finally:
        local.release()
    assert "another cycle holds the lock on schema 'analytics'" in capsys.readouterr().err
    assert query(cycles.settings, vault) == before  # no key installed, nothing rebuilt
