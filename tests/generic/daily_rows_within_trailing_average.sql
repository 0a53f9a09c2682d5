{#- Volume anomalies (applied to a raw source table): returns one row per judged day whose row count is
    below `min_ratio` or above `max_ratio` times the table's average over the `trailing_days` days
    before it. Days are the table's own event time (`date_column`: a DMS commit time, a Salesforce
    SystemModstamp, a TMS updated_at), so a catch-up load of many days still has daily history; a day
    with no rows counts as 0. The judged days are the `check_days` complete days before the newest day
    in the table (the newest may still be filling; a feed that stopped is source freshness's to report).
    A day is judged only with at least `min_history_days` days of history since the table's first row
    (a young warehouse does not fail) and a trailing average of at least `min_average_rows` (a table
    too quiet to have a meaningful average, such as warehouses or users, is not judged). Failing means
    a day's deliveries were lost (a drop) or loaded twice (a spike). Defaults: vars volume_*. Judges
    whole days, so it runs in the nightly build (tag nightly). -#}
{% test daily_rows_within_trailing_average(model, date_column, trailing_days=none, check_days=none,
                                           min_history_days=none, min_average_rows=none, min_ratio=none,
                                           max_ratio=none) %}

{{ config(tags=['nightly']) }}

{%- set trailing = (trailing_days if trailing_days is not none else var('volume_trailing_days', 14)) | int %}
{%- set check = (check_days if check_days is not none else var('volume_check_days', 3)) | int %}
{%- set min_history = (min_history_days if min_history_days is not none
                       else var('volume_min_history_days', 7)) | int %}
{%- set min_average = min_average_rows if min_average_rows is not none else var('volume_min_average_rows', 20) %}
{%- set low = min_ratio if min_ratio is not none else var('volume_min_ratio', 0.25) %}
{%- set high = max_ratio if max_ratio is not none else var('volume_max_ratio', 4) %}

with

daily as (

    select
        cast({{ date_column }} as date) as activity_date,
        count(*) as row_count
    from {{ model }}
    where {{ date_column }} is not null
    group by cast({{ date_column }} as date)

),

bounds as (

    select
        min(activity_date) as first_date,
        max(activity_date) as newest_date
    from daily

),

offsets as (

    {{ dbt.generate_series(trailing + check) | indent(4) }}

),

days as (

    -- every day of the window, newest - 1 back to newest - (check + trailing), with or without rows
    select
        cast({{ dbt.dateadd('day', '-1 * offsets.generated_number', 'bounds.newest_date') }} as date)
            as activity_date,
        offsets.generated_number <= {{ check }} as is_judged,
        bounds.first_date
    from offsets
    cross join bounds

),

counted as (

    select
        days.activity_date,
        days.is_judged,
        days.activity_date >= days.first_date as is_active,
        coalesce(daily.row_count, 0) as row_count
    from days
    left join daily
        on days.activity_date = daily.activity_date

),

judged as (

    select
        judged_days.activity_date,
        judged_days.row_count,
        count(history.activity_date) as history_days,
        avg(cast(history.row_count as numeric(18, 4))) as trailing_average
    from counted as judged_days
    inner join counted as history
        on
            history.activity_date < judged_days.activity_date
            and history.activity_date
            >= cast({{ dbt.dateadd('day', -1 * trailing, 'judged_days.activity_date') }} as date)
            and history.is_active
    where judged_days.is_judged and judged_days.is_active
    group by judged_days.activity_date, judged_days.row_count

)

select
    activity_date,
    row_count,
    history_days,
    trailing_average,
    row_count / trailing_average as ratio
from judged
where
    history_days >= {{ min_history }}
    and trailing_average >= {{ min_average }}
    and (row_count < {{ low }} * trailing_average or row_count > {{ high }} * trailing_average)

{% endtest %}
