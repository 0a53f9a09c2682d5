"""PII never reaches the analytics schemas unmasked (NFR-4), and the masking is the documented keyed hash.

Raw tables hold customer names, street addresses and e-mails (the loader role's data); staging, marts
and reporting must not contain any of those values in any text column.
"""

from __future__ import annotations

import hashlib

LOCAL_KEY = "local-dev-only-pii-key-not-secret"  # dbt_project.yml's default for var pii_hash_key


def test_no_raw_pii_value_appears_in_any_analytics_column(main_job):
    pii = set()
    for table, column in (("raw_azureware.orders", "customername"), ("raw_azureware.orders", "destinationaddress"),
                          ("raw_salesforce.users", "email")):
        pii |= {v for (v,) in main_job.query(f"select distinct {column} from {table} where {column} is not null")}
    assert len(pii) > 100, "the simulation must produce PII to look for"
    # Employees' names (Salesforce User.Name, shown as account managers) are kept by design; a customer
    # who happens to share an employee's name is not a leak of the customer's name.
    pii -= {v for (v,) in main_job.query("select distinct name from raw_salesforce.users")}
    text_columns = main_job.query(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema like 'analytics%%' and data_type in ('character varying', 'text', 'character')"
    )
    assert text_columns
    leaks = []
    for schema, table, column in text_columns:
        values = {v for (v,) in main_job.query(f'select distinct "{column}" from "{schema}"."{table}"')}
        found = values & pii
        if found:
            leaks.append(f"{schema}.{table}.{column}: {sorted(found)[:3]}")
    assert not leaks, leaks


def test_customer_key_is_the_documented_keyed_sha256(main_job):
    rows = main_job.query(
        "select s.customer_key, r.customername from analytics_staging.stg_azureware__orders as s "
        "inner join raw_azureware.orders as r on r.orderid = s.order_id "
        "where r.customername is not null limit 50"
    )
    assert rows
    for key, name in rows:
        expected = hashlib.sha256(f"{LOCAL_KEY}|{name.strip().lower()}".encode()).hexdigest()
        assert key == expected
