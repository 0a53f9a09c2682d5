{#- Completeness across sources: every day of the last var completeness_window_days (default 28) on
    which the WMS shipped orders has TMS shipments collected that day, once the day's TMS extract is due
    (the day ended at least var completeness_tms_lag_hours, default 6, before "now"). Returns each day
    with shipped orders and no shipment at all. Failing means a day's TMS extract is missing (or was
    quarantined): OTIF and freight for that day's orders would silently read zero. -#}
{%- set window_days = var('completeness_window_days', 28) | int %}
{%- set lag_hours = var('completeness_tms_lag_hours', 6) | int %}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

shipments as (

    -- every shipment the TMS delivered, whether or not its order has arrived
    select * from {{ ref('stg_tms__shipments') }}

),

as_of as (

    select
        cast({{ dbt.dateadd('day', -1 * window_days, as_of_timestamp()) }} as date) as window_start_date,
        -- a day is judged once its extract is due: it ended at least lag_hours ago
        cast({{ dbt.dateadd('hour', -1 * lag_hours, as_of_timestamp()) }} as date) as first_open_date

),

shipping_days as (

    select
        orders.shipped_date,
        count(*) as shipped_orders
    from orders
    cross join as_of
    where
        orders.is_shipped
        and not orders.is_cancelled
        and orders.shipped_date >= as_of.window_start_date
        and orders.shipped_date < as_of.first_open_date
    group by orders.shipped_date

),

tms_days as (

    select
        cast(shipments.shipped_at as date) as shipped_date,
        count(*) as shipments
    from shipments
    cross join as_of
    where shipments.shipped_at >= as_of.window_start_date
    group by cast(shipments.shipped_at as date)

)

select
    shipping_days.shipped_date,
    shipping_days.shipped_orders
from shipping_days
left join tms_days
    on shipping_days.shipped_date = tms_days.shipped_date
where tms_days.shipped_date is null
