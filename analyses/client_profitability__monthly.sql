{#- Client Profitability dashboard, main table: per client and month, revenue, cost, margin and
    OTIF against target. QuickSight filters: month range (dashboard_start_date .. dashboard_end_date)
    and client ids (dashboard_client_ids; empty = all; account managers are further restricted by
    the QuickSight rules dataset on client_id). -#}
{%- set client_ids = var('dashboard_client_ids', []) -%}
{%- set client_filter = "client_id in (" ~ client_ids | join(", ") ~ ")" if client_ids else "true" -%}

with

monthly as (

    select * from {{ ref('rpt_client_profitability_monthly') }}

)

select
    month_start_date,
    client_code,
    client_name,
    tier,
    account_manager_name,
    revenue_usd,
    cost_usd,
    gross_margin_usd,
    margin_pct,
    handling_fee_revenue_usd,
    pick_fee_revenue_usd,
    freight_recharge_revenue_usd,
    freight_cost_usd,
    warehouse_handling_cost_usd,
    shipped_orders,
    due_orders,
    otif_pct,
    otif_target_pct
from monthly
where
    month_start_date between cast('{{ var("dashboard_start_date", "2026-01-01") }}' as date)
    and cast('{{ var("dashboard_end_date", "2027-12-31") }}' as date)
    and {{ client_filter }}
order by month_start_date, client_code
