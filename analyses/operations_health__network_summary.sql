{#- Operations Health dashboard, headline tiles: the network's totals over the selected date range
    and warehouses (same filters as operations_health__daily_kpis). OTIF % is recomputed from the
    counts, never averaged from daily percentages. -#}
{%- set warehouse_codes = var('dashboard_warehouse_codes', []) -%}
{%- set warehouse_filter = (
    "warehouse_code in ('" ~ warehouse_codes | join("', '") ~ "')" if warehouse_codes else "true"
) -%}

with

daily as (

    select * from {{ ref('rpt_operations_health_daily') }}

),

filtered as (

    select *
    from daily
    where
        activity_date between cast('{{ var("dashboard_start_date", "2026-01-01") }}' as date)
        and cast('{{ var("dashboard_end_date", "2027-12-31") }}' as date)
        and {{ warehouse_filter }}

)

select
    sum(orders_created) as orders_created,
    sum(orders_shipped) as orders_shipped,
    sum(due_orders) as due_orders,
    sum(otif_orders) as otif_orders,
    round(100.0 * sum(otif_orders) / nullif(sum(due_orders), 0), 2) as otif_pct,
    sum(sla_breaches) as sla_breaches
from filtered
