"""`unify alert`: data-quality alerting (NFR-5) from dbt's artifacts to an Amazon SNS topic.

After `dbt build` (run_results.json) and `dbt source freshness` (sources.json) the scheduler runs
`unify alert --target-path target --topic-arn arn:aws:sns:...`. It reads both artifacts plus
manifest.json, keeps what needs attention (failed/errored tests and models, test warnings, stale
sources), finds each item's owner and publishes one readable summary to the topic (SNS fans it out
to e-mail, chat, SQS, Lambda). Each item carries a link-friendly id, `<invocation_id>/<short id>`:
the dbt invocation that produced it and a short hash of the node's unique_id that stays the same
across runs (filter or group on it); with --docs-url it also gets the node's page in the dbt docs.

Owners, first found wins: the node's `meta: {owner: ...}` (for a test: its own, then the tested
model's or source's), the node's group owner, the source's meta (dbt copies source-level meta to
its tables), the owners of exposures that use the node, else the default owner
(--default-owner / UNIFY_ALERT_DEFAULT_OWNER, default "data-platform").

SNS limits: subject at most 100 ASCII characters without line breaks; message at most 256 KiB
with its attributes. Items go errors first; each item's dbt message is cut to a few hundred
characters and, when the whole would not fit, the last items are replaced by a count of what was
left out. Message attributes (severity, invocation_id, errors, warnings, project) let subscriptions
filter, e.g. page only on severity = error. FIFO topics (.fifo) get a group and deduplication id.

Only a build's results count: `dbt docs generate` (and compile, list, show) write a run_results.json
too, over the build's, listing every node as compiled ("success"). `unify alert` reads `args.which` in run_results.json and
refuses (exit 2, naming the command that wrote it) anything but build, test, run, seed, snapshot or
retry; `unify cycle` keeps each command's artifacts in a target path of its own.

Exit codes: 0 nothing failed (warnings, if any, were published); 1 errors present (published);
2 bad input (no artifacts, no topic); 3 publishing failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERRORS, EXIT_INPUT, EXIT_PUBLISH = 0, 1, 2, 3
SUBJECT_MAX = 100                 # SNS: subject <= 100 characters, ASCII, no line breaks
MESSAGE_MAX_BYTES = 256 * 1024    # SNS: message + attributes <= 256 KiB
ATTRIBUTE_ALLOWANCE = 2 * 1024    # what the message attributes may take of that
ITEM_MESSAGE_MAX = 600            # characters of dbt's message per item
DEFAULT_OWNER = "data-platform"
ERROR_STATUSES = {"error", "fail", "runtime error"}
# dbt commands whose run_results.json holds data-quality results (`args.which`); `dbt docs generate`
# ("generate"), compile, list, show and run-operation write one too, without any test result.
BUILD_COMMANDS = {"build", "test", "run", "seed", "snapshot", "retry"}
DBT_COMMAND_NAMES = {"generate": "docs generate", "serve": "docs serve"}
WARNING_STATUSES = {"warn"}


class AlertInputError(Exception):
    """The dbt artifacts are missing or unreadable; the message names the file."""


class AlertPublishError(Exception):
    """SNS refused or could not be reached; the message names the topic and the reason."""


@dataclass(frozen=True)
class AlertItem:
    """One thing that needs attention: a failing/warning test, an errored node, a stale source."""

    severity: str            # "error" | "warning"
    kind: str                # test, model, seed, snapshot, source freshness, ...
    status: str              # dbt's status: fail, error, warn, runtime error
    unique_id: str
    name: str
    subject: str | None      # for a test: the model/source it tests
    owner: str
    owner_source: str        # where the owner came from: meta, group, exposure, default, ...
    failures: int | None     # failing rows (tests)
    detail: str
    invocation_id: str
    short_id: str
    docs_url: str | None = None

    @property
    def alert_id(self) -> str:
        return f"{self.invocation_id}/{self.short_id}"


@dataclass
class AlertReport:
    project: str
    command: str
    target: str | None
    invocations: dict[str, str] = field(default_factory=dict)   # artifact -> invocation_id
    generated_at: dict[str, str] = field(default_factory=dict)  # artifact -> generated_at
    items: list[AlertItem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)        # status -> count over all results
    skipped: list[str] = field(default_factory=list)            # nodes dbt skipped (upstream failed)
    title: str | None = None     # what ran, for the subject (default "dbt <command>"; `unify cycle` sets its own)

    @property
    def errors(self) -> list[AlertItem]:
        return [i for i in self.items if i.severity == "error"]

    @property
    def warnings(self) -> list[AlertItem]:
        return [i for i in self.items if i.severity == "warning"]

    @property
    def invocation_id(self) -> str:
        return self.invocations.get("run_results.json") or self.invocations.get("sources.json", "unknown")


def short_id(unique_id: str) -> str:
    """Stable 8-character id of a node: the same node gets the same id in every run."""
    return hashlib.sha1(unique_id.encode()).hexdigest()[:8]


# ------------------------------------------------------------------------------------------ owners


def _format_owner(value: object) -> str | None:
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        name, email = value.get("name"), value.get("email")
        if isinstance(email, list):
            email = ", ".join(str(e) for e in email)
        if name and email:
            return f"{name} <{email}>"
        return str(email or name) if (email or name) else None
    if isinstance(value, (list, tuple)):
        parts = [p for p in (_format_owner(v) for v in value) if p]
        return ", ".join(parts) or None
    return str(value)


class Owners:
    """Owner lookup over manifest.json (nodes, sources, groups, exposures)."""

    def __init__(self, manifest: dict | None, default_owner: str) -> None:
        manifest = manifest or {}
        self.nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
        self.groups = {g.get("name"): g for g in manifest.get("groups", {}).values()}
        self.default_owner = default_owner
        self.exposures_using: dict[str, list[dict]] = {}
        for exposure in manifest.get("exposures", {}).values():
            for uid in exposure.get("depends_on", {}).get("nodes", []):
                self.exposures_using.setdefault(uid, []).append(exposure)

    def node(self, unique_id: str) -> dict:
        return self.nodes.get(unique_id, {})

    def _own(self, unique_id: str) -> tuple[str, str] | None:
        node = self.node(unique_id)
        meta = {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}
        owner = _format_owner(meta.get("owner"))
        if owner:
            return owner, "meta"
        group = node.get("group") or (node.get("config") or {}).get("group")
        if group and group in self.groups:
            owner = _format_owner(self.groups[group].get("owner"))
            if owner:
                return owner, f"group {group}"
        owner = _format_owner((node.get("source_meta") or {}).get("owner"))
        if owner:
            return owner, "source meta"
        exposures = self.exposures_using.get(unique_id, [])
        owners = sorted({o for o in (_format_owner(e.get("owner")) for e in exposures) if o})
        if owners:
            names = ", ".join(sorted(e.get("name", "?") for e in exposures))
            return ", ".join(owners), f"exposure {names}"
        return None

    def tested(self, unique_id: str) -> str | None:
        """For a test: the unique_id of the model/source/seed/snapshot it tests."""
        node = self.node(unique_id)
        if node.get("attached_node"):
            return node["attached_node"]
        deps = node.get("depends_on", {}).get("nodes", [])
        return deps[0] if deps else None

    def owner(self, unique_id: str) -> tuple[str, str]:
        """(owner, where it came from) for any node; tests fall back to what they test."""
        found = self._own(unique_id)
        if found:
            return found
        if unique_id.startswith("test.") or self.node(unique_id).get("resource_type") == "test":
            tested = self.tested(unique_id)
            if tested:
                found = self._own(tested)
                if found:
                    return found[0], f"{found[1]} of {tested.split('.')[-1]}"
        return self.default_owner, "no owner set: default"


# ---------------------------------------------------------------------------------------- collect


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise AlertInputError(f"{path}: not a readable dbt artifact: {err}") from err


def _clip(text: str | None, limit: int = ITEM_MESSAGE_MAX) -> str:
    lines = [line.strip() for line in (text or "").splitlines()]
    text = " | ".join(line for line in lines if line and not line.startswith("compiled code at"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def _criteria(criteria: dict | None) -> str:
    parts = []
    for key, label in (("warn_after", "warn"), ("error_after", "error")):
        rule = (criteria or {}).get(key) or {}
        if rule.get("count") and rule.get("period"):
            parts.append(f"{label} after {rule['count']} {rule['period']}(s)")
    return ", ".join(parts)


def _docs_url(base: str | None, resource_type: str, unique_id: str) -> str | None:
    return f"{base.rstrip('/')}/#!/{resource_type}/{unique_id}" if base else None


def build_command(run_results: dict) -> str | None:
    """The dbt command that wrote a run_results.json (`args.which`: build, test, generate, ...)."""
    return ((run_results.get("args") or {}).get("which")) or None


def check_build_results(run_results: dict, path: Path) -> None:
    """Refuse a run_results.json that no build wrote: `dbt docs generate` (and compile, list, show, ...)
    write one too, over the build's, where every node is "success" (compiled, not run), so alerting on
    it would say "all clear" after a failed build."""
    which = build_command(run_results)
    if which not in BUILD_COMMANDS:
        invocation = (run_results.get("metadata") or {}).get("invocation_id", "?")
        wrote = f"`dbt {DBT_COMMAND_NAMES.get(which, which)}`" if which else "a dbt command that records no `args.which`"
        raise AlertInputError(
            f"{path}: written by {wrote} (invocation {invocation}), not by a build or test: its results "
            f"say nothing about data quality. Alert on the artifacts of `dbt build`/`dbt test` (give that "
            f"command its own --target-path, as `unify cycle` does, or run `unify alert` before `dbt docs "
            f"generate` overwrites them)"
        )


def collect_alerts(
    target_path: Path,
    *,
    docs_url: str | None = None,
    default_owner: str = DEFAULT_OWNER,
) -> AlertReport:
    """What needs attention in target_path's run_results.json and sources.json, with owners."""
    return collect_alert_artifacts(
        target_path / "run_results.json", target_path / "sources.json", target_path / "manifest.json",
        docs_url=docs_url, default_owner=default_owner, where=target_path)


