with

carriers as (

    select * from {{ ref('stg_tms__carriers') }}

),

final as (

    select
        cast(carrier_id as varchar(256)) as carrier_id,
        cast(carrier_name as varchar(256)) as carrier_name,
        cast(scac as varchar(4)) as scac,
        cast(transport_mode as varchar(16)) as transport_mode
    from carriers

)

select * from final
