{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='order_id',
        sort=['last_loaded_at'],
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['order_line_id'], 'unique': true},
        {'columns': ['last_loaded_at']},
        {'columns': ['order_id']},
        {'columns': ['is_deleted']},
    ])
}}
{#- Incremental like stg_azureware__orders (the largest CDC stream): only keys with raw rows loaded
    after the high-water mark minus the lookback are re-resolved, over all their raw versions. -#}
{%- set cutoff = incremental_cutoff('last_loaded_at') if is_incremental() else none %}

with

{{ cdc_key_versions(source('azureware', 'order_lines'), 'orderlineid', cutoff) }}

{{ cdc_ranked('azureware', 'orderlineid') }}

final as (

    select
        orderlineid as order_line_id,
        orderid as order_id,
        linenumber as line_number,
        productid as product_id,
        qtyordered as qty_ordered,
        qtypicked as qty_picked,
        qtyshipped as qty_shipped,
        modifiedat as modified_at,
        op = 'D' as is_deleted,
        dms_commit_ts as source_committed_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', 'order_line_id', mark_column='last_loaded_at', cutoff=cutoff) }}
