{#- Operations Health dashboard, visual 'carrier_on_time': Carrier on-time share (delivered by the promised
    date). generated from unify/dashboards/spec.yml by `unify dashboards --write-sql`: edit the spec, not this
    file. -#}
with

carrier_on_time_daily as (

    select * from {{ ref('rpt_carrier_on_time_daily') }}

),

newest_activity_date as (

    select max(activity_date) as newest_date
    from {{ ref('rpt_carrier_on_time_daily') }}

),

final as (

    select
        carrier_name,
        round(100.0 * sum(on_time_shipments) / nullif(sum(due_shipments), 0), 2) as on_time_pct
    from carrier_on_time_daily
    where
        activity_date > (select newest.newest_date from newest_activity_date as newest) - 28
    group by carrier_name

)

select * from final
order by on_time_pct desc nulls last, carrier_name asc
