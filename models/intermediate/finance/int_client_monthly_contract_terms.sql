{#- The contract terms that describe a client's ship month: those in force at the month's last shipped
    order, preferring orders that had a contract in force (the OTIF target of the month). Read by
    fct_client_profitability_monthly (nightly) and by rpt_operations_health_daily (every frequent cycle),
    so both carry the same target for a month. -#}
with

orders_with_terms as (

    select * from {{ ref('int_orders_contract_in_force') }}

),

ranked as (

    select
        client_id,
        ship_month,
        contract_number,
        contract_currency_code,
        freight_markup_pct,
        otif_target_pct,
        row_number() over (
            partition by client_id, ship_month
            order by has_contract desc, shipped_at desc, order_id desc
        ) as term_rank
    from orders_with_terms

),

final as (

    select
        client_id,
        ship_month,
        contract_number,
        contract_currency_code,
        freight_markup_pct,
        otif_target_pct
    from ranked
    where term_rank = 1

)

select * from final
