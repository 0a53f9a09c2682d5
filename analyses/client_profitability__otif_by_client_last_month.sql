{#- OTIF by client for the last complete month before the as-of date (the main job's summary line;
    unify/summary.py runs the same query). Optional client filter like the dashboard's. -#}
{%- set client_ids = var('dashboard_client_ids', []) -%}
{%- set client_filter = "client_id in (" ~ client_ids | join(", ") ~ ")" if client_ids else "true" -%}

with

monthly as (

    select * from {{ ref('rpt_client_profitability_monthly') }}

),

last_month as (

    select
        client_id,
        client_code,
        client_name,
        month_start_date,
        due_orders,
        otif_orders,
        otif_pct,
        otif_target_pct
    from monthly
    where
        month_start_date = cast({{ dbt.dateadd('month', -1, dbt.date_trunc('month', 'as_of_date')) }} as date)
        and {{ client_filter }}

)

select
    client_code,
    client_name,
    month_start_date,
    due_orders,
    otif_orders,
    otif_pct,
    otif_target_pct
from last_month
order by client_code
