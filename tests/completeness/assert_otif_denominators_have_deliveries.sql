{#- Completeness across sources: a client-month of OTIF (orders due by "now", promised in that month,
    cancelled excluded) with at least var completeness_min_due_orders (default 3) due orders has at
    least one delivered order. Returns each client-month with due orders and zero delivered. Failing
    means OTIF would print 0% because deliveries (TMS shipments) are missing, not because the client
    was served late. -#}
{%- set min_due = var('completeness_min_due_orders', 3) | int %}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select cast({{ as_of_timestamp() }} as date) as as_of_date

),

client_months as (

    select
        orders.client_id,
        orders.promised_month,
        count(*) as due_orders,
        sum(case when orders.is_delivered then 1 else 0 end) as delivered_orders
    from orders
    cross join as_of
    where
        not orders.is_cancelled
        and orders.promised_delivery_date <= as_of.as_of_date
    group by orders.client_id, orders.promised_month

)

select
    client_id,
    promised_month,
    due_orders,
    delivered_orders
from client_months
where
    due_orders >= {{ min_due }}
    and delivered_orders = 0
