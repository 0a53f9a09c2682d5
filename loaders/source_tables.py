"""The contract between simulators, loaders and dbt staging: every source table, its columns and types.

Names are the source systems' own (../shared/DOMAIN.md). Each column carries
- `source_type`: the type in the source system (SQL Server for the WMS, Salesforce field types, TMS CSV);
- `raw_type`: the faithful Redshift type of its `raw_<system>.<table>` column (valid PostgreSQL too).

Raw tables keep every source column under its source name folded to lower case (what Redshift does to
an unquoted identifier, and what `COPY ... JSON 'auto ignorecase'` matches), plus the columns each
delivery mechanism adds (DMS: `op`, `dms_commit_ts`, `dms_change_seq`) and the loader's metadata
columns (`_source_key`, `_source_row`, `_batch_id`, `_loaded_at`). Staging renames to snake_case.

Raw table names are the entity in snake_case plural (`OrderLines` -> `order_lines`, Salesforce `User`
-> `users`: `user` is a reserved word in both Redshift and PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    source_type: str
    raw_type: str
    nullable: bool = True
    pii: bool = False
    description: str = ""

    @property
    def raw_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class SourceTable:
    system: str  # azureware | salesforce | tms
    name: str  # the source's own name: Orders, Account, shipments
    raw_table: str  # table name in raw_<system>
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    # How the source orders versions of a row (newest last), source column names.
    version_order: tuple[str, ...] = ()
    description: str = ""
    delivery_columns: tuple[Column, ...] = field(default=())

    @property
    def raw_schema(self) -> str:
        return f"raw_{self.system}"

    @property
    def qualified_raw_name(self) -> str:
        return f"{self.raw_schema}.{self.raw_table}"

    def column(self, name: str) -> Column:
        for col in (*self.delivery_columns, *self.columns):
            if col.name == name or col.raw_name == name.lower():
                return col
        raise KeyError(f"{self.system}.{self.name} has no column {name!r}")

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Columns as the raw table holds them: delivery columns, source columns, then metadata."""
        return (*self.delivery_columns, *self.columns, *METADATA_COLUMNS)


# Added by the loader to every raw row.
METADATA_COLUMNS = (
    Column("_source_key", "loader", "varchar(1024)", nullable=False,
           description="Object key (S3 key or landing-folder path) of the file the row came from"),
    Column("_source_row", "loader", "bigint",
           description="1-based number of the record within its file (header excluded)"),
    Column("_batch_id", "loader", "varchar(64)", nullable=False,
           description="Load batch that committed the row, with its ledger entries, in one transaction"),
    Column("_loaded_at", "loader", "timestamp", nullable=False,
           description="When the loader committed the row (UTC); sources' loaded_at_field"),
)

# DMS columns (GLC endpoint: IncludeOpForFullLoad, TimestampColumnName=dms_commit_ts,
# add-column rule dms_change_seq = $AR_H_CHANGE_SEQ). See ../shared/SOURCE_FORMATS.md.
DMS_COLUMNS = (
    Column("Op", "dms", "varchar(1)", nullable=False,
           description="DMS operation: I insert, U update (row after the change), D delete (row before it)"),
    Column("dms_commit_ts", "dms", "timestamp",
           description="DMS TimestampColumnName: source commit time (CDC) or task start time (full load), UTC"),
    Column("dms_change_seq", "dms", "varchar(35)",
           description="DMS $AR_H_CHANGE_SEQ: 35-digit change number, sorts lexically in change order; "
                       "empty for full-load rows"),
)

_MODIFIED = Column("ModifiedAt", "datetime2", "timestamp", nullable=False, description="Last change in the WMS, UTC")

SALESFORCE_SYSTEM_FIELDS = (
    Column("Id", "id", "varchar(18)", nullable=False, description="Salesforce record Id (18 characters)"),
    Column("IsDeleted", "boolean", "boolean", nullable=False, description="True when the record was deleted"),
    Column("CreatedDate", "datetime", "timestamp", nullable=False, description="Record creation time, UTC"),
    Column("LastModifiedDate", "datetime", "timestamp", nullable=False,
           description="Last change by a user, UTC"),
    Column("SystemModstamp", "datetime", "timestamp", nullable=False,
           description="Last change by a user or the system, UTC; AppFlow's incremental key"),
)

_TMS_UPDATED = Column("updated_at", "timestamp", "timestamp", nullable=False,
                      description="When the TMS created or last changed the row, UTC; orders versions")


def _c(name: str, source_type: str, raw_type: str, nullable: bool = True, pii: bool = False,
       description: str = "") -> Column:
    return Column(name, source_type, raw_type, nullable, pii, description)


