"""The offline Redshift-compatibility gate: compile the dbt project for Redshift, no cluster needed.

For every Redshift target of the profile template (profiles.yml.example: dev, ci, prod) the gate runs
`dbt compile --target <t> --no-populate-cache` with harmless dummy connection settings, twice:
  1. `--vars {unify_gate_is_incremental: false}`: every model, snapshot, test and analysis;
  2. `--vars {unify_gate_is_incremental: true}`, incremental models only: their is_incremental()
     branch (macros/gate/is_incremental.sql turns the var into the answer; without the var it is
     dbt's own is_incremental(), so normal builds are unchanged).
Then it parses each node's compiled SQL with sqlglot's Redshift dialect (`redshift_rules.scan_sql`)
and maps each finding's line back to the node's source .sql file (difflib over source vs compiled
lines; Jinja that changes the line count is mapped to the line holding the Jinja). Pre/post-hooks,
which dbt renders only while building, are checked on their literal SQL (`_hook_violations`).

Nothing can reach AWS or a cluster: the compile runs in a worker process (offline_compile.py) whose
Redshift adapter refuses to connect and answers every query a macro runs while compiling with no
rows; the host is in the reserved `.invalid` domain, AWS credentials are fake and every AWS endpoint
is a closed local port. Queries answered that way are listed in the result (`offline_queries`): SQL
that depends on their answer (dbt.date_spine's interval count, a star() macro) may differ from prod.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import yaml

from unify.checks.offline_compile import GATE_VAR, SUMMARY_PREFIX, TargetCompile
from unify.checks.redshift_rules import RULES, Finding, scan_sql

log = logging.getLogger(__name__)

CHECKED_TYPES = ("model", "snapshot", "test", "analysis")
# Settings that could point a compile at a real cluster or at AWS are replaced, never inherited.
OFFLINE_ENV = {
    "REDSHIFT_HOST": "redshift-gate.invalid",      # RFC 2606: never resolves
    "REDSHIFT_CLUSTER_ID": "unify-gate-offline",
    "REDSHIFT_WORKGROUP": "unify-gate-offline",
    "REDSHIFT_DB_USER": "unify_gate",
    "AWS_ACCESS_KEY_ID": "unify-gate-offline",
    "AWS_SECRET_ACCESS_KEY": "unify-gate-offline",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",        # discard port: any AWS call fails at once
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    # Non-local targets require the PII key's secret name (macros/pii/pii_key_relation.sql): a dummy
    # name, since the key itself never passes through dbt.
    "UNIFY_PII_KEY_SECRET_ID": "unify-gate-offline",
}
DROPPED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
               "DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_PROFILES_DIR", "DBT_PROJECT_DIR", "DBT_TARGET")
ENV_VAR_CALL = re.compile(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*(,)?")


class GateError(Exception):
    """The gate could not check the project (profile, compile or artifact problem); says which."""


@dataclass(frozen=True)
class Violation:
    """A construct Redshift rejects, in one dbt node. `line` is in `file` when `line_in` is "source",
    else in `compiled_file` (generic tests and yml-defined snapshots have no .sql source)."""

    rule: str
    construct: str
    hint: str
    file: str
    line: int
    line_in: str
    compiled_file: str
    compiled_line: int
    node_id: str
    found_in: tuple[str, ...] = ()

    @property
    def incremental_branch_only(self) -> bool:
        return all(label.endswith("+incremental") for label in self.found_in)

    def location(self) -> str:
        if self.line_in == "source":
            return f"{self.file}:{self.line}"
        if self.line_in == "hook":
            return f"{self.file} ({self.compiled_file}, line {self.compiled_line} of the hook)"
        return f"{self.file} (compiled {self.compiled_file}:{self.compiled_line})"

    def format(self) -> str:
        where = "incremental branch, " if self.incremental_branch_only else ""
        lines = [
            f"{self.location()}: [{self.rule}] {self.construct}: not supported by Redshift",
            f"    Redshift way: {self.hint}",
        ]
        if self.line_in == "source" and self.compiled_file.endswith("-hook"):
            lines.append(f"    in the {self.compiled_file}'s SQL ({', '.join(self.found_in)})")
        elif self.line_in == "source":
            lines.append(f"    compiled: {self.compiled_file}:{self.compiled_line} ({where}{', '.join(self.found_in)})")
        else:
            lines.append(f"    ({where}{', '.join(self.found_in)})")
        return "\n".join(lines)


@dataclass
class GateResult:
    project_dir: Path
    targets: list[str]
    nodes_checked: int = 0
    incremental_models: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    offline_queries: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> str:
        return json.dumps(
            {
                "project_dir": str(self.project_dir),
                "targets": self.targets,
                "nodes_checked": self.nodes_checked,
                "incremental_models": self.incremental_models,
                "offline_queries": self.offline_queries,
                "seconds": round(self.seconds, 1),
                "violations": [
                    {**asdict(v), "found_in": list(v.found_in), "rule_title": RULES[v.rule].title}
                    for v in self.violations
                ],
            },
            indent=2,
        )


# --------------------------------------------------------------------------------------- profile


def project_name(project_dir: Path) -> tuple[str, str]:
    """(project name, profile name) from dbt_project.yml."""
    path = project_dir / "dbt_project.yml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise GateError(f"{path}: cannot read the dbt project file: {err}") from err
    if "name" not in data or "profile" not in data:
        raise GateError(f"{path}: needs `name` and `profile`")
    return str(data["name"]), str(data["profile"])


def redshift_targets(profiles_template: Path, profile: str) -> list[str]:
    """Names of the profile's outputs with `type: redshift`, in file order."""
    try:
        data = yaml.safe_load(profiles_template.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise GateError(f"{profiles_template}: cannot read the profile template: {err}") from err
    outputs = (data.get(profile) or {}).get("outputs") or {}
    if not outputs:
        raise GateError(f"{profiles_template}: profile {profile!r} has no outputs")
    return [name for name, output in outputs.items() if (output or {}).get("type") == "redshift"]


def offline_env(profiles_template: Path) -> dict[str, str]:
    """Environment for an offline compile: dummy values for every variable the template requires,
    the fixed OFFLINE_ENV on top, and nothing that names real AWS credentials or dbt paths."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    for match in ENV_VAR_CALL.finditer(profiles_template.read_text()):
        name, has_default = match.group(1), bool(match.group(2))
        if name.startswith("REDSHIFT_") or (not has_default and name not in env):
            env[name] = "unify-gate-offline"
    env.update(OFFLINE_ENV)
    return env


# --------------------------------------------------------------------------------------- compile


@contextmanager
def locked(work_dir: Path) -> Iterator[None]:
    """One run per work folder at a time (engineers share the checkout): waits for the other."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(work_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another run uses %s; waiting for it", work_dir)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def compile_offline(project_dir: Path, profiles_dir: Path, targets: list[str], work_dir: Path,
                    env: dict[str, str]) -> list[TargetCompile]:
    """Run the compile worker (unify.checks.offline_compile) for `targets` in the offline env."""
    request = work_dir / "request.json"
    request.write_text(json.dumps({"project_dir": str(project_dir), "profiles_dir": str(profiles_dir),
                                   "targets": targets, "work_dir": str(work_dir)}))
    run_env = dict(env, DBT_LOG_PATH=str(work_dir / "logs"))
    proc = subprocess.run([sys.executable, "-m", "unify.checks.offline_compile", str(request)],
                          cwd=project_dir, env=run_env, text=True, stdout=subprocess.PIPE, stderr=None)
    lines = proc.stdout.splitlines()
    summary = [line for line in lines if line.startswith(SUMMARY_PREFIX)]
    if proc.returncode != 0 or not summary:
        tail = "\n".join(line for line in lines[-40:] if line.strip())
        raise GateError(
            f"dbt could not compile {project_dir} for Redshift (exit {proc.returncode}). Offline, a model "
            f"that queries the warehouse while compiling fails here too.\n{tail}"
        )
    return [TargetCompile(**item) for item in json.loads(summary[-1][len(SUMMARY_PREFIX):])]


