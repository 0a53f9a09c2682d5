{{
    config(
        materialized='incremental',
        unique_key='shipment_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='order_id',
        sort=['shipped_at'],
        post_hook=[
            "delete from {{ this }} where order_id in (
                select order_id from {{ ref('stg_azureware__orders') }} where is_deleted
            )",
        ],
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['shipment_id'], 'unique': true},
        {'columns': ['source_loaded_at']},
        {'columns': ['order_id']},
    ])
}}
{#- Incremental: a run recomputes every shipment whose own row or whose order was loaded after the
    high-water mark minus the lookback. A shipment whose order has not arrived counts nowhere yet
    (inner join); the order's arrival marks it changed. Shipments of deleted orders are removed by
    the post-hook. Freight converts to USD at the rate of the order's ship month (the month it
    counts in for profitability), or of the shipment's own month while the order is not shipped. -#}

with

currency_rates as (

    select * from {{ ref('currency_rates_monthly') }}

),

{% if is_incremental() %}
{%- set cutoff = incremental_cutoff('source_loaded_at') %}

changed_shipments as (

    -- shipments loaded since the cutoff, and the shipments of orders loaded since it: ranges of the
    -- staging tables' last_loaded_at indexes (sort keys on Redshift), then a lookup by order_number
    select shipment_id
    from {{ ref('stg_tms__shipments') }}
    where last_loaded_at > {{ cutoff }}

    union all

    select shipments_of_orders.shipment_id
    from {{ ref('stg_azureware__orders') }} as loaded_orders
    inner join {{ ref('stg_tms__shipments') }} as shipments_of_orders
        on loaded_orders.order_number = shipments_of_orders.order_number
    where loaded_orders.last_loaded_at > {{ cutoff }}

),

scoped_shipments as (

    select *
    from {{ ref('stg_tms__shipments') }}
    where shipment_id in (select shipment_id from changed_shipments)

),

orders as (

    -- the orders of those shipments, looked up by order_number
    select *
    from {{ ref('stg_azureware__orders') }}
    where order_number in (select order_number from scoped_shipments)

),

{% else %}

scoped_shipments as (

    select * from {{ ref('stg_tms__shipments') }}

),

orders as (

    select * from {{ ref('stg_azureware__orders') }}

),

{% endif %}

joined as (

    select
        scoped_shipments.*,
        orders.order_id,
        orders.client_id,
        orders.warehouse_id,
        orders.last_loaded_at as order_loaded_at,
        cast(
            {{ dbt.date_trunc('month', 'coalesce(orders.shipped_at, scoped_shipments.shipped_at)') }} as date
        ) as rate_month
    from scoped_shipments
    inner join orders
        on scoped_shipments.order_number = orders.order_number
    where not orders.is_deleted

),

final as (

    select
        cast(joined.shipment_id as varchar(256)) as shipment_id,
        cast(joined.order_id as bigint) as order_id,
        cast(joined.order_number as varchar(128)) as order_number,
        cast(joined.client_id as integer) as client_id,
        cast(joined.warehouse_id as integer) as warehouse_id,
        cast(joined.warehouse_code as varchar(64)) as warehouse_code,
        cast(joined.carrier_id as varchar(256)) as carrier_id,
        cast(joined.service_level as varchar(256)) as service_level,
        cast(joined.tracking_number as varchar(128)) as tracking_number,
        cast(joined.shipment_status as varchar(16)) as shipment_status,
        cast(joined.shipped_at as timestamp) as shipped_at,
        cast(joined.estimated_delivery_at as timestamp) as estimated_delivery_at,
        cast(joined.delivered_at as timestamp) as delivered_at,
        joined.delivered_at is not null as is_delivered,
        cast(joined.weight_kg as numeric(12, 3)) as weight_kg,
        cast(joined.freight_cost as numeric(14, 2)) as freight_cost,
        cast(joined.currency_code as varchar(3)) as currency_code,
        cast(joined.rate_month as date) as rate_month,
        cast(currency_rates.usd_per_unit as numeric(12, 6)) as usd_per_unit,
        cast(joined.freight_cost * currency_rates.usd_per_unit as numeric(20, 8)) as freight_cost_usd,
        cast(greatest(joined.last_loaded_at, joined.order_loaded_at) as timestamp) as source_loaded_at
    from joined
    left join currency_rates
        on
            joined.currency_code = currency_rates.currency_code
            and joined.rate_month = currency_rates.month_start_date

)

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', 'shipment_id', mark_column='source_loaded_at', cutoff=cutoff) }}
