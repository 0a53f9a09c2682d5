{{
    config(
        materialized='incremental',
        unique_key=['warehouse_id', 'product_id'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='product_id',
        sort=['last_loaded_at'],
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['warehouse_id', 'product_id'], 'unique': true},
        {'columns': ['last_loaded_at']},
    ])
}}
{#- Incremental because InventoryBalances is the most updated CDC stream: a key collects a new version
    with every stock movement, without bound, so re-ranking all of a key's versions would re-read all of
    history. A run ranks the versions loaded since the high-water mark minus the lookback against each
    key's current winner (kept here with every column CDC ranks by, its own load time included, so a
    tie on the change sequence goes to the later delivery exactly as in a full refresh); the winner of
    the union is the winner of all versions. -#}
{%- set cutoff = incremental_cutoff('last_loaded_at') if is_incremental() else none %}

with

source as (

    -- the columns CDC ranks and staging keeps (current_winners below has the same shape)
    select
        op,
        dms_commit_ts,
        dms_change_seq,
        warehouseid,
        productid,
        qtyonhand,
        qtyallocated,
        modifiedat,
        _source_key,
        _source_row,
        _loaded_at,
        cast(null as timestamp) as key_last_loaded_at
    from {{ source('azureware', 'inventory_balances') }}
    {%- if is_incremental() %}
    -- the versions loaded since the cutoff: a range of the raw table's _loaded_at index
    where _loaded_at > {{ cutoff }}
    {%- endif %}

),

{% if is_incremental() %}

loaded_keys as (

    select distinct
        warehouseid,
        productid
    from source

),

current_winners as (

    -- the current version of each key with a new one, shaped as a raw version to rank against them
    select
        case when current_rows.is_deleted then 'D' else 'U' end as op,
        current_rows.source_committed_at as dms_commit_ts,
        current_rows.source_change_seq as dms_change_seq,
        current_rows.warehouse_id as warehouseid,
        current_rows.product_id as productid,
        current_rows.qty_on_hand as qtyonhand,
        current_rows.qty_allocated as qtyallocated,
        current_rows.modified_at as modifiedat,
        current_rows.source_file_key as _source_key,
        current_rows.source_file_row as _source_row,
        current_rows.source_file_loaded_at as _loaded_at,
        current_rows.last_loaded_at as key_last_loaded_at
    from {{ this }} as current_rows
    inner join loaded_keys
        on
            current_rows.warehouse_id = loaded_keys.warehouseid
            and current_rows.product_id = loaded_keys.productid

),

{% endif %}

versions as (

    select * from source
    {%- if is_incremental() %}

    union all

    select * from current_winners
    {%- endif %}

),

-- last_loaded_at: the newest load of any version of the key, the current winner's stored value included
{{ cdc_ranked('azureware', 'warehouseid, productid', versions='versions',
              loaded_at='coalesce(key_last_loaded_at, _loaded_at)') }}

final as (

    select
        warehouseid as warehouse_id,
        productid as product_id,
        qtyonhand as qty_on_hand,
        qtyallocated as qty_allocated,
        qtyonhand - qtyallocated as qty_available,
        modifiedat as modified_at,
        op = 'D' as is_deleted,
        dms_commit_ts as source_committed_at,
        dms_change_seq as source_change_seq,
        _source_key as source_file_key,
        _source_row as source_file_row,
        _loaded_at as source_file_loaded_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', ['warehouse_id', 'product_id'], mark_column='last_loaded_at', cutoff=cutoff) }}
