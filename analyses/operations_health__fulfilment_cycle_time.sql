{#- Operations Health dashboard, visual 'fulfilment_cycle_time': Mean fulfilment cycle time (hours, created to
    shipped) by day and warehouse. generated from unify/dashboards/spec.yml by `unify dashboards --write-sql`:
    edit the spec, not this file. -#}
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
        warehouse_code,
        round(1.0 * sum(fulfilment_hours_total) / nullif(sum(orders_shipped), 0), 2) as mean_fulfilment_hours
    from operations_health_daily
    where
        activity_date > (select newest.newest_date from newest_activity_date as newest) - 28
    group by activity_date, warehouse_code

)

select * from final
order by activity_date, warehouse_code
