{#- rpt_operations_health_daily's incremental runs (docs/warehouse-model.md, "Incremental models"). A run
    deletes and recomputes the report's rows from one day on, "recompute_from": every row before it is
    what a full build would give, except the month's OTIF target and the client and warehouse names,
    which the pre-hook brings up to date in place. An order counts on its created, shipped, promised
    and ship-by days, all on or after its earliest day (order_earliest_activity_date_sql), so the rows a
    changed order touches (before and after the change) are those from its earliest days on. The days
    an order counted on before the change are no longer in fct_orders: the report keeps them in its
    own per-order state table (operations_health_state), written in the report's transaction, so the
    state always describes what the report holds. -#}

{#- The report's per-order state: order_id, the fct_orders version's source_loaded_at and earliest day,
    and the contracts fingerprint the report's targets were computed with. In this target's
    intermediate schema (the transformer's working layer: readable by the transformer role, as the
    intermediate models are, and by no reader; created if a deferred build has none), named after the
    report. -#}
{% macro operations_health_state() -%}
    {#- this target's intermediate schema, never a ref: with --defer a ref can name production's -#}
    {{ return(api.Relation.create(database=this.database, schema=generate_schema_name('intermediate', model) | trim,
                                  identifier='rpt_operations_health_daily__order_days', type='table')) }}
{%- endmacro %}

{#- The earliest day an order counts on in the report: its created, shipped, promised delivery and
    RequiredShipBy days (a missing one never counts; all missing: 9999-12-31, a day no row has). -#}
{% macro order_earliest_activity_date_sql() -%}
    {%- set days = ['created_date', 'shipped_date', 'promised_delivery_date', 'cast(required_ship_by_at as date)'] -%}
    {%- set parts = [] -%}
    {%- for day in days -%}
        {%- do parts.append("coalesce(" ~ day ~ ", cast('9999-12-31' as date))") -%}
    {%- endfor -%}
    least({{ parts | join(', ') }})
{%- endmacro %}

{#- The first day an incremental run recomputes, as a SQL date: the earliest day of every order changed
    since the state's mark (its new version in fct_orders, its previous one in the state, and the
    previous one of orders deleted in the WMS), and no later than the report's last day (the previous
    as-of day: due orders and open orders' breaches move with the as-of time) nor the as-of day.
    None (every row is recomputed) when the state cannot vouch for the report: it is missing, was
    computed with other contracts (every month's target may differ), the report is empty, or a
    warehouse with orders has no row yet (dim_warehouse gained it: its earlier days appear). Read once
    while the model compiles and again when its pre-hook renders (the same answer: nothing writes in
    between), as a literal; a scalar subquery when nothing can be read (the offline Redshift gate). -#}
{% macro operations_health_recompute_from() -%}
    {%- set state = unify.operations_health_state() -%}
    {%- set offline = not execute or model.resource_type == 'unit_test'
        or var('unify_gate_is_incremental', none) is not none -%}
    {%- if not offline and adapter.get_relation(state.database, state.schema, state.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set cutoff = unify.newest_minus(state, 'source_loaded_at', var('incremental_lookback_minutes'), 'minute') -%}
    {%- set recompute_from -%}
        (
            select case
                when
                    {{ unify.contract_terms_differ_sql(state) }}
                    or (select max(activity_date) from {{ this }}) is null
                    or exists (
                        select 1
                        from {{ ref('dim_warehouse') }} as warehouses
                        where
                            not exists (select 1 from {{ this }} as report where report.warehouse_id = warehouses.warehouse_id)
                            and exists (
                                select 1 from {{ ref('fct_orders') }} as orders where orders.warehouse_id = warehouses.warehouse_id
                            )
                    )
                    then null
                else least(
                    coalesce((
                        select min({{ unify.order_earliest_activity_date_sql() }})
                        from {{ ref('fct_orders') }}
                        where source_loaded_at > {{ cutoff }}
                    ), cast('9999-12-31' as date)),
                    coalesce((
                        select min(earliest_activity_date)
                        from {{ state }}
                        where order_id in ({{ unify.orders_changed_since(cutoff) }})
                    ), cast('9999-12-31' as date)),
                    (select max(activity_date) from {{ this }}),
                    cast({{ unify.as_of_timestamp() }} as date)
                )
            end
        )
    {%- endset -%}
    {%- if offline -%}
        {{ return(recompute_from) }}
    {%- endif -%}
    {%- set value = run_query('select ' ~ recompute_from).rows[0][0] -%}
    {{ return(none if value is none else "cast('" ~ value.strftime('%Y-%m-%d') ~ "' as date)") }}
{%- endmacro %}

{#- The report's pre-hook, one rendering (recompute_from and the state's mark read once, before any of
    it runs), in the report's transaction. An incremental run deletes the rows from recompute_from on,
    brings the earlier rows of that month up to the month's target, the earlier rows' client and
    warehouse names up to the dimensions' current ones (writing only rows that differ), and removes the
    rows of warehouses dim_warehouse no longer holds (as a full build's inner join would). Then the
    state follows fct_orders: the changed orders' rows are replaced (and WMS-deleted orders' removed),
    or, when the report is built in full or the state cannot vouch for it, the state is rebuilt. -#}
{% macro operations_health_prepare() -%}
    {%- set state = unify.operations_health_state() -%}
    {%- set state_exists = adapter.get_relation(state.database, state.schema, state.identifier) is not none -%}
    {%- set incremental = is_incremental() -%}
    {%- set recompute_from = unify.operations_health_recompute_from() if incremental else none -%}
    {%- if incremental and recompute_from is none %}
        delete from {{ this }};
    {%- elif incremental -%}
        {%- set month_start = "cast(" ~ dbt.date_trunc('month', 'cast(' ~ recompute_from ~ ' as timestamp)') ~ " as date)" -%}
        delete from {{ this }} where activity_date >= {{ recompute_from }};

        update {{ this }} as report
        set
            due_orders_with_target = targets.due_orders_with_target,
            otif_target_orders = targets.otif_target_orders
        from (
            select
                month_rows.client_id,
                month_rows.warehouse_id,
                month_rows.activity_date,
                cast(case when terms.otif_target_pct is not null then month_rows.due_orders else 0 end as integer)
                    as due_orders_with_target,
                cast(coalesce(month_rows.due_orders * (terms.otif_target_pct / 100.0), 0) as numeric(18, 4))
                    as otif_target_orders
            from {{ this }} as month_rows
            left join {{ ref('int_client_monthly_contract_terms') }} as terms
                on
                    month_rows.client_id = terms.client_id
                    and terms.ship_month = {{ month_start }}
            where month_rows.activity_date >= {{ month_start }} and month_rows.activity_date < {{ recompute_from }}
        ) as targets
        where
            report.client_id = targets.client_id
            and report.warehouse_id = targets.warehouse_id
            and report.activity_date = targets.activity_date
            and not (
                report.due_orders_with_target = targets.due_orders_with_target
                and report.otif_target_orders = targets.otif_target_orders
            );

        update {{ this }} as report
        set
            client_code = names.client_code,
            client_name = names.client_name
        from (
            select
                report_clients.client_id,
                cast(clients.client_code as varchar(80)) as client_code,
                cast(clients.client_name as varchar(800)) as client_name
            from (select distinct client_id from {{ this }}) as report_clients
            left join {{ ref('dim_client') }} as clients
                on report_clients.client_id = clients.client_id and clients.is_current
        ) as names
        where
            report.client_id = names.client_id
            and not (
                {{ unify.same_or_both_null('report.client_code', 'names.client_code') }}
                and {{ unify.same_or_both_null('report.client_name', 'names.client_name') }}
            );

        update {{ this }} as report
        set
            warehouse_code = names.warehouse_code,
            warehouse_name = names.warehouse_name,
            region = names.region
        from (
            select
                warehouse_id,
                cast(warehouse_code as varchar(64)) as warehouse_code,
                cast(warehouse_name as varchar(400)) as warehouse_name,
                cast(region as varchar(32)) as region
            from {{ ref('dim_warehouse') }}
        ) as names
        where
            report.warehouse_id = names.warehouse_id
            and not (
                {{ unify.same_or_both_null('report.warehouse_code', 'names.warehouse_code') }}
                and {{ unify.same_or_both_null('report.warehouse_name', 'names.warehouse_name') }}
                and {{ unify.same_or_both_null('report.region', 'names.region') }}
            );

        delete from {{ this }} where warehouse_id not in (select warehouse_id from {{ ref('dim_warehouse') }});
    {%- endif %}

    {% set state_rows -%}
        select
            order_id,
            source_loaded_at,
            {{ unify.order_earliest_activity_date_sql() }} as earliest_activity_date,
            {{ unify.contract_terms_fingerprint_sql() }} as contracts_fingerprint
        from {{ ref('fct_orders') }}
    {%- endset -%}
    {%- if incremental and state_exists and not unify.contract_terms_changed(state) -%}
        {%- set cutoff = unify.newest_minus(state, 'source_loaded_at', var('incremental_lookback_minutes'), 'minute') -%}
        delete from {{ state }}
        where order_id in ({{ unify.orders_changed_since(cutoff) }});

        insert into {{ state }} (order_id, source_loaded_at, earliest_activity_date, contracts_fingerprint)
        {{ state_rows }}
        where source_loaded_at > {{ cutoff }};
    {%- else -%}
        create schema if not exists {{ adapter.quote(state.schema) }};
        drop table if exists {{ state }};
        {{ unify.create_keyed_table_as(state, 'order_id', 'source_loaded_at', state_rows) }}
        grant select on {{ state }} to {{ unify.access_role_grantee(var('access_transformer_role')) }};
    {%- endif -%}
{%- endmacro %}

{#- `<column> >= <day>`, or `true` when day is none (every day). -#}
{% macro on_or_after(column, day) -%}
    {{ column ~ ' >= ' ~ day if day else 'true' }}
{%- endmacro %}

{#- `a = b`, or both null (Redshift has no IS NOT DISTINCT FROM). -#}
{% macro same_or_both_null(a, b) -%}
    ({{ a }} = {{ b }} or ({{ a }} is null and {{ b }} is null))
{%- endmacro %}

{#- `create table <relation> as <sql>` for lookups by `key` and for its high-water mark `mark` (max),
    statements ending in `;`. Dispatched: PostgreSQL indexes both (the key unique) and analyzes the
    table; Redshift distributes on the key and sorts on the mark. -#}
{% macro create_keyed_table_as(relation, key, mark, sql) -%}
    {{ return(adapter.dispatch('create_keyed_table_as', 'unify')(relation, key, mark, sql)) }}
{%- endmacro %}

{% macro redshift__create_keyed_table_as(relation, key, mark, sql) -%}
    create table {{ relation }} distkey ({{ key }}) sortkey ({{ mark }}) as
    {{ sql }};
{%- endmacro %}

{% macro postgres__create_keyed_table_as(relation, key, mark, sql) -%}
    create table {{ relation }} as
    {{ sql }};
    create unique index on {{ relation }} ({{ key }});
    create index on {{ relation }} ({{ mark }});
    analyze {{ relation }};
{%- endmacro %}

{% macro default__create_keyed_table_as(relation, key, mark, sql) -%}
    create table {{ relation }} as
    {{ sql }};
{%- endmacro %}
