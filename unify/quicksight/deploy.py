"""Plan, deploy and refresh the QuickSight resources (boto3), idempotently.

`plan(config, client)` asks QuickSight for each resource (describe_*): missing -> create; present with
the tag the last deploy wrote (a digest of the request, resources.SPEC_HASH_TAG) equal to the wanted
request's -> unchanged; otherwise -> update. Without a client (no AWS session, or --offline) every
resource is listed as a create. `deploy` applies a plan: create_*, or update_* (data set, data source,
dashboard with a new published version), permissions brought to the wanted set (grants, and revokes of
principals no longer wanted), and the digest tag. Groups are created when missing; their members come
from the identity provider, not from here. `refresh_data_sets` starts a SPICE ingestion per data set
(the ops cycle calls it after the frequent load cycle). Every call is one line of JSON in the log.
A console edit that leaves the tag alone is not seen by `plan`: QuickSight as code means changing the
spec and deploying.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from unify.quicksight.resources import SPEC_HASH_TAG, Config, Resource, build_resources

log = logging.getLogger(__name__)

ID_KEY = {"group": "GroupName", "data_source": "DataSourceId", "data_set": "DataSetId", "dashboard": "DashboardId"}
DESCRIBE_OP = {"group": "describe_group", "data_source": "describe_data_source", "data_set": "describe_data_set",
               "dashboard": "describe_dashboard"}
UPDATE_OP = {"data_source": "update_data_source", "data_set": "update_data_set", "dashboard": "update_dashboard"}
PERMISSIONS_OP = {"data_source": ("describe_data_source_permissions", "update_data_source_permissions"),
                  "data_set": ("describe_data_set_permissions", "update_data_set_permissions"),
                  "dashboard": ("describe_dashboard_permissions", "update_dashboard_permissions")}


class QuickSightDeployError(Exception):
    """A QuickSight call failed; the message names the resource, the call and AWS's reason."""


@dataclass
class Change:
    resource: Resource
    action: str  # create | update | unchanged
    reason: str


def _camel(op: str) -> str:
    return "".join(part.capitalize() for part in op.split("_"))


def _call(client, op: str, params: dict, resource: Resource | None = None) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    started = time.monotonic()
    try:
        reply = getattr(client, op)(**params)
    except ClientError as err:
        log.info(json.dumps({"event": "quicksight_call", "op": op, "resource": resource.id if resource else None,
                             "error": err.response.get("Error", {}).get("Code")}))
        raise
    except BotoCoreError as err:
        raise QuickSightDeployError(f"{op} for {resource.id if resource else '?'}: {err}") from None
    log.info(json.dumps({"event": "quicksight_call", "op": op, "resource": resource.id if resource else None,
                         "status": reply.get("Status"), "seconds": round(time.monotonic() - started, 3)}))
    return reply


def identity(resource: Resource) -> dict:
    """The parameters that name the resource (what describe_* and the *_permissions calls take)."""
    keys = ("AwsAccountId", "Namespace", "GroupName") if resource.kind == "group" else ("AwsAccountId",
                                                                                        ID_KEY[resource.kind])
    return {k: resource.request[k] for k in keys}


def _not_found(err) -> bool:
    """QuickSight's ResourceNotFoundException is HTTP 404; a bare 404 means the same."""
    error = err.response.get("Error", {})
    return error.get("Code") == "ResourceNotFoundException" or err.response.get(
        "ResponseMetadata", {}).get("HTTPStatusCode") == 404


def current_state(client, resource: Resource) -> tuple[str, str]:
    """(action, reason) for one resource, from what QuickSight holds now."""
    from botocore.exceptions import ClientError

    op = DESCRIBE_OP[resource.kind]
    try:
        _call(client, op, identity(resource), resource)
    except ClientError as err:
        if _not_found(err):
            return "create", "not in QuickSight"
        raise QuickSightDeployError(f"{op} {resource.id}: {err}") from None
    if resource.kind == "group":
        return "unchanged", "exists (members come from the identity provider)"
    try:
        tags = _call(client, "list_tags_for_resource", {"ResourceArn": resource.arn}, resource).get("Tags", [])
    except ClientError as err:
        raise QuickSightDeployError(f"list_tags_for_resource {resource.arn}: {err}") from None
    deployed = next((t["Value"] for t in tags if t["Key"] == SPEC_HASH_TAG), None)
    if deployed == resource.spec_hash:
        return "unchanged", "the deployed request equals the spec's"
    return "update", "differs from the spec" if deployed else "exists without the spec's tag (made by hand?)"


