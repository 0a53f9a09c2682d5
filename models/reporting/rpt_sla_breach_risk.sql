{{ config(dist='even', sort=['required_ship_by_at']) }}
{{ unify.postgres_indexes([{'columns': ['required_ship_by_at', 'order_id']}]) }}
{#- One row per open order breached or due to ship within 4 hours of "now" (the build time). A table,
    rebuilt by every load cycle (WMS: every 15 minutes); evaluated_at tells how fresh "now" is. The
    dashboard lists only the most urgent (ordered by the deadline: the index, or the sort key on
    Redshift, gives them without a sort of the whole list) and counts the rest from
    rpt_sla_breach_risk_summary. -#}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

warehouses as (

    select * from {{ ref('dim_warehouse') }}

),

clients as (

    select * from {{ ref('dim_client') }}

),

as_of as (

    select cast({{ as_of_timestamp() }} as timestamp) as as_of_at

),

open_orders as (

    select
        orders.*,
        as_of.as_of_at
    from orders
    cross join as_of
    where
        orders.shipped_at is null
        and not orders.is_cancelled
        and orders.required_ship_by_at < {{ dbt.dateadd('hour', 4, 'as_of.as_of_at') }}

),

final as (

    select
        cast(open_orders.order_id as bigint) as order_id,
        cast(open_orders.order_number as varchar(128)) as order_number,
        cast(open_orders.client_id as integer) as client_id,
        cast(cast(open_orders.client_id as integer) as varchar(11)) as client_key,
        cast(clients.client_code as varchar(80)) as client_code,
        cast(clients.client_name as varchar(800)) as client_name,
        cast(open_orders.warehouse_id as integer) as warehouse_id,
        cast(warehouses.warehouse_code as varchar(64)) as warehouse_code,
        cast(open_orders.order_status as varchar(16)) as order_status,
        cast(open_orders.order_priority as varchar(16)) as order_priority,
        cast(open_orders.created_at as timestamp) as created_at,
        cast(open_orders.required_ship_by_at as timestamp) as required_ship_by_at,
        cast(
            case when open_orders.required_ship_by_at < open_orders.as_of_at then 'BREACHED' else 'AT_RISK' end
            as varchar(8)
        ) as risk_status,
        cast({{ hours_between('open_orders.as_of_at', 'open_orders.required_ship_by_at') }} as numeric(12, 2))
            as hours_to_deadline,
        cast(open_orders.as_of_at as timestamp) as evaluated_at
    from open_orders
    left join warehouses
        on open_orders.warehouse_id = warehouses.warehouse_id
    left join clients
        on open_orders.client_id = clients.client_id and clients.is_current

)

select * from final
