"""`unify cycle frequent|nightly`: one load cycle, the one command a scheduler runs (docs/operations.md).

    take the cycle lock (refused -> exit 75: another cycle is running; the next tick picks up the work)
    -> load what is new in the landing zone            (loaders.load.load: catches up whatever the
                                                         S3-event Lambda has not loaded)
    -> dbt build --selector <frequent|nightly>          (selectors.yml; frequent sets UNIFY_TEST_WINDOW_HOURS=6
                                                         and builds only what reads raw tables with data no
                                                         successful build has read, and what moves with
                                                         time: unify/cycle_selection.py)
    -> dbt source freshness
    -> post-cycle steps                                 (POST_CYCLE_STEPS: the privileged access step on every
                                                         target but local, then the QuickSight SPICE refresh
                                                         where QuickSight is configured)
    -> publish failures, warnings and stale sources to SNS (unify/alerting.py)
    -> one JSON summary line on stdout, with CloudWatch Embedded Metric Format metrics, and an exit code

A failed cycle leaves the marts as they were: dbt builds each table beside the old one and swaps it in
one transaction, an incremental model's delete+insert is one transaction, and a model whose parent
failed is skipped. The next cycle catches up: loads are exactly once (ledger) and incremental models
pick up every key loaded since their high-water mark.

Each cycle writes dbt's artifacts to a target path of its own (<target>/cycles/<cycle>), where nothing
else runs: the build writes run_results.json, the freshness check sources.json (never run_results.json),
so alerting reads the build's results, never ones that `dbt docs generate` wrote. Sharing the path
between the two commands lets the second reuse the first's partial parse.

Metrics (namespace Unify/Cycles, dimensions Environment and Cycle), in the summary line itself so
CloudWatch Logs extracts them from the container's log (EMF; no agent, no PutMetricData call):
CycleSucceeded / CycleFailed / CycleRefused (0 or 1), CycleSeconds, FilesLoaded, RowsLoaded,
FilesQuarantined, BuildErrors, BuildWarnings, StaleSources, and DataAgeSeconds: after a successful cycle,
how old the newest data the marts may lack is (now minus the moment the cycle's load started: everything
landed before it is now in the marts). A failed or refused cycle emits no DataAgeSeconds, so the alarm
"data older than 15 minutes" treats missing data as breaching (infra/: 15 one-minute periods without a
successful cycle, or a value above 900 s).

Exit codes: 0 succeeded (warnings and stale sources, if any, published); 1 failed (the load failed,
dbt reported errors or failing tests, a post-cycle step failed, the lock was lost or publishing failed);
2 configuration error (lock, landing, target); 75 refused: another cycle holds the lock.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from loaders.config import Settings, load_settings
from loaders.logs import configure_logging, log_event
from unify.alerting import (DEFAULT_OWNER, ERROR_STATUSES, WARNING_STATUSES, AlertInputError, AlertItem,
                            AlertPublishError, AlertReport, collect_alert_artifacts, publish, short_id)
from unify import cycle_selection
from unify.cycle_lock import CycleLockError, CycleRefused, Holder, open_lock
from unify.dbt_runner import dbt_schema, dbt_target_path, run_dbt

log = logging.getLogger("unify.cycle")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_REFUSED = 0, 1, 2, 75
METRIC_NAMESPACE = "Unify/Cycles"


@dataclass(frozen=True)
class CycleSpec:
    selector: str            # selectors.yml
    test_window_hours: str   # UNIFY_TEST_WINDOW_HOURS for the build ("" = every test on every row)
    when: str


CYCLES: dict[str, CycleSpec] = {
    "frequent": CycleSpec("frequent", "6", "every 10 minutes: the WMS's CDC must reach the marts within 15 minutes"),
    "nightly": CycleSpec("nightly", "", "once a day, and after an outage or a deploy: every test on every row"),
}


@dataclass(frozen=True)
class PostCycleStep:
    """A step run after the build, e.g. the QuickSight SPICE refresh after the frequent cycle."""

    name: str
    function: str                               # "package.module:function", imported when the step runs
    cycles: tuple[str, ...] = ("frequent", "nightly")
    needs_build: bool = True                    # run only after a build that succeeded
    after: tuple[str, ...] = ()                 # earlier post-cycle steps that must not have failed


class PostCycleSkipped(Exception):
    """Raised by a post-cycle step that does not apply here (e.g. QuickSight not configured): the step is
    `skipped` in the summary with this reason, and the cycle is not failed."""


# The hook other parts of the platform plug into: append a PostCycleStep here (one line). Steps run in
# order after the build and the freshness check, before the alert; each gets a PostCycleContext and
# returns a dict for the summary (or None), or raises PostCycleSkipped(reason). Any other exception fails
# that step (and so the cycle, and the alert says so); the other steps still run, except those that
# name it in `after`.
POST_CYCLE_STEPS: list[PostCycleStep] = [
    # The privileged step (docs/access-control.md, "Who needs what"): on every target but local a build
    # grants readers nothing on the row-secured tables it replaced; `apply_access` runs as the security
    # admin (another dbt target, another IAM role) right after every build, also a failed one: the
    # tables it did replace must not stay closed to readers until the next successful cycle.
    PostCycleStep("access", "unify.access:cycle_access_step", needs_build=False),
    # SPICE reads through the reader grants the access step restores: never before it, nor after it failed.
    PostCycleStep("quicksight_refresh", "unify.quicksight.refresh:cycle_refresh_step", after=("access",)),
]


@dataclass
class PostCycleContext:
    cycle: str
    settings: Settings
    schema: str                  # dbt's target schema (layers are <schema>_marts, ...)
    environment: str
    dbt_target: str | None
    build_target_path: Path      # the build's manifest.json and run_results.json
    build_succeeded: bool
    run_id: str = ""
    target_root: Path | None = None   # the cycle's artifacts folder: a step keeps its own under it
    dbt_log_format: str | None = None  # "json" in production, for a step that runs dbt


@dataclass
class Step:
    name: str
    status: str = "skipped"      # ok | warning | failed | skipped
    seconds: float = 0.0
    started_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"status": self.status, "seconds": round(self.seconds, 3), **self.detail}
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class CycleOptions:
    cycle: str
    load: bool = True                   # production's Lambda loads on S3 events; the cycle catches up
    landing: str | None = None          # default: UNIFY_LANDING
    target_path: Path | None = None     # default: <dbt target>/cycles/<cycle>
    dbt_target: str | None = None       # profiles.yml target (default DBT_TARGET, else local)
    topic_arn: str | None = None
    docs_url: str | None = None
    default_owner: str = DEFAULT_OWNER
    environment: str = "local"
    lock_url: str | None = None         # UNIFY_CYCLE_LOCK: s3://bucket/key (required on Redshift)
    dbt_log_format: str | None = None   # "json" in production: one JSON object per dbt log line
    capture_dbt: bool = False           # keep dbt's output out of ours (its tail goes into a failed step)


@dataclass
class CycleResult:
    cycle: str
    environment: str
    run_id: str
    started_at: datetime
    outcome: str = "running"            # succeeded | failed | refused | error
    exit_code: int = EXIT_OK
    message: str | None = None
    finished_at: datetime | None = None
    steps: dict[str, Step] = field(default_factory=dict)
    data_as_of: datetime | None = None

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(timezone.utc)
        return (end - self.started_at).total_seconds()

    def step(self, name: str) -> Step:
        return self.steps.setdefault(name, Step(name))

    def metrics(self) -> dict[str, tuple[float, str]]:
        """name -> (value, CloudWatch unit)."""
        load = self.steps.get("load", Step("load")).detail
        build = self.steps.get("build", Step("build")).detail
        fresh = self.steps.get("freshness", Step("freshness")).detail
        values: dict[str, tuple[float, str]] = {
            "CycleSucceeded": (int(self.outcome == "succeeded"), "Count"),
            "CycleFailed": (int(self.outcome in ("failed", "error")), "Count"),
            "CycleRefused": (int(self.outcome == "refused"), "Count"),
            "CycleSeconds": (round(self.seconds, 3), "Seconds"),
        }
        if self.outcome != "refused":
            values.update({
                "FilesLoaded": (load.get("files", 0), "Count"),
                "RowsLoaded": (load.get("rows", 0), "Count"),
                "FilesQuarantined": (load.get("quarantined", 0), "Count"),
                "BuildErrors": (build.get("errors", 0), "Count"),
                "BuildWarnings": (build.get("warnings", 0), "Count"),
                "StaleSources": (fresh.get("stale", 0) + fresh.get("warn", 0), "Count"),
            })
        if self.outcome == "succeeded" and self.data_as_of and self.finished_at:
            values["DataAgeSeconds"] = (round((self.finished_at - self.data_as_of).total_seconds(), 3), "Seconds")
        return values

    def summary(self) -> dict:
        """The JSON summary: one line, CloudWatch Embedded Metric Format (the metrics are root members)."""
        metrics = self.metrics()
        finished = self.finished_at or datetime.now(timezone.utc)
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(finished.timestamp() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [["Environment", "Cycle"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }],
            },
            "event": "cycle_summary",
            "Environment": self.environment,
            "Cycle": self.cycle,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": finished.isoformat(timespec="seconds"),
            "data_as_of": self.data_as_of.isoformat(timespec="seconds") if self.data_as_of else None,
            "steps": {name: step.to_dict() for name, step in self.steps.items()},
            **{name: value for name, (value, _) in metrics.items()},
        }
        if self.message:
            document["message"] = self.message
        return document


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _timed(result: CycleResult, name: str, work: Callable[[Step], None]) -> Step:
    """Run one step; an unexpected exception fails the step (logged with its traceback), never the cycle's
    remaining steps."""
    step = result.step(name)
    step.started_at = _now()
    t0 = time.monotonic()
    log_event(log, "cycle_step_started", cycle=result.cycle, run_id=result.run_id, step=name)
    try:
        work(step)
    except Exception as err:  # noqa: BLE001 - recorded in the step, logged with traceback, cycle fails
        log.exception("cycle step %s failed", name)
        step.status, step.error = "failed", f"{type(err).__name__}: {err}"
    step.seconds = time.monotonic() - t0
    log_event(log, "cycle_step_finished", logging.ERROR if step.status == "failed" else logging.INFO,
              cycle=result.cycle, run_id=result.run_id, step=name, status=step.status,
              seconds=round(step.seconds, 3), error=step.error)
    return step


def _fresh_target(path: Path, *artifacts: str) -> Path:
    """The step's target path with last cycle's artifacts removed: a dbt that dies before writing its own
    must not leave the previous cycle's results to be read as this one's."""
    path.mkdir(parents=True, exist_ok=True)
    for name in artifacts:
        (path / name).unlink(missing_ok=True)
    return path


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _dbt(args: list[str], settings: Settings, options: CycleOptions, target: Path, env: dict[str, str]):
    full = list(args)
    if options.dbt_target:
        full += ["--target", options.dbt_target]
    if options.dbt_log_format:
        full = ["--log-format", options.dbt_log_format, *full]
    return run_dbt(full, settings, target_path=target, capture=options.capture_dbt, check=False, env=env)


def _tail(proc) -> str:
    text = proc.stdout or ""
    return "\n".join(text.splitlines()[-15:]) if text else ""


def run_cycle(settings: Settings, options: CycleOptions, *, lock=None) -> CycleResult:
    """One cycle (see the module docstring). Never raises for a failing step: the result says what failed."""
    if options.cycle not in CYCLES:
        raise ValueError(f"unknown cycle {options.cycle!r}: choose from {', '.join(CYCLES)}")
    spec = CYCLES[options.cycle]
    holder = Holder(options.cycle)
    result = CycleResult(options.cycle, options.environment, holder.run_id, _now())
    schema = dbt_schema()
    base = options.target_path or dbt_target_path() / "cycles" / options.cycle
    local_target = (options.dbt_target or os.environ.get("DBT_TARGET") or "local") == "local"
    log_event(log, "cycle_started", cycle=options.cycle, run_id=holder.run_id, environment=options.environment,
              schema=schema, selector=spec.selector)
    try:
        lock = lock or open_lock(settings, schema, holder, lock_url=options.lock_url, local_target=local_target)
        lock.acquire()
    except CycleRefused as err:
        return _finish(result, "refused", EXIT_REFUSED, f"{err}; this run stops here and the next tick picks up "
                                                        "the work")
    except CycleLockError as err:
        return _finish(result, "error", EXIT_CONFIG, str(err))
    log_event(log, "cycle_lock_taken", cycle=options.cycle, run_id=holder.run_id, lock=lock.describe())
    try:
        _steps(settings, options, spec, result, base, schema, lock)
    finally:
        lock.release()
    failed = [name for name, step in result.steps.items() if step.status == "failed"]
    if failed:
        return _finish(result, "failed", EXIT_FAILED, "failed step(s): " + ", ".join(failed))
    load_step, build_step = result.steps.get("load"), result.steps["build"]
    as_of = load_step.started_at if load_step and load_step.status != "skipped" else build_step.started_at
    result.data_as_of = as_of
    return _finish(result, "succeeded", EXIT_OK, None)


def _steps(settings: Settings, options: CycleOptions, spec: CycleSpec, result: CycleResult, base: Path,
           schema: str, lock) -> None:
    build_path = fresh_path = _fresh_target(base, "run_results.json", "sources.json")
    load_report: dict[str, Any] = {}

    def load_step(step: Step) -> None:
        from loaders.load import EXIT_FAILED as LOAD_FAILED, EXIT_QUARANTINED, load

        report = load(settings, options.landing or settings.landing)
        load_report["report"] = report
        step.detail = {"files": report.files, "rows": report.rows, "new": report.new, "seen": report.seen,
                       "quarantined": len(report.quarantined), "exit_code": report.exit_code}
        if report.quarantined:
            step.detail["quarantine_reasons"] = sorted({q.reason for q in report.quarantined})[:5]
        if report.exit_code == LOAD_FAILED:
            step.status, step.error = "failed", report.error or "the load failed"
        else:
            step.status = "warning" if report.exit_code == EXIT_QUARANTINED else "ok"

    def build_step(step: Step) -> None:
        selection = cycle_selection.select(settings, spec.selector, schema)
        proc = _dbt(["build", *selection.dbt_args()], settings, options, build_path,
                    {"UNIFY_TEST_WINDOW_HOURS": spec.test_window_hours})
        run_results = _read(build_path / "run_results.json")
        counts: dict[str, int] = {}
        for item in (run_results or {}).get("results", []):
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        errors = sum(n for status, n in counts.items() if status in ERROR_STATUSES)
        step.detail = {"selector": selection.selector, "selection": selection.reason,
                       "nodes_selected": selection.describe(),
                       "test_window_hours": spec.test_window_hours or None,
                       "exit_code": proc.returncode, "counts": counts, "errors": errors,
                       "warnings": sum(n for s, n in counts.items() if s in WARNING_STATUSES),
                       "skipped": counts.get("skipped", 0), "artifacts": str(build_path)}
        if proc.returncode == 0 and run_results is not None:
            step.status = "warning" if step.detail["warnings"] else "ok"
            step.detail["marks_recorded"] = sorted(cycle_selection.record(settings, schema, selection))
        else:
            step.status = "failed"
            step.error = (f"dbt build exited {proc.returncode} with {errors} error(s)" if run_results is not None
                          else f"dbt build exited {proc.returncode} without results (see {build_path / 'logs'})")
            if options.capture_dbt and run_results is None:
                step.error += "\n" + _tail(proc)

    def freshness_step(step: Step) -> None:
        # the build's environment, so that dbt sees the same env vars and reuses the build's partial parse
        proc = _dbt(["source", "freshness"], settings, options, fresh_path,
                    {"UNIFY_TEST_WINDOW_HOURS": spec.test_window_hours})
        sources = _read(fresh_path / "sources.json")
        if sources is None:
            step.status = "failed"
            step.error = f"dbt source freshness exited {proc.returncode} without results (see {fresh_path / 'logs'})"
            return
        statuses = [r.get("status") for r in sources.get("results", [])]
        step.detail = {"exit_code": proc.returncode, "sources": len(statuses), "stale": statuses.count("error"),
                       "warn": statuses.count("warn"), "runtime_errors": statuses.count("runtime error")}
        if step.detail["runtime_errors"]:
            step.status, step.error = "failed", f"{step.detail['runtime_errors']} freshness query(ies) failed"
        elif proc.returncode != 0 and not step.detail["stale"]:
            # dbt leaves a source whose freshness query failed out of sources.json: only the exit code says so
            step.status = "failed"
            step.error = (f"dbt source freshness exited {proc.returncode} with no stale source: a freshness query "
                          f"failed (see {fresh_path / 'logs'})\n" + _tail(proc))
        else:
            step.status = "warning" if step.detail["stale"] or step.detail["warn"] else "ok"

    if options.load:
        _timed(result, "load", load_step)
    else:
        result.step("load").detail = {"reason": "--no-load: the S3-event loader loads"}
    _timed(result, "build", build_step)
    _timed(result, "freshness", freshness_step)
    build_ok = result.steps["build"].status in ("ok", "warning")
    context = PostCycleContext(options.cycle, settings, schema, options.environment, options.dbt_target,
                               build_path, build_ok, result.run_id, base, options.dbt_log_format)
    for post in POST_CYCLE_STEPS:
        if options.cycle not in post.cycles:
            continue
        if post.needs_build and not build_ok:
            result.step(post.name).detail = {"reason": "the build did not succeed"}
            continue
        failed_before = [name for name in post.after if result.steps.get(name, Step(name)).status == "failed"]
        if failed_before:
            result.step(post.name).detail = {"reason": f"step {', '.join(failed_before)} failed"}
            continue
        _timed(result, post.name, lambda step, post=post: _post_step(post, context, step))
    try:
        lock.check()
    except CycleLockError as err:
        lost = result.step("lock")
        lost.status, lost.error = "failed", str(err)
    _timed(result, "alert", lambda step: _alert_step(options, result, build_path, fresh_path, load_report, step))


def _post_step(post: PostCycleStep, context: PostCycleContext, step: Step) -> None:
    module, _, name = post.function.partition(":")
    try:
        output = getattr(importlib.import_module(module), name)(context)
    except PostCycleSkipped as skipped:
        step.status, step.detail = "skipped", {"reason": str(skipped)}
        return
    step.status, step.detail = "ok", dict(output or {})


def _cycle_item(result: CycleResult, kind: str, name: str, status: str, detail: str, owner: str) -> AlertItem:
    uid = f"cycle.{result.cycle}.{name}"
    return AlertItem(severity="error" if status in ERROR_STATUSES else "warning", kind=kind, status=status,
                     unique_id=uid, name=name, subject=None, owner=owner, owner_source="cycle step: default owner",
                     failures=None, detail=detail, invocation_id=result.run_id, short_id=short_id(uid))


def _alert_step(options: CycleOptions, result: CycleResult, build_path: Path, fresh_path: Path,
                load_report: dict, step: Step) -> None:
    title = f"unify cycle {options.cycle}"
    try:
        report = collect_alert_artifacts(build_path / "run_results.json", fresh_path / "sources.json",
                                         build_path / "manifest.json", docs_url=options.docs_url,
                                         default_owner=options.default_owner)
    except AlertInputError:  # neither dbt command left results: the failed steps below say why
        report = AlertReport(project="unify", command="cycle", target=None)
    report.title, report.target = title, options.environment
    owner = options.default_owner
    for name, other in result.steps.items():
        if other.status != "failed":
            continue
        if name in ("build", "freshness") and "without results" not in (other.error or ""):
            continue  # dbt's own results (above) say what failed
        report.items.append(_cycle_item(result, "cycle step", name, "error", other.error or "failed", owner))
    loaded = load_report.get("report")
    if loaded is not None and loaded.quarantined:
        reasons = sorted({q.reason for q in loaded.quarantined})
        report.items.append(_cycle_item(
            result, "load", "quarantined files", "warn",
            f"{len(loaded.quarantined)} file(s) quarantined (kept; fix and `unify load --retry-quarantined`): "
            + "; ".join(reasons[:5]) + f"; e.g. {loaded.quarantined[0].key}", owner))
    report.items.sort(key=lambda i: (i.severity != "error", i.kind != "cycle step", i.unique_id))
    step.detail = {"errors": len(report.errors), "warnings": len(report.warnings), "published": False}
    if not report.items:
        step.status = "ok"
        return
    if not options.topic_arn:
        step.status = "skipped"
        step.detail["reason"] = "no SNS topic (UNIFY_ALERT_TOPIC_ARN / --topic-arn)"
        return
    try:
        step.detail["message_id"] = publish(report, options.topic_arn)
    except AlertPublishError as err:
        step.status, step.error = "failed", str(err)
        return
    step.status, step.detail["published"] = "ok", True
    step.detail["topic"] = options.topic_arn


def _finish(result: CycleResult, outcome: str, exit_code: int, message: str | None) -> CycleResult:
    result.outcome, result.exit_code, result.message = outcome, exit_code, message
    result.finished_at = _now()
    log_event(log, "cycle_finished", logging.INFO if exit_code in (EXIT_OK, EXIT_REFUSED) else logging.ERROR,
              cycle=result.cycle, run_id=result.run_id, outcome=outcome, exit_code=exit_code,
              seconds=round(result.seconds, 3), message=message)
    return result


# -------------------------------------------------------------------------------------------- CLI


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cycle",
        help="one production load cycle (what the scheduler runs): load, dbt build, freshness, alert",
        description="Load what is new, `dbt build --selector <cycle>`, `dbt source freshness`, post-cycle steps "
                    "(the privileged access step as the security admin, the QuickSight SPICE refresh), "
                    "publish failures and stale sources to SNS; prints one JSON summary line (CloudWatch "
                    "Embedded Metric Format). Overlapping cycles are refused (exit 75). Exit codes: 0 succeeded, "
                    "1 failed, 2 configuration error, 75 refused. docs/operations.md.",
    )
    parser.add_argument("cycle", choices=sorted(CYCLES), help="; ".join(f"{k}: {v.when}" for k, v in CYCLES.items()))
    parser.add_argument("--no-load", dest="load", action="store_false",
                        help="skip the load step (when only the S3-event loader should load)")
    parser.add_argument("--landing", default=None, help="landing zone (default: $UNIFY_LANDING)")
    parser.add_argument("--target", dest="dbt_target", default=os.environ.get("DBT_TARGET"),
                        help="profiles.yml target (default: $DBT_TARGET, else local)")
    parser.add_argument("--target-path", type=Path, default=None,
                        help="where the cycle's dbt artifacts go (default: <dbt target path>/cycles/<cycle>)")
    parser.add_argument("--topic-arn", default=os.environ.get("UNIFY_ALERT_TOPIC_ARN"),
                        help="SNS topic for failures and stale sources (default: $UNIFY_ALERT_TOPIC_ARN; "
                             "none: the summary still lists them)")
    parser.add_argument("--docs-url", default=os.environ.get("UNIFY_DOCS_URL"),
                        help="dbt docs site, for links in alerts (default: $UNIFY_DOCS_URL)")
    parser.add_argument("--default-owner", default=os.environ.get("UNIFY_ALERT_DEFAULT_OWNER") or DEFAULT_OWNER,
                        help="owner of alerts with none set (default: $UNIFY_ALERT_DEFAULT_OWNER)")
    parser.add_argument("--environment", default=os.environ.get("UNIFY_ENV") or "local",
                        help="environment name in metrics and alerts (default: $UNIFY_ENV or local)")
    parser.add_argument("--lock", dest="lock_url", default=os.environ.get("UNIFY_CYCLE_LOCK") or None,
                        help="s3://bucket/key of the cycle lock (default: $UNIFY_CYCLE_LOCK; unset: the local "
                             "warehouse's advisory lock)")
    parser.add_argument("--json-logs", action="store_true",
                        default=os.environ.get("UNIFY_LOG_FORMAT", "").lower() == "json",
                        help="JSON log lines, dbt's too (default when UNIFY_LOG_FORMAT=json, as in the container)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.json_logs:
        configure_logging(json_lines=True, level=logging.getLogger().level or logging.INFO)
    options = CycleOptions(
        cycle=args.cycle, load=args.load, landing=args.landing, target_path=args.target_path,
        dbt_target=args.dbt_target, topic_arn=args.topic_arn, docs_url=args.docs_url,
        default_owner=args.default_owner, environment=args.environment, lock_url=args.lock_url,
        dbt_log_format="json" if args.json_logs else None,
    )
    result = run_cycle(load_settings(), options)
    if result.outcome in ("refused", "error"):
        print(f"unify cycle {args.cycle}: {result.message}", file=sys.stderr)
    elif not args.json_logs:
        steps = ", ".join(f"{name} {step.status}" for name, step in result.steps.items())
        print(f"unify cycle {args.cycle}: {result.outcome} in {result.seconds:.1f} s ({steps})", file=sys.stderr)
    print(json.dumps(result.summary(), default=str), flush=True)
    return result.exit_code