AZUREWARE = (
    SourceTable(
        "azureware", "Warehouses", "warehouses", ("WarehouseId",),
        (
            _c("WarehouseId", "int", "integer", False),
            _c("WarehouseCode", "nvarchar(16)", "varchar(64)", False),
            _c("Name", "nvarchar(100)", "varchar(400)", False),
            _c("City", "nvarchar(100)", "varchar(400)"),
            _c("CountryCode", "char(2)", "char(2)"),
            _c("TimeZone", "nvarchar(64)", "varchar(256)"),
            _c("OpenedDate", "date", "date"),
            _MODIFIED,
        ),
        version_order=("dms_change_seq",),
        description="GLC's warehouses",
        delivery_columns=DMS_COLUMNS,
    ),
    SourceTable(
        "azureware", "Clients", "clients", ("ClientId",),
        (
            _c("ClientId", "int", "integer", False),
            _c("ClientCode", "nvarchar(20)", "varchar(80)", False),
            _c("Name", "nvarchar(200)", "varchar(800)", False),
            _c("IsActive", "bit", "boolean", False),
            _MODIFIED,
        ),
        version_order=("dms_change_seq",),
        description="WMS clients (GLC's customers); ClientCode equals Salesforce Account.WMS_Client_Code__c",
        delivery_columns=DMS_COLUMNS,
    ),
    SourceTable(
        "azureware", "Products", "products", ("ProductId",),
        (
            _c("ProductId", "int", "integer", False),
            _c("ClientId", "int", "integer", False),
            _c("Sku", "nvarchar(40)", "varchar(160)", False),
            _c("Description", "nvarchar(400)", "varchar(1600)"),
            _c("UnitWeightKg", "decimal(10,3)", "numeric(10,3)"),
            _c("UnitVolumeM3", "decimal(10,4)", "numeric(10,4)"),
            _c("HazmatClass", "nvarchar(8)", "varchar(32)"),
            _MODIFIED,
        ),
        version_order=("dms_change_seq",),
        description="SKUs stored for clients",
        delivery_columns=DMS_COLUMNS,
    ),
    SourceTable(
        "azureware", "Orders", "orders", ("OrderId",),
        (
            _c("OrderId", "bigint", "bigint", False),
            _c("OrderNumber", "nvarchar(32)", "varchar(128)", False),
            _c("ClientId", "int", "integer", False),
            _c("WarehouseId", "int", "integer", False),
            _c("OrderType", "varchar(8)", "varchar(8)", False),
            _c("Priority", "varchar(16)", "varchar(16)", False),
            _c("CreatedAt", "datetime2", "timestamp", False),
            _c("RequiredShipBy", "datetime2", "timestamp", False),
            _c("PromisedDeliveryDate", "date", "date", False),
            _c("Status", "varchar(16)", "varchar(16)", False),
            _c("ShippedAt", "datetime2", "timestamp"),
            _c("CustomerName", "nvarchar(200)", "varchar(800)", pii=True),
            _c("DestinationAddress", "nvarchar(400)", "varchar(1600)", pii=True),
            _c("DestinationPostcode", "nvarchar(16)", "varchar(64)"),
            _c("DestinationCountry", "char(2)", "char(2)"),
            _MODIFIED,
        ),
        version_order=("dms_change_seq",),
        description="Customer orders that GLC fulfils for its clients",
        delivery_columns=DMS_COLUMNS,
    ),
    SourceTable(
        "azureware", "OrderLines", "order_lines", ("OrderLineId",),
        (
            _c("OrderLineId", "bigint", "bigint", False),
            _c("OrderId", "bigint", "bigint", False),
            _c("LineNumber", "int", "integer", False),
            _c("ProductId", "int", "integer", False),
            _c("QtyOrdered", "int", "integer", False),
            _c("QtyPicked", "int", "integer", False),
            _c("QtyShipped", "int", "integer", False),
            _MODIFIED,
        ),
        version_order=("dms_change_seq",),
        description="Lines of orders: what was ordered, picked and shipped",
        delivery_columns=DMS_COLUMNS,
    ),
    SourceTable(
        "azureware", "InventoryBalances", "inventory_balances", ("WarehouseId", "ProductId"),
        (
            _c("WarehouseId", "int", "integer", False),
            _c("ProductId", "int", "integer", False),
            _c("QtyOnHand", "int", "integer", False),
            _c("QtyAllocated", "int", "integer", False),
            _MODIFIED,
        ),
        version_order=("dms_change_seq",),
        description="Stock per warehouse and product; updated very often",
        delivery_columns=DMS_COLUMNS,
    ),
)

