"""The platform as code, checked offline on the synthesised templates of dev, ci and prod: cfn-lint,
cdk-nag's AWS Solutions rules (reviewed exceptions only, each with a reason), and assertions on what
security and operations depend on. The figures the templates must carry (NFR-6's days, the 15-minute
data age, the cycle's metric names and exit codes, the loader's prefixes and handler) are imported from
the code that defines them, not repeated here."""

from __future__ import annotations

import csv
import importlib
import json
import re
from datetime import datetime, timezone

import pytest

from loaders.sources import Layout
from unify.cycle import CYCLES, EXIT_REFUSED, METRIC_NAMESPACE, CycleResult

ENVIRONMENTS = ("dev", "ci", "prod")
# Actions that AWS offers on no narrower resource than "*", and why each role needs them.
STAR_RESOURCE_ACTIONS = {
    "redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement",
    "ecr:GetAuthorizationToken",                      # the task's image pull
    "ecs:StopTask", "ecs:DescribeTasks",               # Step Functions' run-a-job integration
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",                          # Step Functions' execution logging
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
}


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def one(template: dict, kind: str, **match) -> tuple[str, dict]:
    found = [(k, v) for k, v in resources(template, kind).items()
             if all(v["Properties"].get(p) == value for p, value in match.items())]
    assert len(found) == 1, f"{kind} {match}: {len(found)} found"
    return found[0]


def statements(template: dict, role_logical_id: str) -> list[dict]:
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = [r.get("Ref") for r in policy["Properties"].get("Roles", [])]
        if role_logical_id in roles:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def role_id(template: dict, role_name: str) -> str:
    return one(template, "AWS::IAM::Role", RoleName=role_name)[0]


def text(value) -> str:
    """A CloudFormation value as text (intrinsics serialised), for substring checks."""
    return value if isinstance(value, str) else json.dumps(value)


# ------------------------------------------------------------------------------------ synthesis, lint


def test_every_environment_synthesises_with_no_open_nag_finding(synthesised):
    for name in ENVIRONMENTS:
        findings = [m for m in synthesised.messages[name] if "AwsSolutions-" in m[2]]
        assert findings == [], f"{name}: {findings[:5]}"
        with (synthesised.outdir / f"AwsSolutions--unify-{name}-NagReport.csv").open() as handle:
            report = list(csv.DictReader(handle))
        assert len(report) > 50  # the rules did run over the stack
        suppressed = [r for r in report if r["Compliance"] == "Suppressed"]
        assert suppressed and all(len(r["Exception Reason"]) > 40 for r in suppressed)
        assert not [r for r in report if r["Compliance"] == "Non-Compliant"]


def test_cfn_lint_passes_apart_from_cdks_own_explicit_dependencies(synthesised):
    """Errors and warnings, as the cfn-lint command reports by default. W3005 ("dependency already enforced
    by a GetAtt") is CDK's own: it writes DependsOn next to the GetAtt for resources it orders explicitly."""
    from cfnlint.api import lint_all

    for name in ENVIRONMENTS:
        matches = lint_all(synthesised.template_path(name).read_text())
        other = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW" and m.rule.id != "W3005"]
        assert other == [], f"{name}: {other}"


def test_environments_are_one_stack_with_different_names(synthesised):
    def shape(name: str) -> list[tuple[str, str]]:
        # logical ids are stable across environments, except where CDK puts the stack's name into one
        return sorted((k.split(f"unify{name}")[0] + "<stack>" if f"unify{name}" in k else k, v["Type"])
                      for k, v in synthesised.templates[name]["Resources"].items()
                      if v["Type"] != "AWS::SNS::Subscription")  # who is e-mailed is configuration

    shapes = {name: shape(name) for name in ENVIRONMENTS}
    assert shapes["dev"] == shapes["ci"] == shapes["prod"]
    for name in ENVIRONMENTS:
        template = synthesised.templates[name]
        _, workgroup = one(template, "AWS::RedshiftServerless::Workgroup")
        assert workgroup["Properties"]["WorkgroupName"] == f"unify-{name}-wg"
        for _, bucket in resources(template, "AWS::S3::Bucket").items():
            if "BucketName" in bucket["Properties"]:
                assert f"unify-{name}-" in text(bucket["Properties"]["BucketName"])
    subscriptions = {name: [s["Properties"]["Endpoint"] for s in
                            resources(synthesised.templates[name], "AWS::SNS::Subscription").values()]
                     for name in ENVIRONMENTS}
    assert subscriptions == {name: [e] if (e := synthesised.stacks[name].config.alarm_email) else []
                             for name in ENVIRONMENTS}
    schedules = {name: sorted(s["Properties"]["State"] for s in
                              resources(synthesised.templates[name], "AWS::Scheduler::Schedule").values())
                 for name in ENVIRONMENTS}
    assert schedules == {"dev": ["DISABLED", "DISABLED"], "ci": ["DISABLED", "DISABLED"],
                         "prod": ["ENABLED", "ENABLED"]}


