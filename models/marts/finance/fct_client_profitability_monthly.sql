{#- Sums order-grain profitability per client and ship month; amounts round to the cent only here,
    so monthly totals are exact. Contract terms are as of each order's ship date (see
    int_orders_priced_with_contract_terms); the contract columns describe the version in force at the
    month's last shipped order. A month with an order whose reference rate is missing has unknown
    (null) money, never a partial sum, and counts those orders in orders_without_*_rate, which tests
    require to be 0. -#}
with

priced_orders as (

    select * from {{ ref('int_orders_priced_with_contract_terms') }}

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
        sum(case when is_missing_warehouse_rate then 1 else 0 end) as orders_without_warehouse_rate,
        sum(
            case when is_missing_fee_rate or is_missing_freight_rate or is_missing_warehouse_rate then 1 else 0 end
        ) as orders_without_reference_rate,
        count(distinct contract_version_key) as contract_versions_applied,
        sum(handling_fee_revenue_usd) as handling_fee_revenue_usd,
        sum(pick_fee_revenue_usd) as pick_fee_revenue_usd,
        sum(freight_recharge_revenue_usd) as freight_recharge_revenue_usd,
        sum(revenue_usd) as revenue_usd,
        sum(freight_cost_usd) as freight_cost_usd,
        sum(warehouse_handling_cost_usd) as warehouse_handling_cost_usd,
        sum(cost_usd) as cost_usd
    from priced_orders
    group by client_id, ship_month

),

last_terms as (

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
    from priced_orders

),

{%- set money = [
    'handling_fee_revenue_usd', 'pick_fee_revenue_usd', 'freight_recharge_revenue_usd', 'revenue_usd',
    'freight_cost_usd', 'warehouse_handling_cost_usd', 'cost_usd',
] %}

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
        cast(monthly.orders_without_warehouse_rate as integer) as orders_without_warehouse_rate,
        cast(monthly.contract_versions_applied as integer) as contract_versions_applied,
        cast(last_terms.contract_number as varchar(120)) as contract_number,
        cast(last_terms.contract_currency_code as varchar(3)) as contract_currency_code,
        cast(last_terms.freight_markup_pct as numeric(7, 2)) as freight_markup_pct,
        cast(last_terms.otif_target_pct as numeric(7, 2)) as otif_target_pct,
        -- unknown (null) when any order of the month lacks a reference rate: never a partial sum
        {% for column in money -%}
        cast(
            case when monthly.orders_without_reference_rate = 0 then round(monthly.{{ column }}, 2) end
            as numeric(18, 2)
        ) as {{ column }},
        {% endfor -%}
        cast(
            case
                when monthly.orders_without_reference_rate = 0
                    then round(monthly.revenue_usd - monthly.cost_usd, 2)
            end as numeric(18, 2)
        ) as gross_margin_usd,
        cast(
            case
                when monthly.orders_without_reference_rate = 0 and monthly.revenue_usd <> 0
                    then round(100 * (monthly.revenue_usd - monthly.cost_usd) / monthly.revenue_usd, 2)
            end as numeric(9, 2)
        ) as margin_pct
    from monthly
    left join last_terms
        on
            monthly.client_id = last_terms.client_id
            and monthly.ship_month = last_terms.ship_month
            and last_terms.term_rank = 1

)

select * from final
