{#- Sums order-grain profitability per client and ship month; amounts round to the cent only here,
    so monthly totals are exact. Contract terms are as of each order's ship date (see
    int_orders_priced_with_contract_terms); the contract columns describe the version in force at the
    month's last shipped order (int_client_monthly_contract_terms). An amount is unknown (null) for a
    month in which any order's amount is unknown (a missing reference rate,
    int_orders_priced_with_contract_terms): never a partial sum; the orders_without_*_rate counts, which
    tests require to be 0, say which reference is missing. -#}
with

priced_orders as (

    select * from {{ ref('int_orders_priced_with_contract_terms') }}

),

last_terms as (

    select * from {{ ref('int_client_monthly_contract_terms') }}

),

monthly as (

    select
        client_id,
        ship_month,
        count(*) as shipped_orders,
        sum(units_shipped) as units_shipped,
        sum(shipment_count) as shipments,
        sum(case when has_contract then 0 else 1 end) as orders_without_contract,
        sum(case when is_missing_fee_rate then 1 else 0 end) as orders_without_fee_rate,
        sum(case when is_missing_freight_rate then 1 else 0 end) as orders_without_freight_rate,
        sum(case when is_missing_freight_cost then 1 else 0 end) as orders_without_freight_cost,
        sum(case when is_missing_warehouse_rate then 1 else 0 end) as orders_without_warehouse_rate,
        count(distinct contract_version_key) as contract_versions_applied,
        -- an amount unknown for one order is unknown for the month: no partial sums
        {{ sum_if_all_known('handling_fee_revenue_usd') }} as handling_fee_revenue_usd,
        {{ sum_if_all_known('pick_fee_revenue_usd') }} as pick_fee_revenue_usd,
        {{ sum_if_all_known('freight_recharge_revenue_usd') }} as freight_recharge_revenue_usd,
        {{ sum_if_all_known('revenue_usd') }} as revenue_usd,
        {{ sum_if_all_known('freight_cost_usd') }} as freight_cost_usd,
        {{ sum_if_all_known('warehouse_handling_cost_usd') }} as warehouse_handling_cost_usd,
        {{ sum_if_all_known('cost_usd') }} as cost_usd
    from priced_orders
    group by client_id, ship_month

),

final as (

    select
        cast(monthly.client_id as integer) as client_id,
        cast(monthly.ship_month as date) as ship_month,
        cast(monthly.shipped_orders as integer) as shipped_orders,
        cast(monthly.units_shipped as bigint) as units_shipped,
        cast(monthly.shipments as integer) as shipments,
        cast(monthly.orders_without_contract as integer) as orders_without_contract,
        cast(monthly.orders_without_fee_rate as integer) as orders_without_fee_rate,
        cast(monthly.orders_without_freight_rate as integer) as orders_without_freight_rate,
        cast(monthly.orders_without_freight_cost as integer) as orders_without_freight_cost,
        cast(monthly.orders_without_warehouse_rate as integer) as orders_without_warehouse_rate,
        cast(monthly.contract_versions_applied as integer) as contract_versions_applied,
        cast(last_terms.contract_number as varchar(120)) as contract_number,
        cast(last_terms.contract_currency_code as varchar(3)) as contract_currency_code,
        cast(last_terms.freight_markup_pct as numeric(7, 2)) as freight_markup_pct,
        cast(last_terms.otif_target_pct as numeric(7, 2)) as otif_target_pct,
        cast(round(monthly.handling_fee_revenue_usd, 2) as numeric(18, 2)) as handling_fee_revenue_usd,
        cast(round(monthly.pick_fee_revenue_usd, 2) as numeric(18, 2)) as pick_fee_revenue_usd,
        cast(round(monthly.freight_recharge_revenue_usd, 2) as numeric(18, 2)) as freight_recharge_revenue_usd,
        cast(round(monthly.revenue_usd, 2) as numeric(18, 2)) as revenue_usd,
        cast(round(monthly.freight_cost_usd, 2) as numeric(18, 2)) as freight_cost_usd,
        cast(round(monthly.warehouse_handling_cost_usd, 2) as numeric(18, 2)) as warehouse_handling_cost_usd,
        cast(round(monthly.cost_usd, 2) as numeric(18, 2)) as cost_usd,
        cast(round(monthly.revenue_usd - monthly.cost_usd, 2) as numeric(18, 2)) as gross_margin_usd,
        cast(
            case
                when monthly.revenue_usd <> 0
                    then round(100 * (monthly.revenue_usd - monthly.cost_usd) / monthly.revenue_usd, 2)
            end as numeric(9, 2)
        ) as margin_pct
    from monthly
    left join last_terms
        on
            monthly.client_id = last_terms.client_id
            and monthly.ship_month = last_terms.ship_month

)

select * from final
