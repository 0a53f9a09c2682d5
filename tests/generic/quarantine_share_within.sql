{#- The load itself (applied to the load ledger source): returns one row per raw table whose share of
    objects lost to quarantine (quarantined and not replaced by a later delivery, see
    unify.ledger_quarantines) among the objects the ledger recorded in the last `period_hours` (before
    the ledger's newest record: the last day of loads, however long ago it was) exceeds `max_share`.
    Failing means a feed is delivering damaged files faster than they are re-sent: the day's numbers
    miss that share of its deliveries. -#}
{% test quarantine_share_within(model, max_share, period_hours=24, resend_window_minutes=none) %}

{%- set window = resend_window_minutes if resend_window_minutes is not none
    else var('load_resend_window_minutes', 10) %}

with

quarantines as (

    {{ unify.ledger_quarantines(model, window) | indent(4) }}

),

last_period as (

    select
        object_key,
        etag,
        raw_table,
        status
    from {{ model }}
    where recorded_at >= (
        select {{ dbt.dateadd('hour', -1 * (period_hours | int), 'max(recorded_at)') }} from {{ model }}
    )

),

objects as (

    select
        last_period.raw_table,
        count(distinct last_period.object_key || '|' || last_period.etag) as objects,
        count(distinct
            case
                when last_period.status = 'quarantined' and not quarantines.is_redelivered
                    then last_period.object_key || '|' || last_period.etag
            end
        ) as lost_objects
    from last_period
    left join quarantines
        on
            last_period.object_key = quarantines.object_key
            and last_period.etag = quarantines.etag
    group by last_period.raw_table

)

select
    raw_table,
    objects,
    lost_objects,
    cast(lost_objects as numeric(18, 6)) / objects as lost_share
from objects
where lost_objects > {{ max_share }} * objects

{% endtest %}