SALESFORCE = (
    SourceTable(
        "salesforce", "Account", "accounts", ("Id",),
        (
            *SALESFORCE_SYSTEM_FIELDS,
            _c("Name", "string(255)", "varchar(1020)", False),
            _c("Type", "picklist", "varchar(255)"),
            _c("Industry", "picklist", "varchar(255)"),
            _c("BillingCountry", "string(80)", "varchar(320)"),
            _c("OwnerId", "reference(User)", "varchar(18)", False),
            _c("WMS_Client_Code__c", "string(20)", "varchar(80)"),
            _c("Tier__c", "picklist", "varchar(255)"),
            _c("CurrencyIsoCode", "picklist", "varchar(3)"),
        ),
        version_order=("SystemModstamp",),
        description="Client accounts",
    ),
    SourceTable(
        "salesforce", "User", "users", ("Id",),
        (
            *SALESFORCE_SYSTEM_FIELDS,
            _c("Name", "string(121)", "varchar(484)", False),
            _c("Email", "email", "varchar(512)", pii=True),
            _c("Username", "string(80)", "varchar(320)", False),
            _c("Title", "string(80)", "varchar(320)"),
            _c("Department", "string(80)", "varchar(320)"),
            _c("IsActive", "boolean", "boolean", False),
        ),
        version_order=("SystemModstamp",),
        description="Salesforce users: account managers and other staff",
    ),
    SourceTable(
        "salesforce", "Contract", "contracts", ("Id",),
        (
            *SALESFORCE_SYSTEM_FIELDS,
            _c("AccountId", "reference(Account)", "varchar(18)", False),
            _c("ContractNumber", "string(30)", "varchar(120)", False),
            _c("Status", "picklist", "varchar(255)", False),
            _c("StartDate", "date", "date"),
            _c("EndDate", "date", "date"),
            _c("Handling_Fee_Per_Order__c", "currency(16,2)", "numeric(18,2)"),
            _c("Pick_Fee_Per_Unit__c", "currency(14,4)", "numeric(18,4)"),
            _c("Freight_Markup_Pct__c", "percent(5,2)", "numeric(7,2)"),
            _c("OTIF_Target_Pct__c", "percent(5,2)", "numeric(7,2)"),
            _c("CurrencyIsoCode", "picklist", "varchar(3)"),
        ),
        version_order=("SystemModstamp",),
        description="Client contracts with rates and SLA targets",
    ),
)

# TMS identifiers (carrier_id, shipment_id, event_id) are the TMS's own opaque strings (C7, SHP-000123,
# E00001; ../shared/DOMAIN.md): text end to end, never assumed numeric.
TMS = (
    SourceTable(
        "tms", "carriers", "carriers", ("carrier_id",),
        (
            _c("carrier_id", "text", "varchar(64)", False),
            _c("carrier_name", "text", "varchar(256)", False),
            _c("scac", "text", "varchar(4)"),
            _c("mode", "text", "varchar(16)", False),
            _TMS_UPDATED,
        ),
        version_order=("updated_at",),
        description="Carriers GLC ships with",
    ),
    SourceTable(
        "tms", "shipments", "shipments", ("shipment_id",),
        (
            _c("shipment_id", "text", "varchar(64)", False),
            _c("order_number", "text", "varchar(128)", False),
            _c("warehouse_code", "text", "varchar(64)", False),
            _c("carrier_id", "text", "varchar(64)", False),
            _c("service_level", "text", "varchar(64)"),
            _c("tracking_number", "text", "varchar(128)"),
            _c("shipped_at", "timestamp", "timestamp", False),
            _c("estimated_delivery_at", "timestamp", "timestamp"),
            _c("delivered_at", "timestamp", "timestamp"),
            _c("status", "text", "varchar(16)", False),
            _c("weight_kg", "numeric(12,3)", "numeric(12,3)"),
            _c("freight_cost", "numeric(14,2)", "numeric(14,2)"),
            _c("currency", "text", "varchar(3)"),
            _TMS_UPDATED,
        ),
        version_order=("updated_at",),
        description="Shipments of orders; an order may ship in several",
    ),
    SourceTable(
        "tms", "tracking_events", "tracking_events", ("event_id",),
        (
            _c("event_id", "text", "varchar(64)", False),
            _c("shipment_id", "text", "varchar(64)", False),
            _c("event_time", "timestamp", "timestamp", False),
            _c("event_code", "text", "varchar(32)", False),
            _c("location_city", "text", "varchar(256)"),
            _c("location_country", "text", "varchar(2)"),
            _TMS_UPDATED,
        ),
        version_order=("updated_at",),
        description="Carrier tracking events of shipments",
    ),
)

ALL_TABLES: tuple[SourceTable, ...] = (*AZUREWARE, *SALESFORCE, *TMS)
SYSTEMS = ("azureware", "salesforce", "tms")


def get_table(system: str, name: str) -> SourceTable:
    """Look a table up by system and its source name (case-insensitive) or raw table name."""
    for table in ALL_TABLES:
        if table.system == system and name.lower() in (table.name.lower(), table.raw_table):
            return table
    raise KeyError(f"unknown source table {system}.{name}")
