{#- Reconciliation: every order key the WMS delivered (raw) resolves to exactly one staging row, and
    every non-deleted one appears exactly once in fct_orders, with no order there that staging does
    not hold alive. Returns the offending order ids with what went wrong. -#}
with

raw_orders as (

    select distinct orderid as order_id from {{ source('azureware', 'orders') }}

),

staged as (

    select
        order_id,
        is_deleted
    from {{ ref('stg_azureware__orders') }}

),

facts as (

    select
        order_id,
        count(*) as fact_rows
    from {{ ref('fct_orders') }}
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
