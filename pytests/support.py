"""Helpers that test modules import by name (`from support import free_port, query, ...`).

Importing from `conftest` is ambiguous once several folders have one; this module's name is unique.
The suites' own helper modules (access_support, _load_helpers, _resilience_helpers) build on these.
"""

from __future__ import annotations

import os
import socket

from loaders.config import Settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def query(settings: Settings, sql: str, params: tuple | dict = (), user: str | None = None) -> list[tuple]:
    """Rows of one statement on the settings' database (none for a statement without a result), as the
    warehouse's superuser or as `user`."""
    import psycopg2

    conn = psycopg2.connect(settings.dsn(user=user) if user else settings.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def execute(settings: Settings, sql: str, params: tuple | dict = ()) -> None:
    """One statement on the settings' database, committed."""
    import psycopg2

    conn = psycopg2.connect(settings.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def drop_database(warehouse: Settings, name: str) -> None:
    """Drop a test's private database (sessions still connected are cut), unless UNIFY_KEEP_TEST_DB is
    set: then it is kept for a post-mortem and its name printed."""
    if os.environ.get("UNIFY_KEEP_TEST_DB"):
        print(f"kept test database {name}")
        return
    from unify.local_warehouse import LocalWarehouse

    LocalWarehouse(warehouse).drop_database(name)


def raw_rows_per_key(settings: Settings) -> dict[str, int]:
    """Raw rows per landed object key, over every raw table."""
    from loaders.source_tables import ALL_TABLES

    counts: dict[str, int] = {}
    for table in ALL_TABLES:
        for key, n in query(settings, f'select _source_key, count(*) from "{table.raw_schema}"."{table.raw_table}" '
                                      "group by 1"):
            counts[key] = counts.get(key, 0) + n
    return counts


class pinned_env:
    """Set environment variables that dbt_project.yml reads while a fixture builds, then restore them."""

    def __init__(self, **values: str):
        self.values = values

    def __enter__(self):
        self.saved = {name: os.environ.get(name) for name in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def sns_topic_with_queue(endpoint: str):
    """A fresh SNS topic on moto's server with an SQS queue subscribed to it: (topic ARN, a function that
    returns the SNS envelopes received since the last call)."""
    import json
    import uuid

    import boto3

    sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    name = f"unify-alerts-{uuid.uuid4().hex[:8]}"
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def received() -> list[dict]:
        messages = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            if not batch.get("Messages"):
                return messages
            for message in batch["Messages"]:
                messages.append(json.loads(message["Body"]))  # the SNS envelope
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return topic_arn, received
