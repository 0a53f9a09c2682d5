{{ config(dist='even', sort=['activity_date', 'warehouse_id']) }}
{#- Operations Health dashboard: one row per warehouse per day from the first order's day to the
    as-of day. Backlog is cumulative created minus cumulative shipped (cancelled orders excluded). -#}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

warehouses as (

    select * from {{ ref('dim_warehouse') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

as_of as (

    select cast({{ as_of_timestamp() }} as timestamp) as as_of_at

),

live_orders as (

    select orders.*
    from orders
    where not orders.is_cancelled

),

spine as (

    select
        warehouses.warehouse_id,
        dates.date_day as activity_date
    from warehouses
    cross join dates
    where
        dates.date_day >= (select min(created_date) from orders)
        and dates.date_day <= (select cast(as_of_at as date) from as_of)

),

created as (

    select
        warehouse_id,
        created_date as activity_date,
        count(*) as orders_created
    from orders
    group by warehouse_id, created_date

),

shipped as (

    select
        warehouse_id,
        shipped_date as activity_date,
        count(*) as orders_shipped,
        sum(units_shipped) as units_shipped,
        sum(case when is_shipped_on_time then 1 else 0 end) as orders_shipped_on_time,
        percentile_cont(0.5) within group (order by fulfilment_cycle_hours) as fulfilment_hours_p50,
        percentile_cont(0.9) within group (order by fulfilment_cycle_hours) as fulfilment_hours_p90
    from live_orders
    where shipped_date is not null
    group by warehouse_id, shipped_date

),

due as (

    select
        warehouse_id,
        promised_delivery_date as activity_date,
        count(*) as due_orders,
        sum(case when is_otif then 1 else 0 end) as otif_orders
    from live_orders
    where promised_delivery_date <= (select cast(as_of_at as date) from as_of)
    group by warehouse_id, promised_delivery_date

),

breaches as (

    -- orders whose ship-by deadline fell on the day and that shipped late or are still open past it
    select
        live_orders.warehouse_id,
        cast(live_orders.required_ship_by_at as date) as activity_date,
        count(*) as sla_breaches
    from live_orders
    cross join as_of
    where
        live_orders.shipped_at > live_orders.required_ship_by_at
        or (live_orders.shipped_at is null and live_orders.required_ship_by_at < as_of.as_of_at)
    group by live_orders.warehouse_id, cast(live_orders.required_ship_by_at as date)

),

live_flow as (

    select
        warehouse_id,
        created_date as activity_date,
        1 as opened,
        0 as closed
    from live_orders

    union all

    select
        warehouse_id,
        shipped_date as activity_date,
        0 as opened,
        1 as closed
    from live_orders
    where shipped_date is not null

),

daily_flow as (

    select
        warehouse_id,
        activity_date,
        sum(opened) as opened,
        sum(closed) as closed
    from live_flow
    group by warehouse_id, activity_date

),

combined as (

    select
        spine.warehouse_id,
        spine.activity_date,
        coalesce(created.orders_created, 0) as orders_created,
        coalesce(shipped.orders_shipped, 0) as orders_shipped,
        coalesce(shipped.units_shipped, 0) as units_shipped,
        coalesce(shipped.orders_shipped_on_time, 0) as orders_shipped_on_time,
        shipped.fulfilment_hours_p50,
        shipped.fulfilment_hours_p90,
        coalesce(due.due_orders, 0) as due_orders,
        coalesce(due.otif_orders, 0) as otif_orders,
        coalesce(breaches.sla_breaches, 0) as sla_breaches,
        sum(coalesce(daily_flow.opened, 0) - coalesce(daily_flow.closed, 0)) over (
            partition by spine.warehouse_id
            order by spine.activity_date
            rows between unbounded preceding and current row
        ) as backlog_orders
    from spine
    left join created
        on spine.warehouse_id = created.warehouse_id and spine.activity_date = created.activity_date
    left join shipped
        on spine.warehouse_id = shipped.warehouse_id and spine.activity_date = shipped.activity_date
    left join due
        on spine.warehouse_id = due.warehouse_id and spine.activity_date = due.activity_date
    left join breaches
        on spine.warehouse_id = breaches.warehouse_id and spine.activity_date = breaches.activity_date
    left join daily_flow
        on spine.warehouse_id = daily_flow.warehouse_id and spine.activity_date = daily_flow.activity_date

),

final as (

    select
        cast(combined.warehouse_id as integer) as warehouse_id,
        cast(combined.activity_date as date) as activity_date,
        cast(warehouses.warehouse_code as varchar(64)) as warehouse_code,
        cast(warehouses.warehouse_name as varchar(400)) as warehouse_name,
        cast(warehouses.country_code as char(2)) as country_code,
        cast(warehouses.region as varchar(32)) as region,
        cast(combined.orders_created as integer) as orders_created,
        cast(combined.orders_shipped as integer) as orders_shipped,
        cast(combined.units_shipped as bigint) as units_shipped,
        cast(combined.backlog_orders as integer) as backlog_orders,
        cast(combined.due_orders as integer) as due_orders,
        cast(combined.otif_orders as integer) as otif_orders,
        cast(
            case when combined.due_orders > 0 then round(100.0 * combined.otif_orders / combined.due_orders, 2) end
            as numeric(7, 2)
        ) as otif_pct,
        cast(combined.orders_shipped_on_time as integer) as orders_shipped_on_time,
        cast(
            case
                when combined.orders_shipped > 0
                    then round(100.0 * combined.orders_shipped_on_time / combined.orders_shipped, 2)
            end as numeric(7, 2)
        ) as shipped_on_time_pct,
        cast(combined.sla_breaches as integer) as sla_breaches,
        cast(combined.fulfilment_hours_p50 as numeric(12, 4)) as fulfilment_hours_p50,
        cast(combined.fulfilment_hours_p90 as numeric(12, 4)) as fulfilment_hours_p90
    from combined
    inner join warehouses
        on combined.warehouse_id = warehouses.warehouse_id

)

select * from final
