{{ config(dist='even', sort=['client_id']) }}
{#- Operations Health dashboard, "at risk now" counts: one row per client, warehouse and risk status
    (BREACHED, AT_RISK) of the open orders in rpt_sla_breach_risk, so the dashboard shows how many
    there are without reading every one of them (the list shows only the most urgent). -#}
with

risk as (

    select * from {{ ref('rpt_sla_breach_risk') }}

),

final as (

    select
        cast(client_id as integer) as client_id,
        cast(warehouse_id as integer) as warehouse_id,
        cast(risk_status as varchar(8)) as risk_status,
        cast(max(client_key) as varchar(11)) as client_key,
        cast(max(client_code) as varchar(80)) as client_code,
        cast(max(client_name) as varchar(800)) as client_name,
        cast(max(warehouse_code) as varchar(64)) as warehouse_code,
        cast(count(*) as integer) as open_orders,
        cast(min(hours_to_deadline) as numeric(12, 2)) as most_overdue_hours_to_deadline,
        cast(max(evaluated_at) as timestamp) as evaluated_at
    from risk
    group by client_id, warehouse_id, risk_status

)

select * from final
