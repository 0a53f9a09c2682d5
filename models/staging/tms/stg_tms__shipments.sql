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
{%- set cutoff = incremental_cutoff('last_loaded_at') if is_incremental() else none %}

with

{{ cdc_key_versions(source('tms', 'shipments'), 'shipment_id', cutoff) }}

{{ cdc_ranked('tms', 'shipment_id') }}

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

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', 'shipment_id', mark_column='last_loaded_at', cutoff=cutoff) }}
