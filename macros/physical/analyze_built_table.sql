{#- A post-hook on every model and snapshot: refreshes the planner statistics of the table it just built.
    PostgreSQL (the local warehouse) collects none when `create table as` or delete+insert writes a table;
    autovacuum only catches up later, so the next model in the same `dbt build` is planned on a table it
    believes empty or unchanged. At scale that turns joins over fresh staging tables into nested loops
    that rescan a materialised CTE (fct_orders over 4.5M order lines: many minutes instead of seconds).
    Redshift analyzes a table created by CREATE TABLE AS itself and runs automatic analyze after loads:
    nothing to do there. Views have no statistics of their own: nothing to do either. -#}
{% macro analyze_built_table() -%}
    {{ return(adapter.dispatch('analyze_built_table', 'unify')()) }}
{%- endmacro %}

{#- On a row-secured table (meta rls_client_column) the columns that name a client (unify.statistics_free_columns)
    get no statistics first: PostgreSQL's planner uses a column's statistics for a reader's predicate
    through leakproof operators such as `=` even under row-level security, so `EXPLAIN ... where
    client_id = 13` estimated that client's rows for a reader who may see none of them
    (docs/access-control.md, "Statistics"). -#}
{#- A model whose yml sets `meta: {analyze_after_build: false}` is left to autovacuum's analyze: a table its
    readers read whole (no filter whose rows the planner must estimate), built incrementally, where
    ANALYZE's sample of every column would cost more than the run (int_orders_contract_in_force: 0.37 s
    of 0.8 s at the large bench scale, for 2% new rows). -#}
{% macro postgres__analyze_built_table() -%}
    {%- set skipped = (config.get('meta') or {}).get('analyze_after_build') == false -%}
    {%- if config.get('materialized') in ('table', 'incremental', 'snapshot') and not skipped -%}
        {{ unify.statistics_free_columns_sql(this) }}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- dbt-redshift dispatches to postgres__ when no redshift__ exists: this one keeps ANALYZE off Redshift. -#}
{% macro redshift__analyze_built_table() -%}
{%- endmacro %}

{% macro default__analyze_built_table() -%}
{%- endmacro %}
