{#- Client profitability at order grain (see the revenue_usd / cost_usd docs): every shipped,
    non-cancelled, non-deleted order, priced with the contract version in force at its ShippedAt
    (int_orders_contract_in_force) and converted at the rate of its ship month;
    fct_client_profitability_monthly sums it. A missing reference row (no rate for the contract's or a
    shipment's currency in the ship month, no cost rate for the warehouse) or a shipment without a freight
    cost leaves the amounts it feeds null and sets an is_missing_* flag: an order is never priced at zero
    or at another row's rate, and the mart's tests fail on the flags. -#}
with

shipped_orders as (

    -- every shipped, non-cancelled order with the contract terms in force at its ShippedAt
    select * from {{ ref('int_orders_contract_in_force') }}

),

shipments as (

    select * from {{ ref('fct_shipments') }}

),

warehouses as (

    select * from {{ ref('dim_warehouse') }}

),

currency_rates as (

    select * from {{ ref('currency_rates_monthly') }}

),

order_freight as (

    -- freight in USD, unknown (null) when a shipment has no freight cost or no rate for its currency:
    -- never a partial sum that prices the missing shipment at zero
    select
        order_id,
        count(*) as shipment_count,
        sum(case when freight_cost is null then 1 else 0 end) as shipments_without_freight_cost,
        sum(case when freight_cost is not null and freight_cost_usd is null then 1 else 0 end)
            as shipments_without_freight_rate,
        {{ sum_if_all_known('freight_cost_usd') }} as freight_cost_usd
    from shipments
    group by order_id

),

priced as (

    select
        shipped_orders.order_id,
        shipped_orders.client_id,
        shipped_orders.warehouse_id,
        shipped_orders.shipped_at,
        shipped_orders.ship_month,
        shipped_orders.units_shipped,
        coalesce(order_freight.shipment_count, 0) as shipment_count,
        shipped_orders.contract_id,
        shipped_orders.contract_version_key,
        shipped_orders.contract_number,
        shipped_orders.contract_currency_code,
        shipped_orders.otif_target_pct,
        shipped_orders.handling_fee_per_order,
        shipped_orders.pick_fee_per_unit,
        shipped_orders.freight_markup_pct,
        shipped_orders.has_contract,
        -- no contract in force: no fees (rate 0); a contract whose currency has no rate for the ship
        -- month: the fees are unknown (null), never zero
        case when not shipped_orders.has_contract then 0 else fee_rates.usd_per_unit end
            as fee_usd_per_unit,
        case
            when order_freight.order_id is null then 0
            else order_freight.freight_cost_usd
        end as freight_cost_usd,
        coalesce(order_freight.shipments_without_freight_cost, 0) > 0 as is_missing_freight_cost,
        coalesce(order_freight.shipments_without_freight_rate, 0) > 0 as is_missing_freight_rate,
        warehouses.cost_per_order_usd + warehouses.cost_per_unit_usd * shipped_orders.units_shipped
            as warehouse_handling_cost_usd
    from shipped_orders
    left join order_freight
        on shipped_orders.order_id = order_freight.order_id
    left join currency_rates as fee_rates
        on
            shipped_orders.contract_currency_code = fee_rates.currency_code
            and shipped_orders.ship_month = fee_rates.month_start_date
    left join warehouses
        on shipped_orders.warehouse_id = warehouses.warehouse_id

),

amounts as (

    select
        *,
        coalesce(handling_fee_per_order, 0) * fee_usd_per_unit as handling_fee_revenue_usd,
        coalesce(pick_fee_per_unit, 0) * units_shipped * fee_usd_per_unit as pick_fee_revenue_usd,
        freight_cost_usd * (1 + coalesce(freight_markup_pct, 0) / 100) as freight_recharge_revenue_usd
    from priced

),

final as (

    -- numeric(28, 12) holds every amount exactly (fees x rate x units, freight x rate x markup)
    select
        order_id,
        client_id,
        warehouse_id,
        shipped_at,
        ship_month,
        units_shipped,
        shipment_count,
        contract_id,
        contract_version_key,
        contract_number,
        contract_currency_code,
        otif_target_pct,
        freight_markup_pct,
        has_contract,
        cast(fee_usd_per_unit as numeric(12, 6)) as fee_usd_per_unit,
        fee_usd_per_unit is null as is_missing_fee_rate,
        is_missing_freight_rate,
        is_missing_freight_cost,
        warehouse_handling_cost_usd is null as is_missing_warehouse_rate,
        cast(handling_fee_revenue_usd as numeric(28, 12)) as handling_fee_revenue_usd,
        cast(pick_fee_revenue_usd as numeric(28, 12)) as pick_fee_revenue_usd,
        cast(freight_recharge_revenue_usd as numeric(28, 12)) as freight_recharge_revenue_usd,
        cast(freight_cost_usd as numeric(28, 12)) as freight_cost_usd,
        cast(warehouse_handling_cost_usd as numeric(28, 12)) as warehouse_handling_cost_usd,
        cast(handling_fee_revenue_usd + pick_fee_revenue_usd + freight_recharge_revenue_usd as numeric(28, 12))
            as revenue_usd,
        cast(freight_cost_usd + warehouse_handling_cost_usd as numeric(28, 12)) as cost_usd
    from amounts

)

select * from final
