{#- Operations Health dashboard, main visual: KPIs per warehouse per day over a date range.
    QuickSight filters: date range (dashboard_start_date .. dashboard_end_date) and warehouse codes
    (dashboard_warehouse_codes; empty = all). Compile with e.g.
    dbt compile -s operations_health__daily_kpis --vars '{dashboard_warehouse_codes: [LHR1, FRA1]}' -#}
{%- set warehouse_codes = var('dashboard_warehouse_codes', []) -%}
{%- set warehouse_filter = (
    "warehouse_code in ('" ~ warehouse_codes | join("', '") ~ "')" if warehouse_codes else "true"
) -%}

with

daily as (

    select * from {{ ref('rpt_operations_health_daily') }}

)

select
    activity_date,
    warehouse_code,
    warehouse_name,
    region,
    orders_created,
    orders_shipped,
    units_shipped,
    backlog_orders,
    due_orders,
    otif_orders,
    otif_pct,
    shipped_on_time_pct,
    sla_breaches,
    fulfilment_hours_p50,
    fulfilment_hours_p90
from daily
where
    activity_date between cast('{{ var("dashboard_start_date", "2026-01-01") }}' as date)
    and cast('{{ var("dashboard_end_date", "2027-12-31") }}' as date)
    and {{ warehouse_filter }}
order by activity_date, warehouse_code
