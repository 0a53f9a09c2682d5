{#- Operations Health dashboard, visual 'otif_trend': OTIF % by day against the contracts' target. generated
    from unify/dashboards/spec.yml by `unify dashboards --write-sql`: edit the spec, not this file. -#}
with

operations_health_daily as (

    select * from {{ ref('rpt_operations_health_daily') }}

),

newest_activity_date as (

    select max(activity_date) as newest_date
    from {{ ref('rpt_operations_health_daily') }}

),

final as (

    select
        activity_date,
        round(100.0 * sum(otif_orders) / nullif(sum(due_orders), 0), 2) as otif_pct,
        round(100.0 * sum(otif_target_orders) / nullif(sum(due_orders_with_target), 0), 2) as otif_target_pct
    from operations_health_daily
    where
        activity_date > (select newest.newest_date from newest_activity_date as newest) - 28
    group by activity_date

)

select * from final
order by activity_date
