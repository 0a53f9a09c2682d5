"""A recorded stand-in for boto3's `redshift-data` client, for what moto's server does not do.

moto implements ExecuteStatement/DescribeStatement/CancelStatement but no BatchExecuteStatement, and its
statements never finish; this fake answers like the Data API (statuses, sub-statements, typed records,
pagination). Every request is validated against botocore's own service model for `redshift-data`, so
a call the real API would reject fails here too. Answers are scripted by the test: a function from the
submitted SQL to (status, error, failed sub-statement, rows). It stands for the API, not for Redshift:
it runs no SQL.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Callable

import boto3
from botocore.validate import ParamValidator


@dataclass
class Answer:
    status: str = "FINISHED"
    error: str | None = None
    failed_index: int | None = None  # for batches: the sub-statement that failed
    rows: list[list] = field(default_factory=list)
    polls_before_done: int = 0  # DescribeStatement calls that still say STARTED
    sub_rows: dict[int, list[list]] = field(default_factory=dict)  # a batch's sub-statement results (1-based)


class FakeRedshiftData:
    PAGE = 3  # rows per GetStatementResult page: small, so pagination is exercised

    def __init__(self, answer: Callable[[list[str], dict], Answer]):
        self._model = boto3.client("redshift-data", region_name="us-east-1").meta.service_model
        self._answer = answer
        self.calls: list[tuple[str, dict]] = []
        self.statements: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def _validate(self, operation: str, params: dict) -> None:
        shape = self._model.operation_model(operation).input_shape
        report = ParamValidator().validate(params, shape)
        if report.has_errors():
            raise ValueError(f"{operation}: {report.generate_report()}")
        self.calls.append((operation, params))

    def _submit(self, sqls: list[str], params: dict, batch: bool) -> dict:
        statement_id = str(uuid.UUID(int=next(self._ids)))
        self.statements[statement_id] = {"sqls": sqls, "params": params, "batch": batch,
                                         "answer": self._answer(sqls, params), "polls": 0, "cancelled": False}
        return {"Id": statement_id, "CreatedAt": "2026-11-23T00:00:00Z", "Database": params.get("Database")}

    def execute_statement(self, **params) -> dict:
        self._validate("ExecuteStatement", params)
        return self._submit([params["Sql"]], params, batch=False)

    def batch_execute_statement(self, **params) -> dict:
        self._validate("BatchExecuteStatement", params)
        return self._submit(list(params["Sqls"]), params, batch=True)

    def describe_statement(self, **params) -> dict:
        self._validate("DescribeStatement", params)
        st = self.statements[params["Id"]]
        answer: Answer = st["answer"]
        st["polls"] += 1
        status = "ABORTED" if st["cancelled"] else (
            "STARTED" if st["polls"] <= answer.polls_before_done else answer.status)
        result = {"Id": params["Id"], "Status": status, "HasResultSet": bool(answer.rows),
                  "QueryString": st["sqls"][0] if not st["batch"] else ""}
        if status == "FAILED":
            result["Error"] = answer.error or "ERROR"
        if st["batch"]:
            subs = []
            for i, sql in enumerate(st["sqls"]):
                if status == "FINISHED":
                    sub_status = "FINISHED"
                elif status == "FAILED":
                    failed = answer.failed_index if answer.failed_index is not None else 0
                    sub_status = "FINISHED" if i < failed else ("FAILED" if i == failed else "ABORTED")
                else:
                    sub_status = "STARTED" if i == 0 else "SUBMITTED"
                sub = {"Id": f"{params['Id']}:{i + 1}", "Status": sub_status, "QueryString": sql}
                if sub_status == "FAILED":
                    sub["Error"] = answer.error or "ERROR"
                subs.append(sub)
            result["SubStatements"] = subs
        return result

    def get_statement_result(self, **params) -> dict:
        self._validate("GetStatementResult", params)
        parent, _, sub = params["Id"].partition(":")  # a batch's sub-statement: "<id>:<n>"
        answer = self.statements[parent]["answer"]
        rows = answer.sub_rows.get(int(sub), []) if sub else answer.rows
        start = int(params.get("NextToken") or 0)
        page = rows[start:start + self.PAGE]
        result = {"Records": [[_field(v) for v in row] for row in page], "TotalNumRows": len(rows)}
        if start + self.PAGE < len(rows):
            result["NextToken"] = str(start + self.PAGE)
        return result

    def cancel_statement(self, **params) -> dict:
        self._validate("CancelStatement", params)
        self.statements[params["Id"]]["cancelled"] = True
        return {"Status": True}

    def batches(self) -> list[list[str]]:
        return [st["sqls"] for st in self.statements.values() if st["batch"]]


def _field(value) -> dict:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}
