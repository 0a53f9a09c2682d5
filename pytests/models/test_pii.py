"""PII never reaches the analytics schemas unmasked (NFR-4), and the masking is the documented keyed hash.

Raw tables hold customer names, street addresses and e-mails (the loader role's data); staging, marts
and reporting must not contain any of those values in any text column.
"""

from __future__ import annotations

from unify.pii_key import PiiKey, keyed_hash


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


def test_customer_key_is_the_documented_keyed_hash(main_job):
    """The reference construction (unify/pii_key.py) with the key the warehouse holds in its vault."""
    (inner, outer), = main_job.query("select inner_key, outer_key from analytics_pii.pii_hash_key")
    key = PiiKey(inner, outer, "vault")
    rows = main_job.query(
        "select s.customer_key, r.customername from analytics_staging.stg_azureware__orders as s "
        "inner join raw_azureware.orders as r on r.orderid = s.order_id "
        "where r.customername is not null limit 50"
    )
    assert rows
    for customer_key, name in rows:
        assert customer_key == keyed_hash(key, name.strip().lower())
