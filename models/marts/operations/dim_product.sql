with

products as (

    select * from {{ ref('stg_azureware__products') }}

),

final as (

    select
        cast(product_id as integer) as product_id,
        cast(client_id as integer) as client_id,
        cast(sku as varchar(160)) as sku,
        cast(product_description as varchar(1600)) as product_description,
        cast(unit_weight_kg as numeric(10, 3)) as unit_weight_kg,
        cast(unit_volume_m3 as numeric(10, 4)) as unit_volume_m3,
        cast(hazmat_class as varchar(32)) as hazmat_class,
        is_hazmat,
        is_deleted
    from products

)

select * from final
