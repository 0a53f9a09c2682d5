"""Builds the stacks of the chosen environments and applies cdk-nag's AWS Solutions checks to them."""

from __future__ import annotations

from dataclasses import replace

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from unify_infra.environments import ENVIRONMENTS
from unify_infra.nag import suppress_reviewed_findings
from unify_infra.stack import UnifyPlatformStack


def build_app(app: cdk.App, names: list[str] | None = None) -> dict[str, UnifyPlatformStack]:
    """One stack per environment named in `names` (default: the context `unify:environment`; `all`: every one)."""
    # Server access logs delivered under a bucket policy, not the legacy LogDeliveryWrite ACL (cfn-lint W3045)
    app.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
    if names is None:
        chosen = str(app.node.try_get_context("unify:environment") or "prod")
        names = list(ENVIRONMENTS) if chosen == "all" else [chosen]
    unknown = [n for n in names if n not in ENVIRONMENTS]
    if unknown:
        raise ValueError(f"unknown environment(s) {unknown}: choose from {', '.join(ENVIRONMENTS)} or all")
    # `-c unify:schedules=disabled`: the first deployment of an environment, before its warehouse is set up
    # (the runbook), when a scheduled cycle could only fail
    schedules = str(app.node.try_get_context("unify:schedules") or "as-configured")
    if schedules not in ("as-configured", "disabled"):
        raise ValueError(f"unify:schedules must be disabled or as-configured, not {schedules!r}")
    stacks = {}
    for name in names:
        environment = ENVIRONMENTS[name]
        if schedules == "disabled":
            environment = replace(environment, schedules_enabled=False)
        stack = UnifyPlatformStack(app, f"unify-{name}", environment=environment,
                                   description=f"Project Unify platform, {name} environment")
        cdk.Tags.of(stack).add("project", "unify")
        cdk.Tags.of(stack).add("environment", name)
        suppress_reviewed_findings(stack)
        stacks[name] = stack
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stacks
