{{
    config(
        materialized='incremental',
        unique_key='shipment_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='shipment_id',
        sort=['last_loaded_at'],
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['shipment_id'], 'unique': true},
        {'columns': ['last_loaded_at']},
        {'columns': ['order_number']},
    ])
}}
{#- Incremental (a large daily stream): only shipments with raw rows loaded after the high-water
    mark minus the lookback are re-resolved, over all their delivered versions. -#}

with

{% if is_incremental() %}

loaded_keys as (

    -- keys with a raw row loaded since the cutoff: a range of the raw table's _loaded_at index
    select distinct shipment_id
    from {{ source('tms', 'shipments') }}
    where _loaded_at > {{ incremental_cutoff('last_loaded_at') }}

),

source as (

    -- every delivered version of those keys, looked up by key (raw keeps them all)
    select raw_rows.*
    from {{ source('tms', 'shipments') }} as raw_rows
    inner join loaded_keys
        on raw_rows.shipment_id = loaded_keys.shipment_id

),

{% else %}

source as (

    select * from {{ source('tms', 'shipments') }}

),

{% endif %}

ranked as (

    select
        *,
        row_number() over (
            partition by shipment_id
            order by {{ cdc_version_order('tms') }}
        ) as version_rank,
        max(_loaded_at) over (partition by shipment_id) as last_loaded_at
    from source

),

final as (

    select
        shipment_id,
        order_number,
        upper(warehouse_code) as warehouse_code,
        carrier_id,
        service_level,
        tracking_number,
        shipped_at,
        estimated_delivery_at,
        delivered_at,
        upper(status) as shipment_status,
        weight_kg,
        freight_cost,
        upper(currency) as currency_code,
        updated_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
