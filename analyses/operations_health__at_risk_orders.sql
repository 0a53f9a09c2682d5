{#- Operations Health dashboard, visual 'at_risk_orders': The most urgent orders at risk now. generated from
    unify/dashboards/spec.yml by `unify dashboards --write-sql`: edit the spec, not this file. -#}
with

sla_breach_risk as (

    select * from {{ ref('rpt_sla_breach_risk') }}

),

final as (

    select
        risk_status,
        hours_to_deadline,
        required_ship_by_at,
        warehouse_code,
        client_name,
        order_number,
        order_status,
        order_priority
    from sla_breach_risk

)

select * from final
order by required_ship_by_at, order_number
limit 20
