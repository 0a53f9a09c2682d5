{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='shipment_id',
        sort=['last_loaded_at'],
    )
}}
{#- Incremental (the largest TMS stream, many events per shipment): only events with raw rows
    loaded after the high-water mark minus the lookback are re-resolved. -#}

with

source as (

    select * from {{ source('tms', 'tracking_events') }}

),

{% if is_incremental() %}

changed_keys as (

    select distinct event_id
    from source
    where _loaded_at > {{ incremental_cutoff('last_loaded_at') }}

),

versions as (

    select source.*
    from source
    inner join changed_keys
        on source.event_id = changed_keys.event_id

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
            partition by event_id
            order by {{ cdc_version_order('tms') }}
        ) as version_rank,
        max(_loaded_at) over (partition by event_id) as last_loaded_at
    from versions

),

final as (

    select
        event_id,
        shipment_id,
        event_time as event_at,
        upper(event_code) as event_code,
        location_city,
        upper(location_country) as location_country_code,
        updated_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
