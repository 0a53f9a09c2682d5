{#- Completeness across sources: of the orders the WMS shipped on a day that ended at least
    var completeness_shipment_grace_days (default 3: late TMS shipments arrive 2-3 days after they
    ship) before "now" and within the last var completeness_window_days (default 28), at most the
    share var completeness_max_orders_without_shipment_share (default 0.05) may still have no TMS
    shipment. Returns each ship day above it. Failing means TMS shipments are missing: OTIF would
    count those orders as never delivered and profitability would lose their freight. -#}
{%- set window_days = var('completeness_window_days', 28) | int %}
{%- set grace_days = var('completeness_shipment_grace_days', 3) | int %}
{%- set max_share = var('completeness_max_orders_without_shipment_share', 0.05) %}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select {{ as_of_timestamp() }} as as_of_at

),

ship_days as (

    select
        orders.shipped_date,
        count(*) as shipped_orders,
        sum(case when orders.shipment_count = 0 then 1 else 0 end) as orders_without_shipment
    from orders
    cross join as_of
    where
        orders.is_shipped
        and not orders.is_cancelled
        -- whole days only: a day is judged once it ended grace_days ago (just after midnight, the
        -- newest day would otherwise be its first minutes: a handful of orders, judged as a day)
        and orders.shipped_date >= cast({{ dbt.dateadd('day', -1 * window_days, 'as_of.as_of_at') }} as date)
        and orders.shipped_date < cast({{ dbt.dateadd('day', -1 * grace_days, 'as_of.as_of_at') }} as date)
    group by orders.shipped_date

)

select
    shipped_date,
    shipped_orders,
    orders_without_shipment
from ship_days
where orders_without_shipment > {{ max_share }} * shipped_orders
