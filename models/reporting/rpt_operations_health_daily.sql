{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        dist='even',
        sort=['activity_date', 'client_id'],
        pre_hook="{{ unify.operations_health_prepare() }}",
    )
}}
{{ unify.postgres_indexes([{'columns': ['activity_date', 'client_id']}]) }}
{#- Operations Health dashboard: one row per client per warehouse per day, from the pair's first order
    day to the as-of day. Client-scoped (row-level security on client_id; QuickSight's rules on the text
    client_key), so an account manager sees only their clients' figures. Every measure is a count or a
    sum, so any set of clients, warehouses and days adds up exactly: percentages and averages are
    ratios of sums, computed by the dashboard query (OTIF % = otif_orders / due_orders). Backlog is
    cumulative created minus cumulative shipped (cancelled orders excluded). The OTIF target is the
    client's contract target for the month (int_client_monthly_contract_terms: the same target as
    fct_client_profitability_monthly's, read without that nightly-only mart), carried as "orders the
    target calls for" so the target of any selection is a ratio of sums too. fct_orders is read once,
    narrow, each kind of day an order counts on is aggregated on its own, and the month's target is
    joined to the aggregated due orders, not to every order.

    Incremental (macros/incremental/operations_health_incremental.sql): a run recomputes the rows from
    recompute_from on, the earliest day that the orders changed since the last run counted on before
    or count on now, or the previous as-of day, whichever is earlier (every row when the report's
    per-order state cannot vouch for it); the pre-hook deletes those rows and updates the earlier ones'
    target and names. Each pair's backlog carries on from its stored row of the day before. -#}
-- depends_on: {{ ref('stg_azureware__orders') }}
-- depends_on: {{ ref('dim_contract') }}
{%- set recompute_from = unify.operations_health_recompute_from() if is_incremental() else none %}
with

orders as (

    -- the columns the figures need (read four times: narrow rows keep PostgreSQL's materialised CTE small)
    select
        client_id,
        warehouse_id,
        created_date,
        is_cancelled,
        shipped_at,
        shipped_date,
        units_shipped,
        is_shipped_on_time,
        fulfilment_cycle_hours,
        promised_delivery_date,
        promised_month,
        is_otif,
        required_ship_by_at
    from {{ ref('fct_orders') }}
    {%- if recompute_from %}
    where
        created_date >= {{ recompute_from }}
        or shipped_date >= {{ recompute_from }}
        or promised_delivery_date >= {{ recompute_from }}
        or cast(required_ship_by_at as date) >= {{ recompute_from }}
    {%- endif %}

),

clients as (

    select * from {{ ref('dim_client') }}

),

warehouses as (

    select * from {{ ref('dim_warehouse') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

monthly_targets as (

    select * from {{ ref('int_client_monthly_contract_terms') }}
    {%- if recompute_from %}
    -- the months of the recomputed days (the month's client partition of the terms: only those are ranked)
    where ship_month >= cast({{ dbt.date_trunc('month', 'cast(' ~ recompute_from ~ ' as timestamp)') }} as date)
    {%- endif %}

),

as_of as (

    select cast({{ as_of_timestamp() }} as timestamp) as as_of_at

),

created as (

    -- every order counts on the day it was created; the backlog opens unless it was cancelled
    select
        client_id,
        warehouse_id,
        created_date as activity_date,
        count(*) as orders_created,
        sum(case when is_cancelled then 0 else 1 end) as orders_opened
    from orders
    where {{ unify.on_or_after('created_date', recompute_from) }}
    group by client_id, warehouse_id, created_date

),

shipped as (

    -- non-cancelled orders on the day they shipped (the backlog closes)
    select
        client_id,
        warehouse_id,
        shipped_date as activity_date,
        count(*) as orders_shipped,
        sum(units_shipped) as units_shipped,
        sum(case when is_shipped_on_time then 1 else 0 end) as orders_shipped_on_time,
        sum(fulfilment_cycle_hours) as fulfilment_hours_total
    from orders
    where
        not is_cancelled
        and shipped_date is not null
        and {{ unify.on_or_after('shipped_date', recompute_from) }}
    group by client_id, warehouse_id, shipped_date

),

due_orders as (

    -- non-cancelled orders on their promised day, when it is on or before the as-of day
    select
        orders.client_id,
        orders.warehouse_id,
        orders.promised_delivery_date as activity_date,
        orders.promised_month,
        count(*) as due_orders,
        sum(case when orders.is_otif then 1 else 0 end) as otif_orders
    from orders
    cross join as_of
    where
        not orders.is_cancelled
        and orders.promised_delivery_date <= cast(as_of.as_of_at as date)
        and {{ unify.on_or_after('orders.promised_delivery_date', recompute_from) }}
    group by orders.client_id, orders.warehouse_id, orders.promised_delivery_date, orders.promised_month

),

due as (

    -- the month's contract target joined to the few aggregated rows, not to every order: each of the
    -- day's due orders carries the client's target for the promised month
    select
        due_orders.client_id,
        due_orders.warehouse_id,
        due_orders.activity_date,
        due_orders.due_orders,
        due_orders.otif_orders,
        case when monthly_targets.otif_target_pct is not null then due_orders.due_orders else 0 end
            as due_orders_with_target,
        due_orders.due_orders * (monthly_targets.otif_target_pct / 100.0) as otif_target_orders
    from due_orders
    left join monthly_targets
        on
            due_orders.client_id = monthly_targets.client_id
            and due_orders.promised_month = monthly_targets.ship_month

),

breaches as (

    -- orders whose ship-by deadline fell on the day and that shipped late or are still open past it
    select
        orders.client_id,
        orders.warehouse_id,
        cast(orders.required_ship_by_at as date) as activity_date,
        count(*) as sla_breaches
    from orders
    cross join as_of
    where
        not orders.is_cancelled
        and (
            orders.shipped_at > orders.required_ship_by_at
            or (orders.shipped_at is null and orders.required_ship_by_at < as_of.as_of_at)
        )
        and {{ unify.on_or_after('cast(orders.required_ship_by_at as date)', recompute_from) }}
    group by orders.client_id, orders.warehouse_id, cast(orders.required_ship_by_at as date)

),

{% if recompute_from -%}
previous_day as (

    -- each pair's row of the day before the recomputed days (kept: only later rows were deleted); a pair
    -- that has one started before them, and its backlog carries on from it
    select
        client_id,
        warehouse_id,
        backlog_orders
    from {{ this }}
    where activity_date = {{ dbt.dateadd('day', -1, recompute_from) }}

),

{% endif -%}
client_warehouses as (

    -- each client's first order day in each warehouse (incremental: recompute_from for pairs begun earlier)
    select
        client_id,
        warehouse_id,
        min(first_date) as first_date
    from (
        select
            client_id,
            warehouse_id,
            min(activity_date) as first_date
        from created
        group by client_id, warehouse_id
        {%- if recompute_from %}

        union all

        select
            client_id,
            warehouse_id,
            {{ recompute_from }} as first_date
        from previous_day
        {%- endif %}
    ) as first_days
    group by client_id, warehouse_id

),

spine as (

    select
        client_warehouses.client_id,
        client_warehouses.warehouse_id,
        dates.date_day as activity_date
    from client_warehouses
    cross join as_of
    inner join dates
        on
            client_warehouses.first_date <= dates.date_day
            and cast(as_of.as_of_at as date) >= dates.date_day

),

combined as (

    select
        spine.client_id,
        spine.warehouse_id,
        spine.activity_date,
        coalesce(created.orders_created, 0) as orders_created,
        coalesce(shipped.orders_shipped, 0) as orders_shipped,
        coalesce(shipped.units_shipped, 0) as units_shipped,
        coalesce(shipped.orders_shipped_on_time, 0) as orders_shipped_on_time,
        coalesce(shipped.fulfilment_hours_total, 0) as fulfilment_hours_total,
        coalesce(due.due_orders, 0) as due_orders,
        coalesce(due.otif_orders, 0) as otif_orders,
        coalesce(due.due_orders_with_target, 0) as due_orders_with_target,
        coalesce(due.otif_target_orders, 0) as otif_target_orders,
        coalesce(breaches.sla_breaches, 0) as sla_breaches,
        sum(coalesce(created.orders_opened, 0) - coalesce(shipped.orders_shipped, 0)) over (
            partition by spine.client_id, spine.warehouse_id
            order by spine.activity_date
            rows between unbounded preceding and current row
        ) + {{ 'coalesce(previous_day.backlog_orders, 0)' if recompute_from else '0' }} as backlog_orders
    from spine
    left join created
        on
            spine.client_id = created.client_id
            and spine.warehouse_id = created.warehouse_id
            and spine.activity_date = created.activity_date
    left join shipped
        on
            spine.client_id = shipped.client_id
            and spine.warehouse_id = shipped.warehouse_id
            and spine.activity_date = shipped.activity_date
    left join due
        on
            spine.client_id = due.client_id
            and spine.warehouse_id = due.warehouse_id
            and spine.activity_date = due.activity_date
    left join breaches
        on
            spine.client_id = breaches.client_id
            and spine.warehouse_id = breaches.warehouse_id
            and spine.activity_date = breaches.activity_date
    {%- if recompute_from %}
    left join previous_day
        on
            spine.client_id = previous_day.client_id
            and spine.warehouse_id = previous_day.warehouse_id
    {%- endif %}

),

current_clients as (

    select *
    from clients
    where is_current

),

final as (

    select
        cast(combined.client_id as integer) as client_id,
        cast(combined.warehouse_id as integer) as warehouse_id,
        cast(combined.activity_date as date) as activity_date,
        cast(cast(combined.client_id as integer) as varchar(11)) as client_key,
        cast(current_clients.client_code as varchar(80)) as client_code,
        cast(current_clients.client_name as varchar(800)) as client_name,
        cast(warehouses.warehouse_code as varchar(64)) as warehouse_code,
        cast(warehouses.warehouse_name as varchar(400)) as warehouse_name,
        cast(warehouses.region as varchar(32)) as region,
        cast(combined.orders_created as integer) as orders_created,
        cast(combined.orders_shipped as integer) as orders_shipped,
        cast(combined.units_shipped as bigint) as units_shipped,
        cast(combined.backlog_orders as integer) as backlog_orders,
        cast(combined.due_orders as integer) as due_orders,
        cast(combined.otif_orders as integer) as otif_orders,
        cast(combined.due_orders_with_target as integer) as due_orders_with_target,
        cast(combined.otif_target_orders as numeric(18, 4)) as otif_target_orders,
        cast(combined.orders_shipped_on_time as integer) as orders_shipped_on_time,
        cast(combined.sla_breaches as integer) as sla_breaches,
        cast(combined.fulfilment_hours_total as numeric(18, 4)) as fulfilment_hours_total
    from combined
    inner join warehouses
        on combined.warehouse_id = warehouses.warehouse_id
    left join current_clients
        on combined.client_id = current_clients.client_id

)

select * from final
