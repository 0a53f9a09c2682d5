"""AWS Lambda entry point: an S3 event notification arrives -> load exactly those objects.

Configure the function with the same environment as `unify load` (UNIFY_LANDING=s3://bucket[/prefix],
UNIFY_LOAD_TARGET=redshift and the Redshift variables, see loaders/warehouse/redshift.py) and subscribe
it to the raw bucket's `s3:ObjectCreated:*` events (directly, through SQS, or through EventBridge).
Handler: `loaders.lambda_handler.handler`.

Accepted event shapes:
- S3 notifications: {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name"}, "object": {"key"}}}]}
  (keys arrive URL-encoded, spaces as '+': decoded here);
- the same wrapped by SQS: {"Records": [{"eventSource": "aws:sqs", "body": "<S3 notification JSON>"}]};
- EventBridge "Object Created": {"detail-type": "Object Created", "detail": {"bucket": {"name"}, "object": {"key"}}};
- anything else (e.g. an EventBridge schedule): a full discovery run, like `unify load`.

The loaded objects are those the event names that lie in the configured landing bucket and prefix;
the ledger makes redelivered events harmless. Logs are JSON lines (CloudWatch Logs Insights). The
handler returns the run's report as a dict; on exit code 4 (failed) it raises, so Lambda retries the
event (the ledger makes a retry load only what is missing); quarantines do not raise (a retry would not help).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Iterable
from urllib.parse import unquote_plus

from loaders.config import load_settings
from loaders.load import EXIT_FAILED, load
from loaders.logs import configure_logging, log_event

log = logging.getLogger("loaders.lambda_handler")


class LoadFailedError(RuntimeError):
    """The load failed (exit code 4); raised so that Lambda retries the event."""


def object_refs(event: dict) -> list[tuple[str, str]] | None:
    """(bucket, key) pairs named by the event, or None when it names none (a scheduled run)."""
    refs: list[tuple[str, str]] = []
    found_records = False
    for record in _records(event):
        found_records = True
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        if bucket and key is not None:
            refs.append((bucket, unquote_plus(key)))
    if event.get("detail-type") == "Object Created" and isinstance(event.get("detail"), dict):
        found_records = True
        detail = event["detail"]
        bucket = (detail.get("bucket") or {}).get("name")
        key = (detail.get("object") or {}).get("key")
        if bucket and key is not None:
            refs.append((bucket, key))  # EventBridge keys are not URL-encoded
    return refs if found_records else None


def _records(event: dict) -> Iterable[dict]:
    for record in event.get("Records") or []:
        if record.get("eventSource") == "aws:sqs" or "body" in record:
            try:
                inner = json.loads(record.get("body") or "{}")
            except ValueError:
                log_event(log, "event_body_unreadable", logging.WARNING, message_id=record.get("messageId"))
                continue
            yield from _records(inner)
        elif record.get("eventSource") == "aws:s3" or "s3" in record:
            if str(record.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
                yield record


def keys_for_landing(refs: list[tuple[str, str]], landing: str) -> list[str]:
    """Keys relative to the landing zone, for the refs inside its bucket and prefix."""
    if not landing.startswith("s3://"):
        raise ValueError(f"the Lambda handler needs an s3:// landing zone, not {landing!r}")
    bucket, _, prefix = landing[5:].partition("/")
    prefix = prefix.strip("/")
    keys = []
    for ref_bucket, key in refs:
        if ref_bucket != bucket:
            log_event(log, "event_object_ignored", logging.WARNING, bucket=ref_bucket, key=key,
                      reason=f"not the landing bucket {bucket}")
            continue
        if prefix:
            if not key.startswith(prefix + "/"):
                log_event(log, "event_object_ignored", key=key, reason=f"outside the landing prefix {prefix}/")
                continue
            key = key[len(prefix) + 1:]
        keys.append(key)
    return keys


def handler(event: dict, context: Any = None) -> dict:
    configure_logging(json_lines=True, level=getattr(logging, os.environ.get("UNIFY_LOG_LEVEL", "INFO").upper(),
                                                     logging.INFO))
    settings = load_settings()
    landing = settings.landing
    refs = object_refs(event)
    request = getattr(context, "aws_request_id", None)
    if refs is None:
        log_event(log, "lambda_full_run", request_id=request)
        report = load(settings, landing)
    else:
        keys = keys_for_landing(refs, landing)
        log_event(log, "lambda_event", request_id=request, objects=len(refs), keys=len(keys))
        if not keys:
            return {"exit_code": 0, "files": 0, "rows": 0, "note": "no object of the landing zone in the event"}
        report = load(settings, landing, keys=keys, keys_from_events=True)
    result = report.to_dict()
    if report.exit_code == EXIT_FAILED:
        raise LoadFailedError(f"load failed: {report.error}")
    return result
