{#- Operations Health dashboard, visual 'at_risk_by_warehouse': Open orders at SLA-breach risk now, by
    warehouse. generated from unify/dashboards/spec.yml by `unify dashboards --write-sql`: edit the spec, not
    this file. -#}
with

sla_breach_risk_summary as (

    select * from {{ ref('rpt_sla_breach_risk_summary') }}

),

final as (

    select
        warehouse_code,
        risk_status,
        sum(open_orders) as open_orders
    from sla_breach_risk_summary
    group by warehouse_code, risk_status

)

select * from final
order by warehouse_code, risk_status
