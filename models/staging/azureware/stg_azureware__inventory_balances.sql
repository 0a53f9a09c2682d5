with

source as (

    select * from {{ source('azureware', 'inventory_balances') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by warehouseid, productid
            order by {{ cdc_version_order('azureware') }}
        ) as version_rank,
        max(_loaded_at) over (partition by warehouseid, productid) as last_loaded_at
    from source

),

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
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
