{#- Reconciliation: fct_client_profitability_monthly adds up to the facts. Shipped orders and units
    agree exactly with fct_orders / fct_order_lines; freight cost with fct_shipments; warehouse cost
    with fct_orders x dim_warehouse rates; revenue and cost with the order-grain pricing. Money may
    differ only by the monthly rounding to the cent (half a cent per client-month). Returns one row
    per measure that does not reconcile. -#}
with

monthly as (

    select
        count(*) as client_months,
        sum(shipped_orders) as shipped_orders,
        sum(units_shipped) as units_shipped,
        sum(freight_cost_usd) as freight_cost_usd,
        sum(warehouse_handling_cost_usd) as warehouse_handling_cost_usd,
        sum(revenue_usd) as revenue_usd,
        sum(cost_usd) as cost_usd
    from {{ ref('fct_client_profitability_monthly') }}

),

counted_orders as (

    select
        order_id,
        warehouse_id,
        units_shipped
    from {{ ref('fct_orders') }}
    where
        shipped_at is not null
        and not is_cancelled

),

from_orders as (

    select
        count(*) as shipped_orders,
        sum(counted_orders.units_shipped) as order_units,
        sum(warehouses.cost_per_order_usd + warehouses.cost_per_unit_usd * counted_orders.units_shipped)
            as warehouse_handling_cost_usd
    from counted_orders
    inner join {{ ref('dim_warehouse') }} as warehouses
        on counted_orders.warehouse_id = warehouses.warehouse_id

),

from_lines as (

    select sum(order_lines.qty_shipped) as units_shipped
    from {{ ref('fct_order_lines') }} as order_lines
    inner join counted_orders
        on order_lines.order_id = counted_orders.order_id

),

from_shipments as (

    select sum(shipments.freight_cost_usd) as freight_cost_usd
    from {{ ref('fct_shipments') }} as shipments
    inner join counted_orders
        on shipments.order_id = counted_orders.order_id

),

from_pricing as (

    select
        sum(revenue_usd) as revenue_usd,
        sum(cost_usd) as cost_usd
    from {{ ref('int_orders_priced_with_contract_terms') }}

),

checks as (

    select
        'shipped_orders' as measure,
        coalesce(monthly.shipped_orders, 0) as mart_total,
        coalesce(from_orders.shipped_orders, 0) as fact_total,
        0 as tolerance
    from monthly cross join from_orders

    union all

    select
        'units_shipped (lines)' as measure,
        coalesce(monthly.units_shipped, 0) as mart_total,
        coalesce(from_lines.units_shipped, 0) as fact_total,
        0 as tolerance
    from monthly cross join from_lines

    union all

    select
        'units_shipped (orders)' as measure,
        coalesce(monthly.units_shipped, 0) as mart_total,
        coalesce(from_orders.order_units, 0) as fact_total,
        0 as tolerance
    from monthly cross join from_orders

    union all

    select
        'freight_cost_usd' as measure,
        coalesce(monthly.freight_cost_usd, 0) as mart_total,
        coalesce(from_shipments.freight_cost_usd, 0) as fact_total,
        0.005 * monthly.client_months as tolerance
    from monthly cross join from_shipments

    union all

    select
        'warehouse_handling_cost_usd' as measure,
        coalesce(monthly.warehouse_handling_cost_usd, 0) as mart_total,
        coalesce(from_orders.warehouse_handling_cost_usd, 0) as fact_total,
        0.005 * monthly.client_months as tolerance
    from monthly cross join from_orders

    union all

    select
        'revenue_usd' as measure,
        coalesce(monthly.revenue_usd, 0) as mart_total,
        coalesce(from_pricing.revenue_usd, 0) as fact_total,
        0.005 * monthly.client_months as tolerance
    from monthly cross join from_pricing

    union all

    select
        'cost_usd' as measure,
        coalesce(monthly.cost_usd, 0) as mart_total,
        coalesce(from_pricing.cost_usd, 0) as fact_total,
        0.005 * monthly.client_months as tolerance
    from monthly cross join from_pricing

)

select
    measure,
    mart_total,
    fact_total,
    tolerance
from checks
where abs(mart_total - fact_total) > tolerance
