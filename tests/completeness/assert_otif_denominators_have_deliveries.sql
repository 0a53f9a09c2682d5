{#- Completeness across sources: a client-month of OTIF (due orders, cancelled excluded, by month of
    promised date) with at least var completeness_min_due_orders (default 3) orders that should have
    been delivered by now has at least one of them delivered. "Should have been": promised at least
    var completeness_delivery_grace_days (default 2: a delivery on the promised day reaches the next
    day's TMS extract) before "now", and no later than the newest day the TMS has delivered data for
    (when all feeds stopped together, the days after it are freshness's to report; with no TMS data at
    all, every due order counts). Returns each such client-month with no delivery at all, and, whatever
    its size, each client-month whose due orders the WMS shipped have not one TMS shipment among them (a
    small client's month is no less wrong at 0%). Failing means OTIF would print 0% because deliveries
    (TMS shipments) are missing, not because the client was served late. -#}
{%- set min_due = var('completeness_min_due_orders', 3) | int %}
{%- set grace_days = var('completeness_delivery_grace_days', 2) | int %}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

shipments as (

    select * from {{ ref('stg_tms__shipments') }}

),

tms_data as (

    select cast(max(updated_at) as date) as newest_tms_date
    from shipments

),

cutoff as (

    select
        case
            when tms_data.newest_tms_date < cast({{ dbt.dateadd('day', -1 * grace_days, as_of_timestamp()) }} as date)
                then tms_data.newest_tms_date
            else cast({{ dbt.dateadd('day', -1 * grace_days, as_of_timestamp()) }} as date)
        end as last_promised_date
    from tms_data

),

client_months as (

    select
        orders.client_id,
        orders.promised_month,
        count(*) as due_orders,
        sum(case when orders.is_delivered then 1 else 0 end) as delivered_orders,
        sum(case when orders.shipped_at is not null then 1 else 0 end) as shipped_orders,
        sum(case when orders.shipment_count > 0 then 1 else 0 end) as orders_with_shipment
    from orders
    cross join cutoff
    where
        not orders.is_cancelled
        and orders.promised_delivery_date <= cutoff.last_promised_date
    group by orders.client_id, orders.promised_month

)

select
    client_id,
    promised_month,
    due_orders,
    delivered_orders,
    shipped_orders,
    orders_with_shipment
from client_months
where
    (due_orders >= {{ min_due }} and delivered_orders = 0)
    or (shipped_orders > 0 and orders_with_shipment = 0)