# ------------------------------------------------------------------------------------ storage


def _tls_only(template: dict, bucket_id: str) -> bool:
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        if policy["Properties"]["Bucket"] == {"Ref": bucket_id}:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if (statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
                        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}):
                    return True
    return False


def test_buckets_are_encrypted_private_and_tls_only(synthesised):
    template = synthesised.templates["prod"]
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # raw, artifacts, access logs
    for bucket_id, bucket in buckets.items():
        props = bucket["Properties"]
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        assert _tls_only(template, bucket_id), bucket_id
        assert "AccessControl" not in props  # no ACLs


def test_raw_bucket_keeps_data_seven_years_in_cheaper_storage(synthesised):
    template = synthesised.templates["prod"]
    raw_id, raw = next((k, v) for k, v in resources(template, "AWS::S3::Bucket").items()
                       if "-raw-" in text(v["Properties"].get("BucketName")))
    props = raw["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in props
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule and "TagFilters" not in rule  # the whole bucket
    assert rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
                                   {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 90}]
    assert rule["NoncurrentVersionTransitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
                                                    {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 90}]
    seven_years = 7 * 365 + 2
    assert rule["ExpirationInDays"] == seven_years
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": seven_years}
    # nothing in the platform may delete or overwrite landed files
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = as_list(statement["Action"])
            if {"s3:DeleteObject", "s3:PutObject", "s3:*"} & set(actions):
                for resource in as_list(statement["Resource"]):
                    if raw_id in text(resource):
                        assert "/_unify/manifests/*" in text(resource), statement


# ------------------------------------------------------------------------------------ the loader


