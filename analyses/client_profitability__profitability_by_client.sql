{#- Client Profitability dashboard, visual 'profitability_by_client': Revenue, cost and margin by client over
    the last 12 months. generated from unify/dashboards/spec.yml by `unify dashboards --write-sql`: edit the
    spec, not this file. -#}
with

client_profitability_monthly as (

    select * from {{ ref('rpt_client_profitability_monthly') }}

),

newest_month_start_date as (

    select max(month_start_date) as newest_date
    from {{ ref('rpt_client_profitability_monthly') }}

),

final as (

    select
        client_code,
        client_name,
        sum(revenue_usd) as revenue_usd,
        sum(cost_usd) as cost_usd,
        sum(gross_margin_usd) as gross_margin_usd,
        round(100.0 * sum(gross_margin_usd) / nullif(sum(revenue_usd), 0), 2) as margin_pct
    from client_profitability_monthly
    where
        month_start_date > cast(
            (select newest.newest_date from newest_month_start_date as newest) - interval '12 months'
            as date
        )
    group by client_code, client_name

)

select * from final
order by client_code
