"""`unify alert`: dbt's real artifacts (a fixture project built with failing tests, a model error and
stale sources) are published to an SNS topic on moto's server over HTTP; an SQS queue subscribed to
the topic receives them and the test reads them back."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from support import sns_topic_with_queue

from unify.alerting import MESSAGE_MAX_BYTES, SUBJECT_MAX
from unify.cli import main

DEFAULT_OWNER = "data-oncall@glc.example"
DOCS = "https://docs.unify.glc.example"


@pytest.fixture
def topic_and_queue(s3_endpoint):
    """A fresh SNS topic with an SQS queue subscribed to it: (topic ARN, function reading the queue)."""
    return sns_topic_with_queue(s3_endpoint)


def _alert(target: Path, topic_arn: str | None, *extra: str) -> int:
    args = ["alert", "--target-path", str(target), "--default-owner", DEFAULT_OWNER, "--docs-url", DOCS]
    if topic_arn:
        args += ["--topic-arn", topic_arn]
    return main([*args, *extra])


def _blocks(message: str) -> dict[str, str]:
    """Item blocks of the message by their first line's `<kind> <name>` (without number and status)."""
    blocks, current = {}, None
    for line in message.splitlines():
        if line[:1].isdigit() and ". [" in line:
            current = line.split("] ", 1)[1].split(" (on ")[0]
            blocks[current] = line + "\n"
        elif current and line.startswith("   "):
            blocks[current] += line + "\n"
        else:
            current = None
    return blocks


def _artifacts(alert_project) -> tuple[Path, dict, dict]:
    project, _ = alert_project
    target = project / "target"
    return (target, json.loads((target / "run_results.json").read_text()),
            json.loads((target / "sources.json").read_text()))


def _derived_target(alert_project, tmp_path: Path, keep) -> Path:
    """A copy of the real artifacts keeping only the results `keep(status)` accepts."""
    source, run_results, sources = _artifacts(alert_project)
    target = tmp_path / "target"
    target.mkdir()
    shutil.copy(source / "manifest.json", target)
    run_results["results"] = [r for r in run_results["results"] if keep(r["status"])]
    sources["results"] = [r for r in sources["results"] if keep(r["status"])]
    (target / "run_results.json").write_text(json.dumps(run_results))
    (target / "sources.json").write_text(json.dumps(sources))
    return target


