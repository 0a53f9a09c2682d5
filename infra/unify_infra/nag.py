"""cdk-nag AWS Solutions findings that were reviewed and accepted, each with its reason.

Every other AWS Solutions rule passes (the infra tests fail on any unsuppressed finding). A suppression
names the exact finding (`applies_to`) wherever cdk-nag reports one, so a new wildcard is never hidden
behind an old reason.
"""

from __future__ import annotations

from cdk_nag import NagPackSuppression, NagSuppressions

from unify_infra.environments import MANIFEST_PREFIX, RAW_PREFIXES

# Object keys under a prefix cannot be listed in advance: the grants stop at the prefix.
_PREFIX_WILDCARDS = [{"regex": "/^Resource::<RawBucket[0-9A-F]*\\.Arn>\\/(%s)\\*$/" % "|".join(
    p.replace("/", "\\/") for p in (*RAW_PREFIXES, MANIFEST_PREFIX))}]
_PREFIXES_REASON = ("Object-level S3 grants narrowed to the landing zone's source prefixes and the loader's "
                    "manifest prefix (the object keys themselves are not known in advance).")
_DATA_API_REASON = ("redshift-data:DescribeStatement/GetStatementResult/CancelStatement take a statement id and "
                    "support no resource-level permission; the policy's condition "
                    "redshift-data:statement-owner-iam-userid = ${aws:userid} keeps them to the role's own statements.")


def suppress_reviewed_findings(stack) -> None:
    NagSuppressions.add_resource_suppressions(stack.loader_secret, [NagPackSuppression(
        id="AwsSolutions-SMG4",
        reason="The loader's database password: rotating it needs a rotation function inside the VPC that "
               "changes the Redshift user's password; rotated by the runbook's procedure (docs/operations.md) "
               "until that function exists.")])
    NagSuppressions.add_resource_suppressions(stack.pii_key_secret, [NagPackSuppression(
        id="AwsSolutions-SMG4",
        reason="The PII hash key: a new key changes every pseudonymised value in staging and the marts, so it is "
               "rotated deliberately (with a full refresh), never on a timer.")])
    NagSuppressions.add_resource_suppressions(stack.loader, [NagPackSuppression(
        id="AwsSolutions-L1",
        reason="The project runs and is tested on Python 3.11 (pyproject.toml requires-python); the layer's "
               "wheels are built for it. Moving the runtime is a project-wide upgrade.")])
    NagSuppressions.add_resource_suppressions(stack.task_definition, [NagPackSuppression(
        id="AwsSolutions-ECS2",
        reason="The environment variables are non-secret configuration (names, ARNs, the schema, the PII key "
               "secret's name). No secret reaches the container: the PII key is read from Secrets Manager only "
               "by the access-admin role when it installs the key into the warehouse.")])
    NagSuppressions.add_resource_suppressions(stack.task_definition, [NagPackSuppression(
        id="AwsSolutions-IAM5", applies_to=["Resource::*"],
        reason="Execution role: ecr:GetAuthorizationToken supports no resource-level permission.")],
        apply_to_children=True)
    for role in (stack.copy_role, stack.loader_role, stack.task_role):
        NagSuppressions.add_resource_suppressions(role, [NagPackSuppression(
            id="AwsSolutions-IAM5", applies_to=_PREFIX_WILDCARDS, reason=_PREFIXES_REASON)], apply_to_children=True)
    for role in (stack.loader_role, stack.task_role):
        NagSuppressions.add_resource_suppressions(role, [NagPackSuppression(
            id="AwsSolutions-IAM5", applies_to=["Resource::*"], reason=_DATA_API_REASON)], apply_to_children=True)
    NagSuppressions.add_resource_suppressions(stack.loader_role, [NagPackSuppression(
        id="AwsSolutions-IAM5", applies_to=[{"regex": "/^Resource::<LoaderLogs[0-9A-F]*\\.Arn>:log-stream:\\*$/"}],
        reason="Lambda creates a log stream per execution environment, in the function's own log group only.")],
        apply_to_children=True)
    if stack.config.quicksight:
        NagSuppressions.add_resource_suppressions(stack.task_role, [NagPackSuppression(
            id="AwsSolutions-IAM5",
            applies_to=[{"regex": "/^Resource::arn:<AWS::Partition>:quicksight:<AWS::Region>:<AWS::AccountId>:"
                                  "dataset\\/[a-z0-9-]+\\/ingestion\\/\\*$/"}],
            reason="quicksight:CreateIngestion on each of the dashboards' data sets, by id: a SPICE refresh creates "
                   "a new ingestion id each time (its slot), so the grant ends at the data set's ingestions.")],
            apply_to_children=True)
    NagSuppressions.add_resource_suppressions(stack.task_role, [NagPackSuppression(
        id="AwsSolutions-IAM5", applies_to=["Action::kms:GenerateDataKey*"],
        reason="Publishing to the KMS-encrypted alert topic: kms:GenerateDataKey* on that one key (CDK's "
               "topic.grant_publish).")], apply_to_children=True)
    for machine in stack.state_machines.values():
        NagSuppressions.add_resource_suppressions(machine, [NagPackSuppression(
            id="AwsSolutions-IAM5",
            applies_to=["Resource::*", {"regex": "/^Resource::arn:.*CycleTask[0-9A-F]*.*:\\*$/"}],
            reason="Step Functions' ECS run-a-job integration (CDK-generated): ecs:StopTask/DescribeTasks and the "
                   "events rule it manages take no narrower resource, and RunTask is allowed on every revision "
                   "of the one cycle task definition.")], apply_to_children=True)
    NagSuppressions.add_resource_suppressions_by_path(
        stack, f"/{stack.stack_name}/BucketNotificationsHandler050a0587b7544547bf325f094a3db834/Role/Resource",
        [NagPackSuppression(id="AwsSolutions-IAM4", applies_to=[
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
            reason="CDK's own custom resource that configures the bucket's event notifications at deploy time "
                   "(logs only).")])
