{#- Client Profitability dashboard, visual 'margin_vs_previous_month': Margin % by client, last complete month
    against the month before. generated from unify/dashboards/spec.yml by `unify dashboards --write-sql`: edit
    the spec, not this file. -#}
with

client_profitability_monthly as (

    select * from {{ ref('rpt_client_profitability_monthly') }}

),

final as (

    select
        client_code,
        round(100.0 * sum(gross_margin_usd) / nullif(sum(revenue_usd), 0), 2) as margin_pct,
        round(
            100.0 * sum(previous_month_gross_margin_usd) / nullif(sum(previous_month_revenue_usd), 0), 2
        ) as previous_month_margin_pct
    from client_profitability_monthly
    where
        month_start_date = cast(date_trunc('month', as_of_date) - interval '1 month' as date)
    group by client_code

)

select * from final
order by client_code
