"""Raw-table indexes for dbt's incremental models: locally a btree on `_loaded_at` and one on the primary
key of every raw table (created with the tables, and added to tables that exist without them); the plan
of "every version of the keys loaded since X" uses them."""

from __future__ import annotations

from _load_helpers import execute, query

from loaders.load import EXIT_OK, load
from loaders.source_tables import ALL_TABLES
from loaders.warehouse.postgres import PostgresWarehouse


def _btree_indexes(settings) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    """(schema, table) -> the column lists of its btree indexes, read from the catalogs."""
    rows = query(settings, """
        select n.nspname, t.relname, array_agg(a.attname order by k.ord)
        from pg_index x
        join pg_class t on t.oid = x.indrelid
        join pg_class i on i.oid = x.indexrelid
        join pg_am am on am.oid = i.relam and am.amname = 'btree'
        join pg_namespace n on n.oid = t.relnamespace
        cross join lateral unnest(x.indkey) with ordinality as k(attnum, ord)
        join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
        where n.nspname like 'raw\\_%%'
        group by n.nspname, t.relname, x.indexrelid
    """)
    found: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for schema, table, columns in rows:
        found.setdefault((schema, table), set()).add(tuple(columns))
    return found


def _expected() -> dict[tuple[str, str], set[tuple[str, ...]]]:
    return {(t.raw_schema, t.raw_table): {("_loaded_at",), tuple(c.lower() for c in t.primary_key)}
            for t in ALL_TABLES}


def test_every_raw_table_gets_its_indexes_and_existing_tables_get_them_too(database, clean_landing):
    report = load(database, str(clean_landing.root))
    assert report.exit_code == EXIT_OK, report.summary()
    assert _btree_indexes(database) == _expected()
    assert ("raw_azureware", "inventory_balances") in _expected()  # a two-column key: (warehouseid, productid)
    assert ("warehouseid", "productid") in _btree_indexes(database)[("raw_azureware", "inventory_balances")]

    # tables created before the indexes existed (or indexes dropped): the next load's set-up adds them,
    # and the rows stay as they were
    counts = query(database, "select count(*), max(_loaded_at) from raw_azureware.order_lines")
    for schema, index in query(database, "select schemaname, indexname from pg_indexes "
                                         "where schemaname like 'raw\\_%%'"):
        execute(database, f'drop index "{schema}"."{index}"')
    assert _btree_indexes(database) == {}
    again = load(database, str(clean_landing.root))
    assert again.exit_code == EXIT_OK and again.files == 0
    assert _btree_indexes(database) == _expected()
    assert query(database, "select count(*), max(_loaded_at) from raw_azureware.order_lines") == counts

    # idempotent: a set-up on complete tables changes nothing
    warehouse = PostgresWarehouse(database)
    try:
        assert warehouse._setup_needed(ALL_TABLES) is False
        warehouse.setup(ALL_TABLES)
    finally:
        warehouse.close()
    assert _btree_indexes(database) == _expected()


def test_all_versions_of_the_changed_keys_is_an_index_lookup(database, clean_landing):
    assert load(database, str(clean_landing.root)).exit_code == EXIT_OK
    execute(database, "analyze raw_azureware.order_lines")
    # what stg_azureware__order_lines does incrementally; with sequential scans priced out, the plan
    # shows whether an index can serve each side
    plan = "\n".join(r[0] for r in query(database, """
        set local enable_seqscan = off;
        explain
        select r.* from raw_azureware.order_lines r
        where r.orderlineid in (select orderlineid from raw_azureware.order_lines
                                where _loaded_at > now() at time zone 'utc' - interval '1 hour')
    """))
    assert "order_lines__loaded_at" in plan, plan
    assert "order_lines__key" in plan, plan
