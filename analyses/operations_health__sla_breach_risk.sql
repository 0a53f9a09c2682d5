{#- Operations Health dashboard, "at risk now" table: open orders breached or due to ship within
    4 hours, most urgent first. QuickSight filters: warehouse codes and client ids (empty = all). -#}
{%- set warehouse_codes = var('dashboard_warehouse_codes', []) -%}
{%- set warehouse_filter = (
    "warehouse_code in ('" ~ warehouse_codes | join("', '") ~ "')" if warehouse_codes else "true"
) -%}
{%- set client_ids = var('dashboard_client_ids', []) -%}
{%- set client_filter = "client_id in (" ~ client_ids | join(", ") ~ ")" if client_ids else "true" -%}

with

risk as (

    select * from {{ ref('rpt_sla_breach_risk') }}

)

select
    risk_status,
    hours_to_deadline,
    required_ship_by_at,
    warehouse_code,
    client_name,
    order_number,
    order_status,
    order_priority,
    evaluated_at
from risk
where
    {{ warehouse_filter }}
    and {{ client_filter }}
order by required_ship_by_at