def test_failures_warnings_and_stale_sources_reach_the_topic(alert_project, topic_and_queue):
    target, run_results, sources = _artifacts(alert_project)
    topic_arn, received = topic_and_queue

    assert _alert(target, topic_arn) == 1  # errors present

    [envelope] = received()
    subject, message = envelope["Subject"], envelope["Message"]
    errors = (sum(r["status"] in ("error", "fail", "runtime error") for r in run_results["results"])
              + sum(r["status"] in ("error", "runtime error") for r in sources["results"]))
    warnings = (sum(r["status"] == "warn" for r in run_results["results"])
                + sum(r["status"] == "warn" for r in sources["results"]))
    assert (errors, warnings) == (5, 2)  # the fixture's design: 3 failing tests, 1 model, 1 stale source
    assert len(subject) <= SUBJECT_MAX and subject.isascii()
    assert f"{errors} error(s), {warnings} warning(s)" in subject
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes["severity"] == "error"
    assert (attributes["errors"], attributes["warnings"]) == (str(errors), str(warnings))
    assert attributes["invocation_id"] == run_results["metadata"]["invocation_id"]

    blocks = _blocks(message)
    expected = {
        # name in message: (status label, owner, detail snippet)
        "test not_null_stg_orders_customer_id": ("FAIL", "orders-team@glc.example", "3 failing row(s)"),
        "test unique_dim_customers_customer_id":
            ("FAIL", "Customer insights <customer-insights@glc.example>", "1 failing row(s)"),
        "test not_null_orphan_totals_total": ("FAIL", DEFAULT_OWNER, "1 failing row(s)"),
        "model broken_ratios": ("ERROR", "finance-team@glc.example", "division by zero"),
        "source freshness shop.orders": ("STALE", "orders-ingest@glc.example", "error after 2 hour(s)"),
        "source freshness shop.customers": ("WARN", "ingest-team@glc.example", "warn after 1 hour(s)"),
        "test accepted_values_fct_orders_status__NEW__SHIPPED":
            ("WARN", "Operations analytics <ops-analytics@glc.example>", "failing row(s)"),
    }
    assert set(blocks) == set(expected)
    for name, (label, owner, snippet) in expected.items():
        block = blocks[name]
        assert f"[{label}]" in block, block
        assert f"owner: {owner}  (" in block, block
        assert snippet in block, block
    assert "(on stg_orders)" in message and "(on dim_customers)" in message

    # link-friendly ids: <invocation>/<8 hex of the node's unique_id>, and docs pages
    ids = {r["unique_id"]: run_results["metadata"]["invocation_id"] for r in run_results["results"]}
    ids.update({r["unique_id"]: sources["metadata"]["invocation_id"] for r in sources["results"]})
    for unique_id in ("test.alert_fixture.not_null_stg_orders_customer_id.af79d5e4b5",
                      "source.alert_fixture.shop.orders", "model.alert_fixture.broken_ratios"):
        if unique_id not in ids:  # test ids end in a hash dbt computes; look it up
            unique_id = next(uid for uid in ids if uid.startswith(unique_id.rsplit(".", 1)[0]))
        assert f"id: {ids[unique_id]}/{hashlib.sha1(unique_id.encode()).hexdigest()[:8]}" in message
        resource = unique_id.split(".")[0]
        assert f"docs: {DOCS}/#!/{resource}/{unique_id}" in message

    # errors first, then warnings; skipped nodes named
    assert message.index("ERRORS") < message.index("WARNINGS")
    assert message.index("shop.orders") < message.index("WARNINGS") < message.index("shop.customers")
    assert "skipped after upstream failures: downstream_of_broken" in message


def test_warnings_only_publish_and_exit_0(alert_project, topic_and_queue, tmp_path):
    target = _derived_target(alert_project, tmp_path, lambda s: s not in ("error", "fail", "runtime error"))
    topic_arn, received = topic_and_queue
    assert _alert(target, topic_arn) == 0
    [envelope] = received()
    assert envelope["MessageAttributes"]["severity"]["Value"] == "warning"
    assert "0 error(s), 2 warning(s)" in envelope["Subject"]
    assert set(_blocks(envelope["Message"])) == {
        "source freshness shop.customers", "test accepted_values_fct_orders_status__NEW__SHIPPED"}


def test_clean_run_publishes_nothing(alert_project, topic_and_queue, tmp_path, capsys):
    target = _derived_target(alert_project, tmp_path, lambda s: s in ("success", "pass", "skipped", "no-op"))
    topic_arn, received = topic_and_queue
    assert _alert(target, topic_arn) == 0
    assert received() == []
    assert "nothing to report" in capsys.readouterr().out


def test_huge_run_is_summarised_within_sns_limits(alert_project, topic_and_queue, tmp_path):
    """3,000 failing tests with long messages would be ~2 MB: the alert keeps errors first, cuts
    what does not fit, says how many were left out, and SNS (moto enforces 256 KiB) accepts it."""
    target = _derived_target(alert_project, tmp_path, lambda s: True)
    run_results = json.loads((target / "run_results.json").read_text())
    failing = next(r for r in run_results["results"] if r["status"] == "fail")
    for n in range(3000):
        run_results["results"].append({**failing, "unique_id": f"test.alert_fixture.generated_{n:04d}.x",
                                       "message": "Got 7 results, configured to fail if != 0. " * 20})
    (target / "run_results.json").write_text(json.dumps(run_results))
    topic_arn, received = topic_and_queue

    assert _alert(target, topic_arn) == 1
    [envelope] = received()
    message = envelope["Message"]
    assert len(message.encode()) <= MESSAGE_MAX_BYTES
    shown = len(_blocks(message))
    footer = message.strip().splitlines()[-1]
    assert footer.startswith("... ") and "not shown" in footer
    left_out = int(footer.split()[1])
    assert shown + left_out == 3000 + 7
    assert shown > 100  # it summarises, it does not give up
    assert "WARNINGS" not in message and "warnings)" in footer  # errors win the space