def collect_alert_artifacts(
    run_results_path: Path | None,
    sources_path: Path | None,
    manifest_path: Path | None,
    *,
    docs_url: str | None = None,
    default_owner: str = DEFAULT_OWNER,
    where: Path | str | None = None,
) -> AlertReport:
    """What needs attention in a build's run_results.json and a freshness check's sources.json (each may
    live in its own target path, as `unify cycle` keeps them), with owners from manifest.json."""
    run_results = _read_json(run_results_path) if run_results_path else None
    sources = _read_json(sources_path) if sources_path else None
    if run_results is None and sources is None:
        raise AlertInputError(
            f"{where or run_results_path or sources_path}: neither run_results.json nor sources.json found "
            "(run `dbt build` / `dbt source freshness` with this target path first)"
        )
    if run_results is not None:
        check_build_results(run_results, run_results_path)
    manifest = _read_json(manifest_path) if manifest_path else None
    if manifest is None:
        log.warning("%s: no manifest.json; owners fall back to %r", manifest_path, default_owner)
    owners = Owners(manifest, default_owner)
    args = (run_results or {}).get("args") or {}
    report = AlertReport(
        project=((manifest or {}).get("metadata") or {}).get("project_name") or "dbt project",
        command=str(args.get("which") or ("source freshness" if run_results is None else "run")),
        target=args.get("target"),
    )

    for name, artifact in (("run_results.json", run_results), ("sources.json", sources)):
        if artifact is not None:
            report.invocations[name] = (artifact.get("metadata") or {}).get("invocation_id", "unknown")
            report.generated_at[name] = (artifact.get("metadata") or {}).get("generated_at", "?")

    for result in (run_results or {}).get("results", []):
        status = str(result.get("status"))
        report.counts[status] = report.counts.get(status, 0) + 1
        uid = result["unique_id"]
        if status == "skipped":
            report.skipped.append(owners.node(uid).get("name") or uid.split(".")[-1])
        if status not in ERROR_STATUSES | WARNING_STATUSES:
            continue
        node = owners.node(uid)
        kind = node.get("resource_type") or uid.split(".")[0]
        tested = owners.tested(uid) if kind == "test" else None
        failures = result.get("failures")
        detail = _clip(result.get("message"))
        if kind == "test" and failures is not None and status in ("fail", "warn"):
            detail = f"{failures} failing row(s): {detail}" if detail else f"{failures} failing row(s)"
        owner, owner_source = owners.owner(uid)
        report.items.append(
            AlertItem(
                severity="error" if status in ERROR_STATUSES else "warning",
                kind=kind, status=status, unique_id=uid,
                name=node.get("name") or uid.split(".")[-1 if kind != "test" else -2],
                subject=".".join(tested.split(".")[2:]) if tested else None,
                owner=owner, owner_source=owner_source,
                failures=failures if kind == "test" else None,
                detail=detail,
                invocation_id=report.invocations["run_results.json"],
                short_id=short_id(uid),
                docs_url=_docs_url(docs_url, kind, uid),
            )
        )

    for result in (sources or {}).get("results", []):
        status = str(result.get("status"))
        report.counts[f"freshness {status}"] = report.counts.get(f"freshness {status}", 0) + 1
        if status not in ERROR_STATUSES | WARNING_STATUSES:
            continue
        uid = result["unique_id"]
        node = owners.node(uid)
        if status == "runtime error":
            detail = "freshness query failed: " + _clip(result.get("error") or result.get("message"))
        else:
            detail = (
                f"last loaded {_ago(result.get('max_loaded_at_time_ago_in_s'))} ago "
                f"(at {result.get('max_loaded_at', '?')}); {_criteria(result.get('criteria'))}"
            )
        owner, owner_source = owners.owner(uid)
        report.items.append(
            AlertItem(
                severity="error" if status in ERROR_STATUSES else "warning",
                kind="source freshness", status="stale" if status == "error" else status,
                unique_id=uid,
                name=".".join(uid.split(".")[2:]) if uid.startswith("source.") else uid,
                subject=None, owner=owner, owner_source=owner_source, failures=None, detail=detail,
                invocation_id=report.invocations["sources.json"],
                short_id=short_id(uid),
                docs_url=_docs_url(docs_url, "source", uid),
            )
        )
    report.items.sort(key=lambda i: (i.severity != "error", i.kind != "source freshness", i.unique_id))
    return report


