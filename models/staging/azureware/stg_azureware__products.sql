with

source as (

    select * from {{ source('azureware', 'products') }}

),

{{ cdc_ranked('azureware', 'productid') }}

final as (

    select
        productid as product_id,
        clientid as client_id,
        sku,
        description as product_description,
        unitweightkg as unit_weight_kg,
        unitvolumem3 as unit_volume_m3,
        hazmatclass as hazmat_class,
        hazmatclass is not null as is_hazmat,
        modifiedat as modified_at,
        op = 'D' as is_deleted,
        dms_commit_ts as source_committed_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
