{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='order_id',
        sort=['created_at'],
        post_hook=[
            "delete from {{ this }} where order_id in (
                select order_id from {{ ref('stg_azureware__orders') }} where is_deleted
            )",
        ],
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['order_id'], 'unique': true},
        {'columns': ['source_loaded_at']},
    ])
}}
{#- Incremental: a run recomputes every order whose own row, any of its lines or any of its
    shipments was loaded after this table's high-water mark (source_loaded_at) minus the lookback,
    from the fully CDC-resolved staging rows; orders deleted in the WMS are removed by the post-hook. -#}

with

{% if is_incremental() %}
{%- set cutoff = incremental_cutoff('source_loaded_at') %}

changed_orders as (

    -- orders whose own row, a line or a shipment was loaded since the cutoff: each read is a range
    -- of a staging table's last_loaded_at index (sort key on Redshift)
    select order_id
    from {{ ref('stg_azureware__orders') }}
    where last_loaded_at > {{ cutoff }}

    union all

    select order_id
    from {{ ref('stg_azureware__order_lines') }}
    where last_loaded_at > {{ cutoff }}

    union all

    select shipped_orders.order_id
    from {{ ref('stg_tms__shipments') }} as loaded_shipments
    inner join {{ ref('stg_azureware__orders') }} as shipped_orders
        on loaded_shipments.order_number = shipped_orders.order_number
    where loaded_shipments.last_loaded_at > {{ cutoff }}

),

orders as (

    select *
    from {{ ref('stg_azureware__orders') }}
    where order_id in (select order_id from changed_orders)

),

order_lines as (

    -- the changed orders' lines, looked up by order_id
    select *
    from {{ ref('stg_azureware__order_lines') }}
    where order_id in (select order_id from changed_orders)

),

shipments as (

    -- the changed orders' shipments, looked up by order_number
    select *
    from {{ ref('stg_tms__shipments') }}
    where order_number in (select order_number from orders)

),

{% else %}

orders as (

    select * from {{ ref('stg_azureware__orders') }}

),

order_lines as (

    select * from {{ ref('stg_azureware__order_lines') }}

),

shipments as (

    select * from {{ ref('stg_tms__shipments') }}

),

{% endif %}

status_mapping as (

    select * from {{ ref('order_status_mapping') }}

),

live_orders as (

    select *
    from orders
    where not is_deleted

),

line_totals as (

    -- the live lines' figures; the load time of every line, deleted ones too: a line deleted in the WMS
    -- changes the order, and its children (incremental on source_loaded_at) must see it
    select
        order_lines.order_id,
        sum(case when order_lines.is_deleted then 0 else 1 end) as line_count,
        sum(case when order_lines.is_deleted then 0 else order_lines.qty_ordered end) as units_ordered,
        sum(case when order_lines.is_deleted then 0 else order_lines.qty_shipped end) as units_shipped,
        sum(
            case when not order_lines.is_deleted and order_lines.qty_shipped < order_lines.qty_ordered then 1 else 0 end
        ) as short_line_count,
        max(order_lines.last_loaded_at) as last_loaded_at
    from order_lines
    inner join live_orders
        on order_lines.order_id = live_orders.order_id
    group by order_lines.order_id

),

shipment_totals as (

    select
        live_orders.order_id,
        count(*) as shipment_count,
        sum(case when shipments.delivered_at is null then 1 else 0 end) as undelivered_shipment_count,
        max(shipments.delivered_at) as last_delivered_at,
        max(shipments.last_loaded_at) as last_loaded_at
    from shipments
    inner join live_orders
        on shipments.order_number = live_orders.order_number
    group by live_orders.order_id

),

joined as (

    select
        live_orders.*,
        status_mapping.status_group,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.units_ordered, 0) as units_ordered,
        coalesce(line_totals.units_shipped, 0) as units_shipped,
        coalesce(line_totals.short_line_count, 0) as short_line_count,
        coalesce(shipment_totals.shipment_count, 0) as shipment_count,
        case
            when shipment_totals.shipment_count > 0 and shipment_totals.undelivered_shipment_count = 0
                then shipment_totals.last_delivered_at
        end as delivered_at,
        greatest(
            live_orders.last_loaded_at,
            coalesce(line_totals.last_loaded_at, live_orders.last_loaded_at),
            coalesce(shipment_totals.last_loaded_at, live_orders.last_loaded_at)
        ) as source_loaded_at
    from live_orders
    left join status_mapping
        on live_orders.order_status = status_mapping.order_status
    left join line_totals
        on live_orders.order_id = line_totals.order_id
    left join shipment_totals
        on live_orders.order_id = shipment_totals.order_id

),

measured as (

    select
        *,
        cast(delivered_at as date) as delivered_date,
        coalesce(shipped_at is not null and shipped_at <= required_ship_by_at, false) as is_shipped_on_time,
        coalesce(cast(delivered_at as date) <= promised_delivery_date, false) as is_on_time,
        -- an order whose lines have not arrived is not known to be in full (nor OTIF)
        line_count > 0 and short_line_count = 0 as is_in_full
    from joined

),

final as (

    select
        cast(order_id as bigint) as order_id,
        cast(order_number as varchar(128)) as order_number,
        cast(client_id as integer) as client_id,
        cast(warehouse_id as integer) as warehouse_id,
        cast(order_type as varchar(8)) as order_type,
        cast(order_priority as varchar(16)) as order_priority,
        cast(order_status as varchar(16)) as order_status,
        cast(status_group as varchar(16)) as status_group,
        order_status = 'CANCELLED' as is_cancelled,
        shipped_at is not null as is_shipped,
        cast(created_at as timestamp) as created_at,
        cast(created_at as date) as created_date,
        cast(required_ship_by_at as timestamp) as required_ship_by_at,
        cast(promised_delivery_date as date) as promised_delivery_date,
        cast({{ dbt.date_trunc('month', 'promised_delivery_date') }} as date) as promised_month,
        cast(shipped_at as timestamp) as shipped_at,
        cast(shipped_at as date) as shipped_date,
        cast({{ dbt.date_trunc('month', 'shipped_at') }} as date) as ship_month,
        cast(delivered_at as timestamp) as delivered_at,
        delivered_date,
        delivered_date is not null as is_delivered,
        cast(line_count as integer) as line_count,
        cast(units_ordered as bigint) as units_ordered,
        cast(units_shipped as bigint) as units_shipped,
        cast(shipment_count as integer) as shipment_count,
        is_shipped_on_time,
        is_on_time,
        is_in_full,
        is_on_time and is_in_full as is_otif,
        cast({{ hours_between('created_at', 'shipped_at') }} as numeric(12, 4)) as fulfilment_cycle_hours,
        cast(delivered_date - cast(created_at as date) as integer) as order_to_delivery_days,
        cast(customer_key as varchar(64)) as customer_key,
        cast(destination_postcode_prefix as varchar(3)) as destination_postcode_prefix,
        cast(destination_country_code as char(2)) as destination_country_code,
        cast(source_loaded_at as timestamp) as source_loaded_at
    from measured

)

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', 'order_id', mark_column='source_loaded_at', cutoff=cutoff) }}