# ----------------------------------------------------------------------------------------- render


def _ascii_line(text: str) -> str:
    text = "".join(c if " " <= c <= "~" else " " for c in text)
    return " ".join(text.split())


def render_subject(report: AlertReport) -> str:
    errors, warnings = len(report.errors), len(report.warnings)
    stale = sum(1 for i in report.errors if i.kind == "source freshness")
    where = f" on {report.target}" if report.target else ""
    subject = f"[{report.project}] {report.title or 'dbt ' + report.command}{where}: {errors} error(s), {warnings} warning(s)"
    if stale:
        subject += f", {stale} stale source(s)"
    subject = _ascii_line(subject)
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 3] + "..."


def _item_block(number: int, item: AlertItem) -> str:
    label = {"fail": "FAIL", "error": "ERROR", "warn": "WARN", "stale": "STALE",
             "runtime error": "RUNTIME ERROR"}.get(item.status, item.status.upper())
    what = f"{item.kind} {item.name}"
    if item.subject:
        what += f" (on {item.subject})"
    lines = [
        f"{number}. [{label}] {what}",
        f"   owner: {item.owner}  ({item.owner_source})",
        f"   {item.detail}",
        f"   id: {item.alert_id}",
    ]
    if item.docs_url:
        lines.append(f"   docs: {item.docs_url}")
    return "\n".join(lines) + "\n"