def test_input_and_publish_problems_have_their_exit_codes(alert_project, tmp_path, s3_endpoint, monkeypatch, capsys):
    target, _, _ = _artifacts(alert_project)
    monkeypatch.delenv("UNIFY_ALERT_TOPIC_ARN", raising=False)
    assert _alert(tmp_path, "arn:aws:sns:us-east-1:123456789012:unused") == 2   # no artifacts
    assert "neither run_results.json nor sources.json" in capsys.readouterr().err
    assert _alert(target, None) == 2                                            # no topic
    assert "no SNS topic" in capsys.readouterr().err
    assert _alert(target, "arn:aws:sns:us-east-1:123456789012:no-such-topic") == 3
    assert "publish failed" in capsys.readouterr().err


def test_topic_defaults_to_the_environment(alert_project, topic_and_queue, monkeypatch):
    target, _, _ = _artifacts(alert_project)
    topic_arn, received = topic_and_queue
    monkeypatch.setenv("UNIFY_ALERT_TOPIC_ARN", topic_arn)
    assert _alert(target, None) == 1
    assert len(received()) == 1


def test_results_of_docs_generate_are_refused_not_read_as_all_clear(alert_project, tmp_path, capsys):
    """#13.7: `dbt docs generate` writes its own run_results.json (every node "success": compiled, not run)
    over the build's. Alerting
    on it would report a failed build as clean; `unify alert` names the command that wrote it and exits 2."""
    from unify.dbt_runner import run_dbt

    project, settings = alert_project
    target = tmp_path / "target"
    shutil.copytree(project / "target", target, ignore=shutil.ignore_patterns("logs"))
    build = json.loads((target / "run_results.json").read_text())
    assert build["args"]["which"] == "build"
    run_dbt(["docs", "generate"], settings, target_path=target, capture=True)
    docs = json.loads((target / "run_results.json").read_text())
    assert docs["metadata"]["invocation_id"] != build["metadata"]["invocation_id"]  # overwritten for real
    assert docs["args"]["which"] == "generate"
    # it lists the tests as compiled ("success"), never as passed or failed
    assert {r["status"] for r in docs["results"]} == {"success"}
    assert {r["status"] for r in build["results"]} >= {"pass", "fail", "error"}

    assert _alert(target, "arn:aws:sns:us-east-1:123456789012:unused") == 2
    err = capsys.readouterr().err
    assert "written by `dbt docs generate`" in err and docs["metadata"]["invocation_id"] in err


@pytest.mark.parametrize("which, accepted", [("test", True), ("retry", True), ("compile", False),
                                             ("list", False), ("run-operation", False), (None, False)])
def test_only_build_and_test_results_are_read(alert_project, tmp_path, capsys, which, accepted):
    target = _derived_target(alert_project, tmp_path, lambda s: True)
    run_results = json.loads((target / "run_results.json").read_text())
    if which is None:
        del run_results["args"]["which"]
    else:
        run_results["args"]["which"] = which
    (target / "run_results.json").write_text(json.dumps(run_results))
    code = _alert(target, None, "--dry-run")
    if accepted:
        assert code == 1 and "[FAIL]" in capsys.readouterr().out  # read: the fixture's failures are reported
    else:
        assert code == 2 and "not by a build or test" in capsys.readouterr().err
