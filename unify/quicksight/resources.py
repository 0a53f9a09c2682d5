"""The QuickSight resources the spec calls for, as the exact boto3 requests that create them.

Everything comes from the dashboards' spec (unify/dashboards/spec.yml) and the reporting models' yml:
- the groups viewers belong to (one per role, plus the admins who own every resource);
- the Redshift data source: host, cluster and database as configured, credentials from a Secrets
  Manager secret (never in the repo), reached through a QuickSight VPC connection;
- one SPICE data set per reporting table the dashboards read, its columns and types from the model's
  enforced contract; the rules data set (rpt_quicksight_rls_rules: UserName, GroupName, client_key,
  renamed from Redshift's lower-case names) attached as RowLevelPermissionDataSet with GRANT_ACCESS to
  every client-scoped data set and to none other;
- the two dashboards' definitions (the Definition API): one sheet each, a visual per spec visual,
  calculated fields for the ratios (ratios of sums), relative-date and value filters with their
  controls, the top-N filter of a list; viewer permissions for the groups of the dashboard's audience.

`build_resources(config)` returns them in creation order. Nothing here talks to AWS.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from unify.dashboards.spec import Dashboard, Dataset, Spec, Visual, load_spec, quicksight_setting

SPEC_HASH_TAG = "unify:spec-sha256"
EXAMPLE_ACCOUNT = "111122223333"  # AWS's documentation example: shown by an offline plan when no account is set

ADMIN_DATA_SOURCE_ACTIONS = [
    "quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions", "quicksight:PassDataSource",
    "quicksight:UpdateDataSource", "quicksight:DeleteDataSource", "quicksight:UpdateDataSourcePermissions"]
ADMIN_DATA_SET_ACTIONS = [
    "quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions", "quicksight:PassDataSet",
    "quicksight:DescribeIngestion", "quicksight:ListIngestions", "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet", "quicksight:CreateIngestion", "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions"]
VIEWER_DASHBOARD_ACTIONS = ["quicksight:DescribeDashboard", "quicksight:ListDashboardVersions",
                            "quicksight:QueryDashboard"]
ADMIN_DASHBOARD_ACTIONS = VIEWER_DASHBOARD_ACTIONS + [
    "quicksight:UpdateDashboard", "quicksight:DeleteDashboard", "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPermissions", "quicksight:UpdateDashboardPublishedVersion"]
# Redshift folds unquoted and (by default) quoted identifiers to lower case: the rules data set renames
# them back to the names QuickSight's permission format requires.
RULES_RENAMES = {"username": "UserName", "groupname": "GroupName"}
GRID_COLUMNS = 36


class QuickSightConfigError(Exception):
    """The configuration cannot give a resource (a missing setting, a type QuickSight cannot import)."""


@dataclass(frozen=True)
class Config:
    spec: Spec
    account_id: str
    region: str
    namespace: str
    schema: str
    prefix: str
    groups: dict[str, str]
    data_source: dict
    console_url: str

    def arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:quicksight:{self.region}:{self.account_id}:{kind}/{resource_id}"

    def group_arn(self, role: str) -> str:
        return self.arn("group", f"{self.namespace}/{self.groups[role]}")

    def data_set_id(self, table: str) -> str:
        return self.prefix + table.replace("_", "-")

    def dashboard_id(self, dashboard: Dashboard) -> str:
        return self.prefix + dashboard.id

    def dashboard_url(self, dashboard: Dashboard) -> str:
        return self.console_url.format(region=self.region, dashboard_id=self.dashboard_id(dashboard))


def load_config(account_id: str | None = None, spec: Spec | None = None, env: dict[str, str] | None = None) -> Config:
    """The quicksight: section of the spec, with UNIFY_QUICKSIGHT_* overrides; `account_id` wins when given."""
    spec = spec or load_spec()
    account = account_id or str(quicksight_setting(spec, "account_id", env) or "") or EXAMPLE_ACCOUNT
    region = str(quicksight_setting(spec, "region", env))

    def filled(value) -> str:
        return str(value).format(account_id=account, region=region)

    source = {key: filled(quicksight_setting(spec, f"data_source.{key}", env))
              for key in ("id", "name", "host", "port", "database", "cluster_id", "secret_arn", "vpc_connection_arn")}
    groups = {role: str(quicksight_setting(spec, f"groups.{role}", env))
              for role in ("admin", "analyst", "finance", "account_manager", "executive")}
    return Config(spec=spec, account_id=account, region=region,
                  namespace=str(quicksight_setting(spec, "namespace", env)),
                  schema=str(quicksight_setting(spec, "schema", env)),
                  prefix=str(quicksight_setting(spec, "resource_prefix", env)), groups=groups, data_source=source,
                  console_url=str(quicksight_setting(spec, "console_url", env)))


@dataclass
class Resource:
    """One QuickSight resource: the request that creates it (boto3 keyword arguments of `create_op`)."""

    kind: str  # group | data_source | data_set | dashboard
    id: str
    create_op: str
    request: dict
    arn: str
    notes: list[str] = field(default_factory=list)

    @property
    def spec_hash(self) -> str:
        """A digest of the request (tags aside): what `plan` compares with the tag the last deploy wrote."""
        body = {k: v for k, v in self.request.items() if k != "Tags"}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def quicksight_type(data_type: str, where: str) -> str:
    """The SPICE column type of a contract data type."""
    t = data_type.split("(")[0].strip()
    if t in ("integer", "int", "bigint", "smallint"):
        return "INTEGER"
    if t in ("numeric", "decimal", "double precision", "real", "float"):
        return "DECIMAL"
    if t in ("varchar", "char", "character varying", "character", "text"):
        return "STRING"
    if t in ("date", "timestamp", "timestamptz"):
        return "DATETIME"
    if t == "boolean":
        return "BOOLEAN"
    raise QuickSightConfigError(f"{where}: data type {data_type!r} has no QuickSight column type")


def _tags(resource_hash: str) -> list[dict]:
    return [{"Key": SPEC_HASH_TAG, "Value": resource_hash}, {"Key": "project", "Value": "unify"}]


def group_resources(config: Config) -> list[Resource]:
    out = []
    for role, name in config.groups.items():
        request = {"AwsAccountId": config.account_id, "Namespace": config.namespace, "GroupName": name,
                   "Description": f"GLC dashboards: {role.replace('_', ' ')}s (unify/dashboards/spec.yml)"}
        out.append(Resource("group", name, "create_group", request, config.group_arn(role)))
    return out


def data_source_resource(config: Config) -> Resource:
    s = config.data_source
    request = {
        "AwsAccountId": config.account_id, "DataSourceId": s["id"], "Name": s["name"], "Type": "REDSHIFT",
        "DataSourceParameters": {"RedshiftParameters": {"Host": s["host"], "Port": int(s["port"]),
                                                        "Database": s["database"], "ClusterId": s["cluster_id"]}},
        "Credentials": {"SecretArn": s["secret_arn"]},
        "VpcConnectionProperties": {"VpcConnectionArn": s["vpc_connection_arn"]},
        "SslProperties": {"DisableSsl": False},
        "Permissions": [{"Principal": config.group_arn("admin"), "Actions": ADMIN_DATA_SOURCE_ACTIONS}],
    }
    return Resource("data_source", s["id"], "create_data_source", request, config.arn("datasource", s["id"]))


def data_set_resource(config: Config, dataset: Dataset) -> Resource:
    data_set_id = config.data_set_id(dataset.table)
    columns = dataset.columns
    transforms = []
    if dataset.rules:
        wanted = {"username", "groupname", "client_key"}
        columns = tuple(c for c in dataset.columns if c.name.lower() in wanted)
        if {c.name.lower() for c in columns} != wanted:
            raise QuickSightConfigError(f"{dataset.table}: the rules data set needs UserName, GroupName and client_key")
        transforms = [{"RenameColumnOperation": {"ColumnName": old, "NewColumnName": new}}
                      for old, new in RULES_RENAMES.items()]
    input_columns = [{"Name": c.name.lower(), "Type": quicksight_type(c.data_type, f"{dataset.table}.{c.name}")}
                     for c in columns]
    logical = {"Alias": dataset.table, "Source": {"PhysicalTableId": dataset.table}}
    if transforms:
        logical["DataTransforms"] = transforms
    request = {
        "AwsAccountId": config.account_id, "DataSetId": data_set_id, "Name": f"GLC {dataset.table}",
        "ImportMode": "SPICE",
        "PhysicalTableMap": {dataset.table: {"RelationalTable": {
            "DataSourceArn": config.arn("datasource", config.data_source["id"]), "Schema": config.schema,
            "Name": dataset.table, "InputColumns": input_columns}}},
        "LogicalTableMap": {dataset.table: logical},
        "Permissions": [{"Principal": config.group_arn("admin"), "Actions": ADMIN_DATA_SET_ACTIONS}],
    }
    notes = []
    if dataset.client_scoped:
        rules = config.spec.rules_dataset()
        request["RowLevelPermissionDataSet"] = {
            "Namespace": config.namespace, "Arn": config.arn("dataset", config.data_set_id(rules.table)),
            "PermissionPolicy": "GRANT_ACCESS", "FormatVersion": "VERSION_1", "Status": "ENABLED"}
        notes.append(f"row-level security: {rules.table} on client_key")
    return Resource("data_set", data_set_id, "create_data_set", request, config.arn("dataset", data_set_id), notes)


# -- dashboards ----------------------------------------------------------------------------------------

def _column(table: str, name: str) -> dict:
    return {"DataSetIdentifier": table, "ColumnName": name}


def _calculated_name(table: str, measure: str) -> str:
    return f"{measure} ({table})"


def _dimension(visual: Visual, dataset: Dataset, name: str) -> dict:
    field_id = f"{visual.id}.{name}"
    column = dataset.column(name)
    if quicksight_type(column.data_type, name) == "DATETIME":
        granularity = "MONTH" if name.startswith("month") else "DAY"
        return {"DateDimensionField": {"FieldId": field_id, "Column": _column(dataset.table, name),
                                       "DateGranularity": granularity}}
    return {"CategoricalDimensionField": {"FieldId": field_id, "Column": _column(dataset.table, name)}}


def _measure(visual: Visual, dataset: Dataset, name: str) -> dict:
    m = dataset.measures[name]
    field_id = f"{visual.id}.{name}"
    if m.aggregation == "ratio":  # an aggregated calculated field: already a ratio of sums
        return {"NumericalMeasureField": {"FieldId": field_id,
                                          "Column": _column(dataset.table, _calculated_name(dataset.table, name))}}
    simple = {"sum": "SUM", "max": "MAX"}[m.aggregation]
    return {"NumericalMeasureField": {"FieldId": field_id, "Column": _column(dataset.table, m.columns[0]),
                                      "AggregationFunction": {"SimpleNumericalAggregation": simple}}}


def calculated_fields(dashboard: Dashboard, spec: Spec) -> list[dict]:
    out, seen = [], set()
    for v in dashboard.visuals:
        ds = spec.datasets[v.dataset]
        for name in v.measures:
            m = ds.measures[name]
            key = (ds.table, name)
            if m.aggregation != "ratio" or key in seen:
                continue
            seen.add(key)
            num, den = m.columns
            scale = f"{m.scale} * " if m.scale != 1 else ""
            out.append({"DataSetIdentifier": ds.table, "Name": _calculated_name(ds.table, name),
                        "Expression": f"{scale}sum({{{num}}}) / sum({{{den}}})"})
    return out


def _title(text: str) -> dict:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def visual_definition(visual: Visual, dataset: Dataset) -> dict:
    if visual.kind == "table":
        if visual.columns:
            wells = {"TableUnaggregatedFieldWells": {"Values": [
                {"FieldId": f"{visual.id}.{c}", "Column": _column(dataset.table, c)} for c in visual.columns]}}
        else:
            wells = {"TableAggregatedFieldWells": {
                "GroupBy": [_dimension(visual, dataset, d) for d in visual.dimensions],
                "Values": [_measure(visual, dataset, m) for m in visual.measures]}}
        sort = [{"FieldSort": {"FieldId": f"{visual.id}.{c}", "Direction": "ASC"}}
                for c in (visual.order_by or visual.dimensions)]
        return {"TableVisual": {"VisualId": visual.id, "Title": _title(visual.title), "ChartConfiguration": {
            "FieldWells": wells, "SortConfiguration": {"RowSort": sort}}}}
    wells = {"Category": [_dimension(visual, dataset, visual.x)],
             "Values": [_measure(visual, dataset, m) for m in visual.drawn_measures]}
    if visual.color:
        wells["Colors"] = [_dimension(visual, dataset, visual.color)]
    if visual.kind == "line":
        return {"LineChartVisual": {"VisualId": visual.id, "Title": _title(visual.title), "ChartConfiguration": {
            "FieldWells": {"LineChartAggregatedFieldWells": wells}, "Type": "LINE"}}}
    config = {"FieldWells": {"BarChartAggregatedFieldWells": wells}, "Orientation": "VERTICAL",
              "BarsArrangement": "STACKED" if visual.stacked else "CLUSTERED"}
    if visual.sort_measure:
        direction = "DESC" if visual.sort_descending else "ASC"
        config["SortConfiguration"] = {"CategorySort": [{"FieldSort": {
            "FieldId": f"{visual.id}.{visual.sort_measure}", "Direction": direction}}]}
    return {"BarChartVisual": {"VisualId": visual.id, "Title": _title(visual.title), "ChartConfiguration": config}}


def _filter(dashboard: Dashboard, filter_id: str, table: str) -> dict:
    f = dashboard.filters[filter_id]
    fid = f"{dashboard.id}.{f.id}"
    column = _column(table, f.column)
    if f.kind == "values":
        return {"CategoryFilter": {"FilterId": fid, "Column": column, "Configuration": {"FilterListConfiguration": {
            "MatchOperator": "CONTAINS", "SelectAllOptions": "FILTER_ALL_VALUES", "NullOption": "NON_NULLS_ONLY"}}}}
    relative = {"last_days": ("DAY", "LAST", f.days), "last_months": ("MONTH", "LAST", f.months),
                "last_complete_month": ("MONTH", "PREVIOUS", None)}[f.kind]
    body = {"FilterId": fid, "Column": column, "AnchorDateConfiguration": {"AnchorOption": "NOW"},
            "TimeGranularity": relative[0], "RelativeDateType": relative[1], "NullOption": "NON_NULLS_ONLY"}
    if relative[2] is not None:
        body["RelativeDateValue"] = relative[2]
    return {"RelativeDatesFilter": body}


def filter_groups(dashboard: Dashboard, sheet_id: str) -> list[dict]:
    """One group per filter, across data sets (every data set it applies to has the column), scoped to
    the visuals that use it; one per top-N list."""
    groups = []
    for f in dashboard.filters.values():
        visuals = [v for v in dashboard.visuals if f.id in v.filters]
        if not visuals:
            continue
        groups.append({"FilterGroupId": f"{dashboard.id}.{f.id}",
                       "Filters": [_filter(dashboard, f.id, visuals[0].dataset)],
                       "ScopeConfiguration": {"SelectedSheets": {"SheetVisualScopingConfigurations": [{
                           "SheetId": sheet_id, "Scope": "SELECTED_VISUALS", "VisualIds": [v.id for v in visuals]}]}},
                       "CrossDataset": "ALL_DATASETS", "Status": "ENABLED"})
    for v in dashboard.visuals:
        if not v.limit:
            continue
        key, rank = (v.order_by or v.columns)[-1], (v.order_by or v.columns)[0]
        groups.append({"FilterGroupId": f"{dashboard.id}.{v.id}.top", "Filters": [{"TopBottomFilter": {
            "FilterId": f"{dashboard.id}.{v.id}.top", "Column": _column(v.dataset, key), "Limit": v.limit,
            "AggregationSortConfigurations": [{"Column": _column(v.dataset, rank), "SortDirection": "ASC",
                                               "AggregationFunction": {"DateAggregationFunction": "MIN"}}]}}],
            "ScopeConfiguration": {"SelectedSheets": {"SheetVisualScopingConfigurations": [{
                "SheetId": sheet_id, "Scope": "SELECTED_VISUALS", "VisualIds": [v.id]}]}},
            "CrossDataset": "SINGLE_DATASET", "Status": "ENABLED"})
    return groups


def dashboard_resource(config: Config, dashboard: Dashboard, data_set_arns: dict[str, str]) -> Resource:
    spec = config.spec
    sheet_id = f"{dashboard.id}.sheet"
    controls = [{"Dropdown": {"FilterControlId": f"{dashboard.id}.{f.id}.control", "Title": f.label,
                              "SourceFilterId": f"{dashboard.id}.{f.id}", "Type": "MULTI_SELECT"}}
                for f in dashboard.filters.values() if f.kind == "values"]
    elements = [{"ElementId": v.id, "ElementType": "VISUAL", "ColumnIndex": (i % 2) * (GRID_COLUMNS // 2),
                 "ColumnSpan": GRID_COLUMNS // 2, "RowIndex": (i // 2) * 12, "RowSpan": 12}
                for i, v in enumerate(dashboard.visuals)]
    sheet = {"SheetId": sheet_id, "Name": dashboard.name, "Title": dashboard.name,
             "Description": dashboard.description,
             "Visuals": [visual_definition(v, spec.datasets[v.dataset]) for v in dashboard.visuals],
             "FilterControls": controls,
             "Layouts": [{"Configuration": {"GridLayout": {"Elements": elements}}}]}
    definition = {
        "DataSetIdentifierDeclarations": [{"Identifier": t, "DataSetArn": data_set_arns[t]}
                                          for t in dashboard.datasets()],
        "Sheets": [sheet], "CalculatedFields": calculated_fields(dashboard, spec),
        "FilterGroups": filter_groups(dashboard, sheet_id)}
    permissions = [{"Principal": config.group_arn("admin"), "Actions": ADMIN_DASHBOARD_ACTIONS}]
    permissions += [{"Principal": config.group_arn(role), "Actions": VIEWER_DASHBOARD_ACTIONS}
                    for role in dashboard.audience]
    dashboard_id = config.dashboard_id(dashboard)
    request = {"AwsAccountId": config.account_id, "DashboardId": dashboard_id, "Name": dashboard.name,
               "Definition": definition, "Permissions": permissions,
               "DashboardPublishOptions": {"AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"},
                                           "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"}},
               "ValidationStrategy": {"Mode": "STRICT"}}
    notes = [f"viewers: {', '.join(config.groups[r] for r in dashboard.audience)}", config.dashboard_url(dashboard)]
    return Resource("dashboard", dashboard_id, "create_dashboard", request, config.arn("dashboard", dashboard_id),
                    notes)


def build_resources(config: Config) -> list[Resource]:
    """Every resource, in the order they must exist: groups, data source, data sets (rules first), dashboards."""
    spec = config.spec
    resources = group_resources(config) + [data_source_resource(config)]
    rules = spec.rules_dataset()
    ordered = [rules] + [d for d in spec.datasets.values() if not d.rules]
    data_sets = [data_set_resource(config, d) for d in ordered]
    resources += data_sets
    arns = {d.table: r.arn for d, r in zip(ordered, data_sets)}
    resources += [dashboard_resource(config, d, arns) for d in spec.dashboards]
    for r in resources:
        if r.kind != "group":  # groups carry no tags: they exist or not
            r.request["Tags"] = _tags(r.spec_hash)
    return resources
