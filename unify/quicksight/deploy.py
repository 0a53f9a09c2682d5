"""Plan, deploy and refresh the QuickSight resources (boto3), idempotently.

`plan(config, client)` asks QuickSight for each resource (describe_*): missing -> create; present with
the tag the last deploy wrote (a digest of the request, resources.SPEC_HASH_TAG) equal to the wanted
request's -> unchanged; otherwise -> update. Without a client (no AWS session, or --offline) every
resource is listed as a create. `deploy` applies a plan: create_*, or update_* (data set, data source,
dashboard with a new published version), permissions brought to the wanted set (grants, and revokes of
principals no longer wanted), and the digest tag. Groups are created when missing; their members come
from the identity provider, not from here. `refresh_data_sets` starts a SPICE ingestion per data set
(the cycle calls it after each load cycle, within QuickSight's quota: unify/quicksight/refresh.py). Every call is one line of JSON in the log.
A console edit that leaves the tag alone is not seen by `plan`: QuickSight as code means changing the
spec and deploying. `plan` also lists, as `delete`, what deploy made (tagged) and the spec no longer
has; `deploy --prune` deletes those.
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
DELETE_OP = {"data_source": "delete_data_source", "data_set": "delete_data_set", "dashboard": "delete_dashboard"}
# kind -> (list operation, the reply's list, the summary's id); in deletion order: what uses a thing first
LIST_OP = {"dashboard": ("list_dashboards", "DashboardSummaryList", "DashboardId"),
           "data_set": ("list_data_sets", "DataSetSummaries", "DataSetId"),
           "data_source": ("list_data_sources", "DataSources", "DataSourceId")}
ORPHAN_KINDS = tuple(LIST_OP)


class QuickSightDeployError(Exception):
    """A QuickSight call failed; the message names the resource, the call and AWS's reason."""


@dataclass
class Change:
    resource: Resource
    action: str  # create | update | unchanged | delete (managed by deploy, no longer in the spec)
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


def plan(config: Config, client=None, orphan_kinds: tuple[str, ...] = ORPHAN_KINDS) -> list[Change]:
    """Every resource of the spec with what deploy would do to it, then (with a client) a `delete` for each
    resource of `orphan_kinds` that deploy made and the spec no longer has."""
    resources = build_resources(config)
    if client is None:
        return [Change(r, "create", "offline: nothing compared, every resource listed") for r in resources]
    return [Change(r, *current_state(client, r)) for r in resources] + orphans(config, client, resources,
                                                                               orphan_kinds)


def _listed(client, kind: str, account_id: str) -> list[dict]:
    """Every summary a list_* call returns, page by page."""
    from botocore.exceptions import ClientError

    op, key, _id = LIST_OP[kind]
    params, out = {"AwsAccountId": account_id}, []
    while True:
        try:
            reply = _call(client, op, params)
        except ClientError as err:
            raise QuickSightDeployError(f"{op}: {err}") from None
        out += reply.get(key, [])
        if not reply.get("NextToken"):
            return out
        params = {**params, "NextToken": reply["NextToken"]}


def orphans(config: Config, client, wanted: list[Resource], kinds: tuple[str, ...] = ORPHAN_KINDS) -> list[Change]:
    """Resources of `kinds` that deploy made (they carry its SPEC_HASH_TAG) and the spec no longer has:
    one `delete` change each, dashboards before the data sets they read, data sets before their data source.
    Resources made by hand carry no such tag and are never touched. Groups are not pruned: deleting one
    would drop its members, who come from the identity provider."""
    from botocore.exceptions import ClientError

    keep = {(r.kind, r.id) for r in wanted}
    found = []
    for kind in sorted(kinds, key=list(LIST_OP).index):
        id_key = LIST_OP[kind][2]
        for summary in _listed(client, kind, config.account_id):
            if (kind, summary[id_key]) in keep:
                continue
            try:
                tags = _call(client, "list_tags_for_resource", {"ResourceArn": summary["Arn"]}).get("Tags", [])
            except ClientError as err:
                raise QuickSightDeployError(f"list_tags_for_resource {summary['Arn']}: {err}") from None
            if not any(t["Key"] == SPEC_HASH_TAG for t in tags):
                continue
            request = {"AwsAccountId": config.account_id, ID_KEY[kind]: summary[id_key]}
            found.append(Change(Resource(kind, summary[id_key], DELETE_OP[kind], request, summary["Arn"]), "delete",
                                "deployed from the spec, no longer in it (deploy --prune deletes it)"))
    return found


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


def apply(client, changes: list[Change], say=print, prune: bool = False) -> list[Change]:
    """Carry out a plan; the changes made. `delete` changes only with `prune`. Stops at the first failure
    with QuickSightDeployError."""
    from botocore.exceptions import ClientError

    done = []
    for change in changes:
        r = change.resource
        try:
            if change.action == "delete" and prune:
                _call(client, DELETE_OP[r.kind], r.request, r)
            elif change.action == "create":
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


def data_set_ids(config: Config) -> list[str]:
    """The ids of every data set deploy makes (what a refresh ingests; the cycle's IAM grant, infra/)."""
    return [r.id for r in build_resources(config) if r.kind == "data_set"]


def refresh_data_sets(config: Config, client, ingestion_id: str | None = None) -> list[tuple[str, str, str]]:
    """Start a full SPICE ingestion of every data set (the rules data set too, so viewers' rights follow
    the mapping); (data set id, ingestion id, status) per data set. With `ingestion_id` (the cycle's slot,
    unify/quicksight/refresh.py) a data set that already has an ingestion of that id is left alone, status
    EXISTS: QuickSight refuses the id twice."""
    from botocore.exceptions import ClientError

    ingestion_id = ingestion_id or f"unify-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    out = []
    for data_set_id in data_set_ids(config):
        params = {"AwsAccountId": config.account_id, "DataSetId": data_set_id, "IngestionId": ingestion_id,
                  "IngestionType": "FULL_REFRESH"}
        try:
            reply = _call(client, "create_ingestion", params)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceExistsException":
                out.append((data_set_id, ingestion_id, "EXISTS"))
                continue
            raise QuickSightDeployError(f"create_ingestion {ingestion_id} for {data_set_id}: {err}") from None
        out.append((data_set_id, ingestion_id, str(reply.get("IngestionStatus"))))
    return out


def client_for(config: Config, endpoint_url: str | None = None):
    import boto3

    return boto3.client("quicksight", region_name=config.region, endpoint_url=endpoint_url)


def account_from_sts(region: str) -> str:
    import boto3

    return boto3.client("sts", region_name=region).get_caller_identity()["Account"]
