{#- Reconciliation: every order key the WMS delivered (raw) resolves to exactly one staging row, and
    every non-deleted one appears exactly once in fct_orders, with no order there that staging does
    not hold alive. Returns the offending order ids with what went wrong. The frequent cycle (var
    test_window_hours set) checks the orders with a raw row loaded within the window, through the
    tables' key indexes; the nightly build checks every order. -#}
{%- set window_start = unify.test_window_start(source('azureware', 'orders'), '_loaded_at') %}
with

raw_orders as (

    select distinct orderid as order_id
    from {{ source('azureware', 'orders') }}
    {%- if window_start %}
    where _loaded_at >= {{ window_start }}
    {%- endif %}

),

staged as (

    select
        order_id,
        is_deleted
    from {{ ref('stg_azureware__orders') }}
    {%- if window_start %}
    where order_id in (select raw_orders.order_id from raw_orders)
    {%- endif %}

),

facts as (

    select
        order_id,
        count(*) as fact_rows
    from {{ ref('fct_orders') }}
    {%- if window_start %}
    where order_id in (select raw_orders.order_id from raw_orders)
    {%- endif %}
    group by order_id

),

problems as (

    select
        coalesce(raw_orders.order_id, staged.order_id, facts.order_id) as order_id,
        case
            when staged.order_id is null then 'delivered by the source but missing in staging'
            when raw_orders.order_id is null then 'in staging but never delivered'
            when not staged.is_deleted and facts.order_id is null then 'live order missing in fct_orders'
            when staged.is_deleted and facts.order_id is not null then 'deleted order still in fct_orders'
            when facts.fact_rows > 1 then 'order more than once in fct_orders'
        end as problem
    from raw_orders
    full outer join staged
        on raw_orders.order_id = staged.order_id
    full outer join facts
        on coalesce(raw_orders.order_id, staged.order_id) = facts.order_id

)

select
    order_id,
    problem
from problems
where problem is not null
