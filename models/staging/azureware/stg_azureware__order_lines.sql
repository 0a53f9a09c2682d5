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
{#- Incremental like stg_azureware__orders (the largest CDC stream): only keys with raw rows loaded
    after the high-water mark minus the lookback are re-resolved, over all their raw versions. -#}

with

source as (

    select * from {{ source('azureware', 'order_lines') }}

),

{% if is_incremental() %}

changed_keys as (

    select distinct orderlineid
    from source
    where _loaded_at > {{ incremental_cutoff('last_loaded_at') }}

),

versions as (

    select source.*
    from source
    inner join changed_keys
        on source.orderlineid = changed_keys.orderlineid

),

{% else %}

versions as (

    select * from source

),

{% endif %}

ranked as (

    select
        *,
        row_number() over (
            partition by orderlineid
            order by {{ cdc_version_order('azureware') }}
        ) as version_rank,
        max(_loaded_at) over (partition by orderlineid) as last_loaded_at
    from versions

),

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

select * from final
