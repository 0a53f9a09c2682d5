with

source as (

    select * from {{ source('azureware', 'products') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by productid
            order by {{ cdc_version_order('azureware') }}
        ) as version_rank,
        max(_loaded_at) over (partition by productid) as last_loaded_at
    from source

),

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