def render_message(report: AlertReport, max_bytes: int = MESSAGE_MAX_BYTES - ATTRIBUTE_ALLOWANCE) -> str:
    """The readable summary, cut to `max_bytes` (UTF-8) by leaving out the last items if needed."""
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
    header = [
        f"{report.project}: data-quality alert ({len(report.errors)} error(s), {len(report.warnings)} warning(s))",
    ]
    if report.title:
        header.append(f"what ran: {report.title}" + (f" on {report.target}" if report.target else ""))
    for artifact, invocation in report.invocations.items():
        header.append(f"{artifact}: dbt invocation {invocation}, generated {report.generated_at.get(artifact)}")
    header.append(f"all results: {counts}")
    if report.skipped:
        shown = ", ".join(report.skipped[:20]) + (f" and {len(report.skipped) - 20} more" if len(report.skipped) > 20 else "")
        header.append(f"skipped after upstream failures: {shown}")
    header.append("")
    text = "\n".join(header) + "\n"
    used = len(text.encode())
    budget = max_bytes - 400  # room for the "left out" footer
    left_out: dict[str, int] = {}
    number = 0
    full = False
    for title, items in (("ERRORS", report.errors), ("WARNINGS", report.warnings)):
        section, section_bytes = f"{title}\n", len(title) + 2
        for item in items:
            block = _item_block(number + 1, item)
            size = len(block.encode())
            if full or used + section_bytes + size > budget:
                full = True  # keep the order: everything after the first item that does not fit is counted
                left_out[title.lower()] = left_out.get(title.lower(), 0) + 1
                continue
            number += 1
            section += block
            section_bytes += size
        if section != f"{title}\n":
            text += section + "\n"
            used += section_bytes
    if left_out:
        parts = ", ".join(f"{count} {kind}" for kind, count in left_out.items())
        text += (f"... {sum(left_out.values())} more item(s) not shown ({parts}) to stay within SNS's "
                 f"256 KiB: see run_results.json / sources.json of the invocation(s) above.\n")
    return text


