"""Grants, as the catalog reports them and as real logins experience them: raw data (and its PII) is the
loader's and the transformer's only; each reader role reaches exactly its layers; new tables are closed.
"""

from __future__ import annotations

import psycopg2
import pytest
from access_support import (ANALYST, EXECUTIVE, FINANCE, INTEGRATION, LOADER, QUICKSIGHT_SERVICE, TRANSFORMER,
                            Secured)

from unify.simulate.reference import ACCOUNT_MANAGERS
from loaders.source_tables import ALL_TABLES

READERS = [FINANCE, ANALYST, EXECUTIVE, QUICKSIGHT_SERVICE, ACCOUNT_MANAGERS[0].username, INTEGRATION]
# Raw columns holding personal data (DOMAIN.md: customer names, addresses, e-mails).
PII_COLUMNS = [("raw_azureware", "orders", "customername"), ("raw_azureware", "orders", "destinationaddress"),
               ("raw_salesforce", "users", "email")]
RAW_SCHEMAS = sorted({t.raw_schema for t in ALL_TABLES} | {"unify_loader"})


def privileges(secured: Secured, login: str) -> dict[str, bool]:
    user = secured.user(login)
    result = {}
    for schema in RAW_SCHEMAS:
        result[f"usage:{schema}"] = secured.query("select has_schema_privilege(%s, %s, 'USAGE')", (user, schema))[0][0]
    for table in ALL_TABLES:
        result[f"select:{table.qualified_raw_name}"] = secured.query(
            "select has_table_privilege(%s, %s, 'SELECT')", (user, table.qualified_raw_name))[0][0]
    for schema, table, column in PII_COLUMNS:
        result[f"pii:{schema}.{table}.{column}"] = secured.query(
            "select has_column_privilege(%s, %s, %s, 'SELECT')", (user, f"{schema}.{table}", column))[0][0]
    return result


def test_raw_schemas_and_pii_are_the_loaders_and_transformers_only(secured):
    """The catalog's answer for every raw table and PII column, and a real query as each login."""
    for login in (LOADER, TRANSFORMER):
        granted = privileges(secured, login)
        assert all(granted.values()), [k for k, v in granted.items() if not v]
        (rows,) = secured.query("select count(customername) from raw_azureware.orders", login=login)[0]
        assert rows > 0
    for login in READERS:
        granted = privileges(secured, login)
        assert not any(granted.values()), (login, [k for k, v in granted.items() if v])
        for table in ALL_TABLES:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                secured.query(f"select 1 from {table.qualified_raw_name} limit 1", login=login)


def test_loader_appends_to_raw_but_never_rewrites_it(secured):
    """Raw is append-only (7-year retention): the loader role may insert, not update or delete."""
    user = secured.user(LOADER)
    checks = secured.query(
        "select has_table_privilege(%s, 'raw_tms.carriers', 'INSERT'), "
        "has_table_privilege(%s, 'raw_tms.carriers', 'UPDATE'), has_table_privilege(%s, 'raw_tms.carriers', 'DELETE')",
        (user, user, user))[0]
    assert checks == (True, False, False)


def test_each_role_reaches_exactly_its_layers(secured):
    """Schema USAGE as the catalog reports it, for one person per role (README's table)."""
    layers = ["analytics_staging", "analytics_intermediate", "analytics_snapshots", "analytics_seeds",
              "analytics_marts", "analytics_reporting"]
    expected = {
        TRANSFORMER: set(layers),
        ANALYST: {"analytics_marts", "analytics_reporting"},
        FINANCE: {"analytics_marts", "analytics_reporting"},
        ACCOUNT_MANAGERS[0].username: {"analytics_marts", "analytics_reporting"},
        EXECUTIVE: {"analytics_reporting"},
        QUICKSIGHT_SERVICE: {"analytics_reporting"},
        LOADER: set(),
        INTEGRATION: set(),
    }
    for login, schemas in expected.items():
        usable = {s for s in layers if secured.query(
            "select has_schema_privilege(%s, %s, 'USAGE')", (secured.user(login), s))[0][0]}
        assert usable == schemas, login


