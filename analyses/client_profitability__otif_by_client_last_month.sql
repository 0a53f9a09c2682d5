{#- Client Profitability dashboard, visual 'otif_by_client_last_month': OTIF % by client, last complete month,
    against the contract target. generated from unify/dashboards/spec.yml by `unify dashboards --write-sql`:
    edit the spec, not this file. -#}
with

client_profitability_monthly as (

    select * from {{ ref('rpt_client_profitability_monthly') }}

),

final as (

    select
        client_code,
        client_name,
        month_start_date,
        sum(due_orders) as due_orders,
        sum(otif_orders) as otif_orders,
        round(100.0 * sum(otif_orders) / nullif(sum(due_orders), 0), 2) as otif_pct,
        max(otif_target_pct) as otif_target_pct
    from client_profitability_monthly
    where
        month_start_date = cast(date_trunc('month', as_of_date) - interval '1 month' as date)
    group by client_code, client_name, month_start_date

)

select * from final
order by client_code, client_name, month_start_date