def _read_manifest(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise GateError(f"{path}: dbt compile wrote no readable manifest: {err}") from err


# ------------------------------------------------------------------------------------ line mapping


def map_line(source: str, compiled: str, compiled_line: int) -> int:
    """The line of `source` (the .sql with Jinja) that produced `compiled_line` of the compiled SQL."""
    src = [line.strip() for line in source.splitlines()]
    out = [line.strip() for line in compiled.splitlines()]
    index = compiled_line - 1
    matcher = difflib.SequenceMatcher(None, src, out, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if not j1 <= index < j2:
            continue
        if tag == "equal":
            return i1 + (index - j1) + 1
        if tag == "replace":
            if i2 - i1 == j2 - j1:
                return i1 + (index - j1) + 1
            # Different line counts: the source line most like the compiled one (Jinja rendered away).
            best = max(range(i1, i2), key=lambda i: difflib.SequenceMatcher(None, src[i], out[index]).ratio())
            return best + 1
        # insert: compiled lines with no source counterpart; the Jinja just above produced them
        return max(i1, 1)
    return min(compiled_line, max(len(src), 1))


# ------------------------------------------------------------------------------------------ gate


def _checked_nodes(manifest: dict, project: str) -> list[dict]:
    return [
        node for node in manifest.get("nodes", {}).values()
        if node.get("package_name") == project
        and node.get("resource_type") in CHECKED_TYPES
        and node.get("compiled_code") is not None
    ]


def _violations(node: dict, findings: list[Finding], project_dir: Path, label: str) -> list[Violation]:
    source_file = node.get("original_file_path", "")
    compiled = node["compiled_code"]
    compiled_path = Path(node.get("compiled_path") or "")
    if not compiled_path.is_absolute():
        compiled_path = project_dir / compiled_path
    try:
        compiled_display = str(compiled_path.relative_to(project_dir))
    except ValueError:
        compiled_display = str(compiled_path)
    has_sql_source = source_file.endswith(".sql") and node.get("raw_code")
    result = []
    for finding in findings:
        line = map_line(node["raw_code"], compiled, finding.line) if has_sql_source else finding.line
        result.append(
            Violation(
                rule=finding.rule,
                construct=finding.construct,
                hint=finding.hint,
                file=source_file,
                line=line,
                line_in="source" if has_sql_source else "compiled",
                compiled_file=compiled_display,
                compiled_line=finding.line,
                node_id=node["unique_id"],
                found_in=(label,),
            )
        )
    return result


JINJA_EXPRESSION = re.compile(r"{{.*?}}", re.S)
JINJA_STATEMENT = re.compile(r"{%.*?%}|{#.*?#}", re.S)
HOOK_RULES = frozenset(RULES) - {"unparseable", "unsupported"}


def _hook_violations(node: dict, label: str) -> list[Violation]:
    """Pre/post-hooks, checked on their literal SQL: dbt renders hooks only while running, so each
    `{{ ... }}` becomes a placeholder name and `{% ... %}` tags are dropped. What a macro inside a
    hook would generate is not seen; syntax errors are not reported (dropping `{% if %}` tags can
    join branches): only the constructs Redshift rejects, written in the hook itself."""
    raw = node.get("raw_code") or ""
    source_file = node.get("original_file_path", "")
    result = []
    for kind in ("pre-hook", "post-hook"):
        for hook in (node.get("config") or {}).get(kind) or []:
            sql = hook.get("sql") if isinstance(hook, dict) else str(hook)
            if not sql:
                continue
            literal = JINJA_STATEMENT.sub("", JINJA_EXPRESSION.sub("dbt_jinja_expression", sql))
            if not literal.replace("dbt_jinja_expression", "").strip():
                continue  # the hook is a macro call: nothing written literally
            findings = [f for f in scan_sql(literal) if f.rule in HOOK_RULES]
            start = raw.find(sql.splitlines()[0]) if source_file.endswith(".sql") else -1
            first_line = raw.count("\n", 0, start) + 1 if start >= 0 else None
            for finding in findings:
                # placeholders keep the hook's line structure (Jinja never spans lines here)
                in_source = first_line is not None and sql in raw
                result.append(Violation(
                    rule=finding.rule, construct=f"{finding.construct} in {kind}", hint=finding.hint,
                    file=source_file,
                    line=first_line + finding.line - 1 if in_source else finding.line,
                    line_in="source" if in_source else "hook",
                    compiled_file=kind, compiled_line=finding.line,
                    node_id=node["unique_id"], found_in=(label,),
                ))
    return result


def run_gate(
    project_dir: Path,
    *,
    targets: list[str] | None = None,
    profiles_template: Path | None = None,
    work_dir: Path | None = None,
) -> GateResult:
    """Compile the project for each Redshift target (both is_incremental() branches) and scan it."""
    started = time.monotonic()
    project_dir = project_dir.resolve()
    project, profile = project_name(project_dir)
    template = (profiles_template or project_dir / "profiles.yml.example").resolve()
    if not template.exists():
        raise GateError(f"{template}: profile template not found")
    available = redshift_targets(template, profile)
    chosen = targets or available
    unknown = [t for t in chosen if t not in available]
    if unknown or not chosen:
        raise GateError(
            f"{template}: no Redshift target named {', '.join(unknown) or '(none)'}; "
            f"Redshift targets there: {', '.join(available) or 'none'}"
        )
    work = (work_dir or project_dir / ".unify" / "redshift-gate").resolve()
    result = GateResult(project_dir=project_dir, targets=list(chosen))
    collected: dict[tuple[str, str, str, int], Violation] = {}
    checked: set[str] = set()

    def collect(manifest: dict, label: str, only: set[str] | None = None) -> None:
        for node in _checked_nodes(manifest, project):
            if only is not None and node["unique_id"] not in only:
                continue
            checked.add(node["unique_id"])
            violations = _violations(node, scan_sql(node["compiled_code"]), project_dir, label)
            if only is None:  # hooks do not depend on is_incremental(): check them in the first pass
                violations += _hook_violations(node, label)
            for violation in violations:
                key = (violation.node_id, violation.rule, violation.file, violation.line)
                if key in collected:
                    old = collected[key]
                    labels = old.found_in + tuple(x for x in violation.found_in if x not in old.found_in)
                    collected[key] = Violation(**{**asdict(old), "found_in": labels})
                else:
                    collected[key] = violation

    with locked(work):
        profiles_dir = work / "profiles"
        profiles_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, profiles_dir / "profiles.yml")
        log.info("Redshift gate: compiling %s for target(s) %s offline (is_incremental() false, then "
                 "true for incremental models)", project, ", ".join(chosen))
        for outcome in compile_offline(project_dir, profiles_dir, list(chosen), work, offline_env(template)):
            if outcome.incremental_models and not outcome.has_override:
                raise GateError(
                    f"{project_dir}: has incremental models but no project-level is_incremental() "
                    f"override honouring the var {GATE_VAR!r} (macros/gate/is_incremental.sql), so "
                    "their incremental branches cannot be compiled offline"
                )
            collect(_read_manifest(outcome.manifest), outcome.target)
            for query in outcome.offline_queries:
                entry = {"node": query.get("node"), "sql": query.get("sql")}
                if entry not in result.offline_queries:
                    result.offline_queries.append(entry)
            if outcome.incremental_manifest:
                result.incremental_models = outcome.incremental_models
                collect(_read_manifest(outcome.incremental_manifest), f"{outcome.target}+incremental",
                        only=set(outcome.incremental_models))
    result.nodes_checked = len(checked)
    result.violations = sorted(collected.values(), key=lambda v: (v.file, v.line, v.rule, v.node_id))
    result.seconds = time.monotonic() - started
    return result
