with

source as (

    select * from {{ source('tms', 'carriers') }}

),

{{ cdc_ranked('tms', 'carrier_id') }}

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