def plan(config: Config, client=None) -> list[Change]:
    resources = build_resources(config)
    if client is None:
        return [Change(r, "create", "offline: nothing compared, every resource listed") for r in resources]
    return [Change(r, *current_state(client, r)) for r in resources]


def update_requests(resource: Resource, service_model) -> list[tuple[str, dict]]:
    """The calls that bring an existing resource to the wanted request: update_*, permissions, tags
    (parameters taken from the create request by the update operation's input shape)."""
    if resource.kind == "group":
        return []
    op = UPDATE_OP[resource.kind]
    members = service_model.operation_model(_camel(op)).input_shape.members
    calls = [(op, {k: v for k, v in resource.request.items() if k in members})]
    _describe, update_permissions = PERMISSIONS_OP[resource.kind]
    calls.append((update_permissions, {**identity(resource), "GrantPermissions": resource.request["Permissions"]}))
    calls.append(("tag_resource", {"ResourceArn": resource.arn, "Tags": resource.request["Tags"]}))
    return calls


def _revocations(client, resource: Resource) -> list[dict]:
    describe, _update = PERMISSIONS_OP[resource.kind]
    reply = _call(client, describe, identity(resource), resource)
    wanted = {p["Principal"] for p in resource.request["Permissions"]}
    return [p for p in reply.get("Permissions", []) if p["Principal"] not in wanted]


def apply(client, changes: list[Change], say=print) -> list[Change]:
    """Carry out a plan; the changes made. Stops at the first failure with QuickSightDeployError."""
    from botocore.exceptions import ClientError

    done = []
    for change in changes:
        r = change.resource
        try:
            if change.action == "create":
                _call(client, r.create_op, r.request, r)
            elif change.action == "update":
                for op, params in update_requests(r, client.meta.service_model):
                    if op.endswith("_permissions"):
                        revoke = _revocations(client, r)
                        if revoke:
                            params = {**params, "RevokePermissions": revoke}
                    reply = _call(client, op, params, r)
                    if op == "update_dashboard":
                        version = int(reply["VersionArn"].rsplit("/", 1)[1])
                        _call(client, "update_dashboard_published_version",
                              {"AwsAccountId": r.request["AwsAccountId"], "DashboardId": r.id,
                               "VersionNumber": version}, r)
            else:
                continue
        except ClientError as err:
            raise QuickSightDeployError(f"{change.action} {r.kind} {r.id}: {err}") from None
        say(f"  {change.action:9s} {r.kind:11s} {r.id}")
        done.append(change)
    return done


def refresh_data_sets(config: Config, client) -> list[tuple[str, str, str]]:
    """Start a full SPICE ingestion of every data set (the rules data set too, so viewers' rights follow
    the mapping); (data set id, ingestion id, status) per data set. Called after the frequent cycle."""
    from botocore.exceptions import ClientError

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    out = []
    for r in build_resources(config):
        if r.kind != "data_set":
            continue
        ingestion_id = f"unify-{stamp}"
        try:
            reply = _call(client, "create_ingestion", {"AwsAccountId": config.account_id, "DataSetId": r.id,
                                                       "IngestionId": ingestion_id, "IngestionType": "FULL_REFRESH"}, r)
        except ClientError as err:
            raise QuickSightDeployError(f"create_ingestion for {r.id}: {err}") from None
        out.append((r.id, ingestion_id, str(reply.get("IngestionStatus"))))
    return out


def client_for(config: Config, endpoint_url: str | None = None):
    import boto3

    return boto3.client("quicksight", region_name=config.region, endpoint_url=endpoint_url)


def account_from_sts(region: str) -> str:
    import boto3

    return boto3.client("sts", region_name=region).get_caller_identity()["Account"]


def refresh(account_id: str | None = None, endpoint_url: str | None = None) -> list[tuple[str, str, str]]:
    """What the operations cycle calls after the frequent load cycle: one SPICE ingestion per data set,
    with the configuration of the spec (account from UNIFY_QUICKSIGHT_ACCOUNT_ID, the spec, or STS)."""
    from unify.quicksight.resources import EXAMPLE_ACCOUNT, load_config

    config = load_config(account_id)
    if config.account_id == EXAMPLE_ACCOUNT:
        config = load_config(account_from_sts(config.region))
    return refresh_data_sets(config, client_for(config, endpoint_url))
