{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='order_id',
        sort=['last_loaded_at'],
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['order_id'], 'unique': true},
        {'columns': ['last_loaded_at']},
        {'columns': ['order_number']},
        {'columns': ['is_deleted']},
    ])
}}
{#- Incremental because Orders is the large, fast-changing CDC stream: a run re-resolves only the
    keys that have any raw row loaded after the high-water mark minus the lookback, over ALL raw
    versions of those keys (so a late, out-of-order change record still ranks correctly). -#}
{%- set cutoff = incremental_cutoff('last_loaded_at') if is_incremental() else none %}

with

{{ cdc_key_versions(source('azureware', 'orders'), 'orderid', cutoff) }}

{{ cdc_ranked('azureware', 'orderid') }}

final as (

    select
        orderid as order_id,
        ordernumber as order_number,
        clientid as client_id,
        warehouseid as warehouse_id,
        ordertype as order_type,
        priority as order_priority,
        status as order_status,
        createdat as created_at,
        requiredshipby as required_ship_by_at,
        promiseddeliverydate as promised_delivery_date,
        shippedat as shipped_at,
        {{ keyed_hash('lower(trim(customername))') }} as customer_key,
        {{ postcode_prefix('destinationpostcode') }} as destination_postcode_prefix,
        destinationcountry as destination_country_code,
        modifiedat as modified_at,
        op = 'D' as is_deleted,
        dms_commit_ts as source_committed_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', 'order_id', mark_column='last_loaded_at', cutoff=cutoff) }}
