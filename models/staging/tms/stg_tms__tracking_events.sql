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
{{
    unify.postgres_indexes([
        {'columns': ['event_id'], 'unique': true},
        {'columns': ['last_loaded_at']},
    ])
}}
{#- Incremental (the largest TMS stream, many events per shipment): only events with raw rows
    loaded after the high-water mark minus the lookback are re-resolved. -#}
{%- set cutoff = incremental_cutoff('last_loaded_at') if is_incremental() else none %}

with

{{ cdc_key_versions(source('tms', 'tracking_events'), 'event_id', cutoff) }}

{{ cdc_ranked('tms', 'event_id') }}

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

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', 'event_id', mark_column='last_loaded_at', cutoff=cutoff) }}