def message_attributes(report: AlertReport) -> dict:
    return {
        "severity": {"DataType": "String", "StringValue": "error" if report.errors else "warning"},
        "invocation_id": {"DataType": "String", "StringValue": report.invocation_id},
        "errors": {"DataType": "Number", "StringValue": str(len(report.errors))},
        "warnings": {"DataType": "Number", "StringValue": str(len(report.warnings))},
        "project": {"DataType": "String", "StringValue": report.project},
    }


# ---------------------------------------------------------------------------------------- publish


def publish(report: AlertReport, topic_arn: str) -> str:
    """Publish the summary to the SNS topic; returns the SNS MessageId."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    parts = topic_arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sns":
        raise AlertPublishError(f"{topic_arn!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    client = boto3.client("sns", region_name=parts[3] or None,
                          config=Config(retries={"mode": "standard", "max_attempts": 5}))
    subject, message = render_subject(report), render_message(report)
    kwargs = {"TopicArn": topic_arn, "Subject": subject, "Message": message,
              "MessageAttributes": message_attributes(report)}
    if topic_arn.endswith(".fifo"):
        kwargs["MessageGroupId"] = "unify-dbt-alerts"
        kwargs["MessageDeduplicationId"] = hashlib.sha256(
            (report.invocation_id + message).encode()).hexdigest()[:64]
    try:
        response = client.publish(**kwargs)
    except (BotoCoreError, ClientError) as err:
        raise AlertPublishError(f"SNS topic {topic_arn}: publish failed: {err}") from err
    return response["MessageId"]


# -------------------------------------------------------------------------------------------- CLI


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "alert",
        help="publish dbt test failures/warnings and stale sources to an SNS topic",
        description="Reads run_results.json, sources.json and manifest.json from the dbt target path "
                    "and publishes one summary (owners, failing rows, ids, docs links) to an SNS topic. "
                    "Exit codes: 0 no errors, 1 errors present, 2 bad input, 3 publish failed.",
    )
    parser.add_argument("--target-path", type=Path,
                        default=Path(os.environ.get("DBT_TARGET_PATH") or "target"),
                        help="dbt target folder holding the artifacts (default: $DBT_TARGET_PATH or ./target)")
    parser.add_argument("--topic-arn", default=os.environ.get("UNIFY_ALERT_TOPIC_ARN"),
                        help="SNS topic ARN (default: $UNIFY_ALERT_TOPIC_ARN)")
    parser.add_argument("--docs-url", default=os.environ.get("UNIFY_DOCS_URL"),
                        help="base URL of the dbt docs site, for per-node links (default: $UNIFY_DOCS_URL)")
    parser.add_argument("--default-owner", default=os.environ.get("UNIFY_ALERT_DEFAULT_OWNER") or DEFAULT_OWNER,
                        help=f"owner when none is set (default: $UNIFY_ALERT_DEFAULT_OWNER or {DEFAULT_OWNER})")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the subject and message instead of publishing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = collect_alerts(args.target_path, docs_url=args.docs_url, default_owner=args.default_owner)
    except AlertInputError as err:
        print(f"unify alert: {err}", file=sys.stderr)
        return EXIT_INPUT
    outcome = EXIT_ERRORS if report.errors else EXIT_OK
    if not report.items:
        print(f"unify alert: nothing to report ({report.project}: no failures, warnings or stale sources)")
        return EXIT_OK
    if args.dry_run:
        print(f"Subject: {render_subject(report)}\n")
        print(render_message(report))
        return outcome
    if not args.topic_arn:
        print("unify alert: no SNS topic: pass --topic-arn or set UNIFY_ALERT_TOPIC_ARN (or use --dry-run)",
              file=sys.stderr)
        return EXIT_INPUT
    try:
        message_id = publish(report, args.topic_arn)
    except AlertPublishError as err:
        print(f"unify alert: {err}", file=sys.stderr)
        return EXIT_PUBLISH
    print(f"unify alert: published {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
          f"to {args.topic_arn} (message {message_id})")
    return outcome
