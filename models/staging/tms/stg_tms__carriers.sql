with

source as (

    select * from {{ source('tms', 'carriers') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by carrier_id
            order by {{ cdc_version_order('tms') }}
        ) as version_rank,
        max(_loaded_at) over (partition by carrier_id) as last_loaded_at
    from source

),

final as (

    select
        carrier_id,
        carrier_name,
        upper(scac) as scac,
        upper(mode) as transport_mode,
        updated_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
