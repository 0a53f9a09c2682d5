{{ config(dist='even', sort=['activity_date', 'client_id']) }}
{{ unify.postgres_indexes([{'columns': ['activity_date', 'client_id']}]) }}
{#- Operations Health dashboard, carrier on-time share: one row per client, warehouse, carrier and
    promised delivery day, over the shipments of due orders (promised on or before the as-of day, not
    cancelled), like OTIF. A shipment is on time when it was delivered on or before its order's
    promised delivery date (the domain's one meaning of "on time", applied per shipment); one still
    undelivered after that date is not. Counts only, so any selection adds up exactly. -#}
with

shipments as (

    select * from {{ ref('fct_shipments') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

carriers as (

    select * from {{ ref('dim_carrier') }}

),

clients as (

    select * from {{ ref('dim_client') }}

),

warehouses as (

    select * from {{ ref('dim_warehouse') }}

),

as_of as (

    select cast({{ as_of_timestamp() }} as timestamp) as as_of_at

),

due_shipments as (

    select
        orders.client_id,
        orders.warehouse_id,
        shipments.carrier_id,
        orders.promised_delivery_date as activity_date,
        case
            when
                shipments.delivered_at is not null
                and cast(shipments.delivered_at as date) <= orders.promised_delivery_date
                then 1
            else 0
        end as is_on_time
    from shipments
    inner join orders
        on shipments.order_id = orders.order_id
    cross join as_of
    where
        not orders.is_cancelled
        and orders.promised_delivery_date <= cast(as_of.as_of_at as date)

),

daily as (

    select
        client_id,
        warehouse_id,
        carrier_id,
        activity_date,
        count(*) as due_shipments,
        sum(is_on_time) as on_time_shipments
    from due_shipments
    group by client_id, warehouse_id, carrier_id, activity_date

),

current_clients as (

    select *
    from clients
    where is_current

),

final as (

    select
        cast(daily.client_id as integer) as client_id,
        cast(daily.warehouse_id as integer) as warehouse_id,
        cast(daily.carrier_id as varchar(256)) as carrier_id,
        cast(daily.activity_date as date) as activity_date,
        cast(cast(daily.client_id as integer) as varchar(11)) as client_key,
        cast(current_clients.client_code as varchar(80)) as client_code,
        cast(current_clients.client_name as varchar(800)) as client_name,
        cast(warehouses.warehouse_code as varchar(64)) as warehouse_code,
        cast(carriers.carrier_name as varchar(256)) as carrier_name,
        cast(carriers.transport_mode as varchar(16)) as transport_mode,
        cast(daily.due_shipments as integer) as due_shipments,
        cast(daily.on_time_shipments as integer) as on_time_shipments
    from daily
    inner join warehouses
        on daily.warehouse_id = warehouses.warehouse_id
    left join carriers
        on daily.carrier_id = carriers.carrier_id
    left join current_clients
        on daily.client_id = current_clients.client_id

)

select * from final