def test_s3_events_reach_the_loader_through_a_queue_with_a_dead_letter_queue(synthesised):
    template = synthesised.templates["prod"]
    [(_, notifications)] = resources(template, "Custom::S3BucketNotifications").items()
    configurations = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    layout = Layout()
    prefixes = sorted(c["Filter"]["Key"]["FilterRules"][0]["Value"] for c in configurations)
    assert prefixes == sorted((layout.dms_prefix, layout.appflow_prefix, layout.tms_prefix))
    assert all(c["Events"] == ["s3:ObjectCreated:*"] for c in configurations)
    queue_id, queue = one(template, "AWS::SQS::Queue", QueueName="unify-prod-load")
    dlq_id, dlq = one(template, "AWS::SQS::Queue", QueueName="unify-prod-load-dlq")
    assert queue["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                                                    "maxReceiveCount": 5}
    for q in (queue, dlq):
        assert "KmsMasterKeyId" in q["Properties"]
    _, function = one(template, "AWS::Lambda::Function", FunctionName="unify-prod-loader")
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]
    [(_, mapping)] = resources(template, "AWS::Lambda::EventSourceMapping").items()
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_the_lambda_runs_the_handler_the_loaders_define(synthesised):
    from unify_infra.lambda_bundle import HANDLER

    template = synthesised.templates["prod"]
    _, function = one(template, "AWS::Lambda::Function", FunctionName="unify-prod-loader")
    props = function["Properties"]
    assert props["Handler"] == HANDLER == "loaders.lambda_handler.handler"
    module, _, name = props["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    assert props["Runtime"] == "python3.11" and len(props["Layers"]) == 1
    env = props["Environment"]["Variables"]
    assert env["UNIFY_LOAD_TARGET"] == "redshift" and env["REDSHIFT_WORKGROUP"] == "unify-prod-wg"
    assert "/_unify/manifests" in text(env["UNIFY_REDSHIFT_MANIFEST_PREFIX"])
    # the function's code asset holds the loaders package and nothing else of the repository
    asset = synthesised.outdir / function["Metadata"]["aws:asset:path"]
    assert sorted(p.name for p in asset.iterdir()) == ["loaders"]
    assert (asset / "loaders" / "lambda_handler.py").exists()


def _allowed(template: dict, role: str) -> dict[str, list]:
    """action -> resources, over the role's policies."""
    allowed: dict[str, list] = {}
    for statement in statements(template, role_id(template, role)):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            allowed.setdefault(action, []).extend(as_list(statement["Resource"]))
    return allowed


def test_the_loader_role_is_least_privileged(synthesised):
    template = synthesised.templates["prod"]
    allowed = _allowed(template, "unify-prod-loader")
    assert set(allowed) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "s3:ListBucket", "s3:GetObject", "s3:PutObject",
        "redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement", "redshift-data:DescribeStatement",
        "redshift-data:GetStatementResult", "redshift-data:CancelStatement", "secretsmanager:GetSecretValue",
        "kms:Decrypt", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:DeleteMessage",
        "sqs:GetQueueAttributes"}
    workgroup_id, _ = one(template, "AWS::RedshiftServerless::Workgroup")
    assert allowed["redshift-data:ExecuteStatement"] == [{"Fn::GetAtt": [workgroup_id, "Workgroup.WorkgroupArn"]}]
    secret_id, _ = one(template, "AWS::SecretsManager::Secret", Name="unify-prod-loader-db")
    assert allowed["secretsmanager:GetSecretValue"] == [{"Ref": secret_id}]
    objects = [text(r) for r in allowed["s3:GetObject"]]
    assert len(objects) == 4 and all(re.search(r"/(dms/azureware|appflow/salesforce|tms|_unify/manifests)/\*", o)
                                      for o in objects)
    assert [text(r) for r in allowed["s3:PutObject"]] == [o for o in objects if "_unify/manifests" in o]
    listing = [s for s in statements(template, role_id(template, "unify-prod-loader"))
               if s["Action"] == "s3:ListBucket"]
    assert listing[0]["Condition"]["StringLike"]["s3:prefix"] == ["dms/azureware/*", "appflow/salesforce/*", "tms/*"]


def test_no_wildcard_where_a_narrower_grant_exists(synthesised):
    for name in ENVIRONMENTS:
        template = synthesised.templates[name]
        for policy_id, policy in resources(template, "AWS::IAM::Policy").items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = as_list(statement["Action"])
                assert not [a for a in actions if a == "*" or a.endswith(":*")], (policy_id, actions)
                if "*" in as_list(statement["Resource"]):
                    assert set(actions) <= STAR_RESOURCE_ACTIONS, (policy_id, actions)
                    if actions[0].startswith("redshift-data:"):
                        assert statement["Condition"] == {"StringEquals": {
                            "redshift-data:statement-owner-iam-userid": "${aws:userid}"}}
        for role in resources(template, "AWS::IAM::Role").values():
            assert "ManagedPolicyArns" not in role["Properties"] or \
                "AWSLambdaBasicExecutionRole" in text(role["Properties"]["ManagedPolicyArns"])  # CDK's notifications handler