def test_readers_can_create_nothing_to_share_data_through(secured):
    """No reader role may create objects in any schema of the database (only session-private temporary
    ones), so nobody can publish a view or a SECURITY DEFINER function over rows they see."""
    schemas = [s for (s,) in secured.query(
        "select nspname from pg_namespace where nspname !~ '^pg_' and nspname <> 'information_schema'")]
    assert "analytics_marts" in schemas and "public" in schemas
    for login in READERS:
        creatable = [s for s in schemas if secured.query(
            "select has_schema_privilege(%s, %s, 'CREATE')", (secured.user(login), s))[0][0]]
        assert creatable == [], login


def test_pii_never_reaches_a_column_readers_can_read(secured):
    """No raw PII value appears in any column a reader role can select (the grants side of NFR-4)."""
    pii = set()
    for schema, table, column in PII_COLUMNS:
        pii |= {v for (v,) in secured.query(f"select distinct {column} from {schema}.{table} where {column} is not null")}
    pii -= {v for (v,) in secured.query("select distinct name from raw_salesforce.users")}  # employees' names
    assert len(pii) > 50
    readable = set()
    for login in READERS:
        readable |= set(secured.query(
            """
            select c.table_schema, c.table_name, c.column_name from information_schema.columns as c
            where c.data_type in ('character varying', 'text', 'character')
            and c.table_schema not in ('pg_catalog', 'information_schema')
            and has_column_privilege(%s, quote_ident(c.table_schema) || '.' || quote_ident(c.table_name),
                                     c.column_name, 'SELECT')
            and has_schema_privilege(%s, c.table_schema, 'USAGE')
            """, (secured.user(login), secured.user(login))))
    assert {schema for schema, _, _ in readable} == {"analytics_marts", "analytics_reporting", "analytics_access"}
    for schema, table, column in sorted(readable):
        values = {v for (v,) in secured.query(f'select distinct "{column}" from "{schema}"."{table}"')}
        assert not values & pii, f"{schema}.{table}.{column}"


def test_a_table_created_outside_dbt_is_open_to_no_one(secured):
    """Default privileges: a new table in an analytics or raw schema gets no grant by accident (a raw
    table is readable by the transformer, as the loader's new source tables must be)."""
    secured.execute("create table analytics_marts.made_by_hand (client_id integer)")
    secured.execute("create table raw_tms.new_extract (x integer)")
    try:
        for login in (ANALYST, FINANCE, EXECUTIVE, QUICKSIGHT_SERVICE, TRANSFORMER):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                secured.query("select * from analytics_marts.made_by_hand", login=login)
        assert secured.query("select count(*) from raw_tms.new_extract", login=TRANSFORMER) == [(0,)]
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            secured.query("select * from raw_tms.new_extract", login=ANALYST)
    finally:  # a leftover client_id table would fail the row-security test with a misleading message
        secured.execute("drop table if exists analytics_marts.made_by_hand; drop table if exists raw_tms.new_extract")


def test_cross_client_aggregates_are_not_granted_to_account_managers(secured):
    """A reporting table whose rows mix clients cannot be filtered by RLS: account managers may read a
    reporting table only when it is row-secured. The dashboards' tables (rpt_operations_health_daily
    included, one row per client since #14.4) are, so account managers read them, filtered; the rules
    dataset is not granted to them."""
    tables = secured.query(
        """
        select c.relname, c.relrowsecurity, has_table_privilege(%s, c.oid, 'SELECT')
        from pg_class as c
        inner join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = 'analytics_reporting' and c.relkind = 'r'
        """, (secured.user(ACCOUNT_MANAGERS[0].username),))
    readable = {name for name, _rls, granted in tables if granted}
    assert readable and all(rls for name, rls, granted in tables if granted), tables
    assert "rpt_operations_health_daily" in readable and "rpt_quicksight_rls_rules" not in readable
    table = "analytics_reporting.rpt_operations_health_daily"
    readers = {login: secured.query("select has_table_privilege(%s, %s, 'SELECT')",
                                    (secured.user(login), table))[0][0]
               for login in (ANALYST, FINANCE, EXECUTIVE, QUICKSIGHT_SERVICE)}
    assert readers == {ANALYST: True, FINANCE: True, EXECUTIVE: True, QUICKSIGHT_SERVICE: True}