def test_the_copy_role_reads_the_raw_prefixes_and_manifests_only(synthesised):
    template = synthesised.templates["prod"]
    copy_id = role_id(template, "unify-prod-redshift-copy")
    trust = resources(template, "AWS::IAM::Role")[copy_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert sorted(p for s in trust for p in as_list(s["Principal"]["Service"])) == [
        "redshift-serverless.amazonaws.com", "redshift.amazonaws.com"]
    allowed = _allowed(template, "unify-prod-redshift-copy")
    assert set(allowed) == {"s3:GetObject", "s3:GetBucketLocation"}
    assert len(allowed["s3:GetObject"]) == 4
    _, namespace = one(template, "AWS::RedshiftServerless::Namespace")
    assert namespace["Properties"]["DefaultIamRoleArn"] == {"Fn::GetAtt": [copy_id, "Arn"]}


# ------------------------------------------------------------------------------------ the cycles


def test_cycles_run_every_ten_minutes_and_nightly_in_a_container(synthesised):
    template = synthesised.templates["prod"]
    schedules = {s["Properties"]["Name"]: s["Properties"] for s in
                 resources(template, "AWS::Scheduler::Schedule").values()}
    assert schedules["unify-prod-frequent-cycle"]["ScheduleExpression"] == "rate(10 minutes)"
    assert schedules["unify-prod-nightly-cycle"]["ScheduleExpression"].startswith("cron(")
    machines = {m["Properties"]["StateMachineName"]: (k, m) for k, m in
                resources(template, "AWS::StepFunctions::StateMachine").items()}
    for cycle in CYCLES:
        schedule = schedules[f"unify-prod-{cycle}-cycle"]
        machine_id, machine = machines[f"unify-prod-{cycle}-cycle"]
        assert schedule["Target"]["Arn"] == {"Ref": machine_id}
        assert json.loads(schedule["Target"]["Input"]) == {"cycle": cycle}
        definition = text(machine["Properties"]["DefinitionString"])
        assert ':states:::ecs:runTask.sync' in definition
        assert f'\\"Command\\":[\\"unify\\",\\"cycle\\",\\"{cycle}\\"]' in definition
        # exit 0 and "refused, another cycle runs" succeed; anything else fails the execution
        assert f'\\"NumericEquals\\":0' in definition and f'\\"NumericEquals\\":{EXIT_REFUSED}' in definition
    _, task = one(template, "AWS::ECS::TaskDefinition")
    [container] = task["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["UNIFY_LOG_FORMAT"] == "json" and env["DBT_TARGET"] == "prod" and env["UNIFY_ENV"] == "prod"
    assert text(env["UNIFY_CYCLE_LOCK"]).endswith('/cycles/prod/lock.json"]]}') or \
        env["UNIFY_CYCLE_LOCK"].endswith("/cycles/prod/lock.json")
    assert "Secrets" not in container  # no secret reaches the container (the PII key: below)
    # what the runbook's one-off `aws ecs run-task` needs, as stack outputs
    assert {"CycleCluster", "CycleTaskDefinition", "CycleSubnets", "CycleSecurityGroup"} <= set(template["Outputs"])
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    allowed = _allowed(template, "unify-prod-cycle-task")
    workgroup_id, _ = one(template, "AWS::RedshiftServerless::Workgroup")
    assert allowed["redshift-serverless:GetCredentials"] == [{"Fn::GetAtt": [workgroup_id, "Workgroup.WorkgroupArn"]}]
    assert [text(r) for r in allowed["s3:DeleteObject"]] == [text(r) for r in allowed["s3:DeleteObject"]
                                                            if "cycles/prod/lock.json" in text(r)]
    assert "sns:Publish" in allowed


def test_alarms_cover_loader_errors_dlq_cycle_failures_and_data_age(synthesised):
    template = synthesised.templates["prod"]
    topic_id, _ = one(template, "AWS::SNS::Topic")
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in
              resources(template, "AWS::CloudWatch::Alarm").values()}
    assert alarms["unify-prod-loader-errors"]["MetricName"] == "Errors"
    assert alarms["unify-prod-loader-errors"]["Namespace"] == "AWS/Lambda"
    assert alarms["unify-prod-load-dlq-depth"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    emitted = set(CycleResult("frequent", "prod", "run", datetime.now(timezone.utc)).metrics()) | {"DataAgeSeconds"}
    for name, alarm in alarms.items():
        if alarm.get("Namespace") == METRIC_NAMESPACE:
            assert alarm["MetricName"] in emitted, name  # a metric `unify cycle` really emits
            assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]}["Environment"] == "prod"
    for cycle in CYCLES:
        assert alarms[f"unify-prod-{cycle}-cycle-failed"]["MetricName"] == "CycleFailed"
        assert alarms[f"unify-prod-{cycle}-executions-failed"]["MetricName"] == "ExecutionsFailed"
    age = alarms["unify-prod-data-age-over-15-min"]
    assert (age["MetricName"], age["Threshold"], age["ComparisonOperator"]) == (
        "DataAgeSeconds", 900, "GreaterThanThreshold")
    heartbeat = alarms["unify-prod-no-successful-cycle-15-min"]
    assert (heartbeat["MetricName"], heartbeat["Period"], heartbeat["TreatMissingData"]) == (
        "CycleSucceeded", 900, "breaching")
    [(_, composite)] = resources(template, "AWS::CloudWatch::CompositeAlarm").items()
    assert composite["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    for name, alarm in alarms.items():
        if name not in ("unify-prod-data-age-over-15-min", "unify-prod-no-successful-cycle-15-min"):
            assert alarm["AlarmActions"] == [{"Ref": topic_id}], name


@pytest.mark.parametrize("path_key", ["model-paths", "seed-paths", "snapshot-paths", "macro-paths", "test-paths",
                                      "analysis-paths"])
def test_the_cycle_image_holds_the_whole_dbt_project(path_key):
    """The Dockerfile copies, and .dockerignore lets through, every folder dbt_project.yml names."""
    import yaml

    from unify_infra.lambda_bundle import ROOT

    project = yaml.safe_load((ROOT / "dbt_project.yml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    allowed = (ROOT / ".dockerignore").read_text().splitlines()
    for folder in project[path_key]:
        assert f"COPY {folder} ./{folder}" in dockerfile
        assert f"!{folder}" in allowed
    for name in ("dbt_project.yml", "selectors.yml", "profiles.yml.example"):
        assert name in dockerfile and f"!{name}" in allowed


# ------------------------------------------------------------------------------------ the PII key, the admin


def _statements_on(template: dict, fragment: str) -> list[tuple[str, dict]]:
    """(role logical id, statement) for every statement whose resources name `fragment`."""
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if fragment in text(statement["Resource"]):
                found += [(r["Ref"], statement) for r in policy["Properties"]["Roles"]]
    return found


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_only_the_access_admin_reads_the_pii_key_and_the_cycle_knows_its_name(synthesised, name):
    from unify.access import ADMIN_ROLE_ENV, ADMIN_TARGET_ENV

    template = synthesised.templates[name]
    secret_id, secret = one(template, "AWS::SecretsManager::Secret", Name=f"unify-{name}-pii-hash-key")
    readers = _statements_on(template, secret_id)
    admin = role_id(template, f"unify-{name}-access-admin")
    assert [(role, st["Action"]) for role, st in readers] == [(admin, "secretsmanager:GetSecretValue")]
    assert "UNIFY_PII_HASH_KEY" not in json.dumps(template)
    _, task = one(template, "AWS::ECS::TaskDefinition")
    [container] = task["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    # the name the vault records and the build compares (macros/pii/ensure_pii_key.sql): the secret's name
    assert env["UNIFY_PII_KEY_SECRET_ID"] == secret["Properties"]["Name"]
    assert env[ADMIN_TARGET_ENV] == f"{synthesised.stacks[name].config.dbt_target}_admin"
    assert env[ADMIN_ROLE_ENV] == {"Fn::GetAtt": [admin, "Arn"]}
    assert env["UNIFY_ACCESS_ADMIN_DB_USER"] == f"IAMR:unify-{name}-access-admin"
    # the admin: database credentials on the workgroup, the key's secret (and its KMS key), nothing else
    allowed = _allowed(template, f"unify-{name}-access-admin")
    assert set(allowed) == {"redshift-serverless:GetCredentials", "secretsmanager:GetSecretValue", "kms:Decrypt"}
    workgroup_id, _ = one(template, "AWS::RedshiftServerless::Workgroup")
    assert allowed["redshift-serverless:GetCredentials"] == [{"Fn::GetAtt": [workgroup_id, "Workgroup.WorkgroupArn"]}]
    # trusted by the cycle task (and CI's role where configured) only; the task may assume it, nothing more
    [trust] = resources(template, "AWS::IAM::Role")[admin]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    callers = [text(arn).rsplit("role/", 1)[1].rstrip('"]}') for arn in trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]]
    assert callers == [f"unify-{name}-cycle-task", *synthesised.stacks[name].config.access_admin_callers]
    assert trust["Action"] == "sts:AssumeRole" and text(trust["Principal"]["AWS"]).endswith(':root"]]}')
    assumers = _statements_on(template, admin)
    assert [(role, st["Action"]) for role, st in assumers] == [(role_id(template, f"unify-{name}-cycle-task"),
                                                                "sts:AssumeRole")]
    task_allowed = _allowed(template, f"unify-{name}-cycle-task")
    assert "secretsmanager:GetSecretValue" in task_allowed  # the loader's secret (its load step), not the key
    assert all(secret_id not in text(r) for r in task_allowed["secretsmanager:GetSecretValue"])


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_cycle_refreshes_exactly_the_dashboards_data_sets_where_quicksight_is(synthesised, name):
    from unify.quicksight.deploy import data_set_ids
    from unify.quicksight.resources import load_config

    template = synthesised.templates[name]
    allowed = _allowed(template, f"unify-{name}-cycle-task")
    _, task = one(template, "AWS::ECS::TaskDefinition")
    env = {e["Name"] for e in task["Properties"]["ContainerDefinitions"][0]["Environment"]}
    quicksight_actions = {a for a in allowed if a.startswith("quicksight:")}
    if not synthesised.stacks[name].config.quicksight:
        assert quicksight_actions == set() and "UNIFY_QUICKSIGHT_ACCOUNT_ID" not in env
        return
    assert quicksight_actions == {"quicksight:CreateIngestion"}
    assert {"UNIFY_QUICKSIGHT_ACCOUNT_ID", "UNIFY_QUICKSIGHT_REGION"} <= env
    granted = sorted(re.search(r":dataset/([^/]+)/ingestion/\*", text(r)).group(1)
                     for r in allowed["quicksight:CreateIngestion"])
    assert granted == sorted(data_set_ids(load_config(env={}))) and len(granted) == 6


def test_the_dockerfile_builds_what_the_cycle_runs():
    """No docker here: the Dockerfile read statically. Every file it copies exists and passes .dockerignore;
    the console script it runs is the project's; the commands the state machines give it parse."""
    import shlex
    import tomllib

    from unify.cli import build_parser
    from unify_infra.lambda_bundle import ROOT

    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    allowed = {line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    copies = [shlex.split(line)[1:] for line in lines if line.startswith("COPY ")]
    assert copies
    for *sources, _dest in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert source.split("/")[0] in allowed, f"COPY {source}: excluded by .dockerignore"
    # `pip install -e .` needs the packages' sources and the metadata pyproject names
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {source for *sources, _ in copies for source in sources}
    assert {"pyproject.toml", "loaders", "unify", project["project"]["readme"]} <= copied
    install = next(i for i, line in enumerate(lines) if line.startswith("RUN pip install"))
    assert max(i for i, line in enumerate(lines) if line.startswith(("COPY loaders", "COPY unify"))) < install
    assert project["project"]["scripts"]["unify"] == "unify.cli:main"
    assert "profiles.yml" in next(line for line in lines if line.startswith("RUN cp profiles.yml.example"))
    assert next(line for line in lines if line.startswith("USER ")) == "USER unify"  # not root
    cmd = json.loads(next(line for line in lines if line.startswith("CMD "))[4:])
    assert cmd[0] == "unify"
    parser = build_parser()
    for command in [cmd[1:], *(["cycle", c] for c in CYCLES), ["access", "apply", "--target", "prod_admin"],
                    ["access", "rotate-pii-key", "--target", "prod"]]:
        assert callable(parser.parse_args(command).func), command


def test_a_first_deployment_can_leave_the_schedules_off():
    """`cdk deploy -c unify:schedules=disabled` (the runbook's first deployment): no cycle starts before the
    warehouse is set up. The template is otherwise the environment's."""
    import aws_cdk as cdk

    from unify_infra.app import build_app

    app = cdk.App(context={"aws:cdk:bundling-stacks": [], "unify:schedules": "disabled"})
    stack = build_app(app, ["prod"])["prod"]
    template = app.synth().get_stack_by_name("unify-prod").template
    assert stack.config.schedules_enabled is False
    assert {s["Properties"]["State"] for s in resources(template, "AWS::Scheduler::Schedule").values()} == {"DISABLED"}
    with pytest.raises(ValueError, match="unify:schedules"):
        build_app(cdk.App(context={"aws:cdk:bundling-stacks": [], "unify:schedules": "off"}), ["prod"])
