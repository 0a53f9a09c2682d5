{{ config(dist='even', sort=['month_start_date', 'client_id']) }}
{#- Client Profitability dashboard: one row per client per month, profitability by ship month next to
    OTIF by promised-delivery month (the two metrics' own month definitions), with the client's
    current tier and account manager. -#}
with

profitability as (

    select * from {{ ref('fct_client_profitability_monthly') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

clients as (

    select * from {{ ref('dim_client') }}

),

as_of as (

    select cast({{ as_of_timestamp() }} as date) as as_of_date

),

otif as (

    select
        orders.client_id,
        orders.promised_month as month_start_date,
        count(*) as due_orders,
        sum(case when orders.is_on_time then 1 else 0 end) as on_time_orders,
        sum(case when orders.is_in_full then 1 else 0 end) as in_full_orders,
        sum(case when orders.is_otif then 1 else 0 end) as otif_orders
    from orders
    cross join as_of
    where
        not orders.is_cancelled
        and orders.promised_delivery_date <= as_of.as_of_date
    group by orders.client_id, orders.promised_month

),

client_month_rows as (

    select
        client_id,
        ship_month as month_start_date
    from profitability

    union all

    select
        client_id,
        month_start_date
    from otif

),

client_months as (

    select
        client_id,
        month_start_date
    from client_month_rows
    group by client_id, month_start_date

),

current_clients as (

    select *
    from clients
    where is_current

),

previous_months as (

    -- the client's month before, for "margin % against the previous month" (a ratio of sums, so the
    -- previous month's revenue and margin are carried, not its percentage)
    select
        client_id,
        cast({{ dbt.dateadd('month', 1, 'ship_month') }} as date) as month_start_date,
        revenue_usd,
        gross_margin_usd
    from profitability

),

final as (

    select
        cast(client_months.client_id as integer) as client_id,
        cast(client_months.month_start_date as date) as month_start_date,
        cast(cast(client_months.client_id as integer) as varchar(11)) as client_key,
        cast(current_clients.client_code as varchar(80)) as client_code,
        cast(current_clients.client_name as varchar(800)) as client_name,
        cast(current_clients.tier as varchar(255)) as tier,
        cast(current_clients.account_manager_username as varchar(320)) as account_manager_username,
        cast(current_clients.account_manager_name as varchar(484)) as account_manager_name,
        -- a month with OTIF rows but no shipped order has 0 of everything; a shipped month keeps the
        -- mart's null where an amount is unknown (a missing rate): never shown as $0
        cast(coalesce(profitability.shipped_orders, 0) as integer) as shipped_orders,
        cast(coalesce(profitability.units_shipped, 0) as bigint) as units_shipped,
        {%- for amount in ['revenue_usd', 'handling_fee_revenue_usd', 'pick_fee_revenue_usd',
                           'freight_recharge_revenue_usd', 'cost_usd', 'freight_cost_usd',
                           'warehouse_handling_cost_usd', 'gross_margin_usd'] %}
        cast(
            case when profitability.client_id is null then 0 else profitability.{{ amount }} end
            as numeric(18, 2)
        ) as {{ amount }},
        {%- endfor %}
        cast(profitability.margin_pct as numeric(9, 2)) as margin_pct,
        cast(previous_months.revenue_usd as numeric(18, 2)) as previous_month_revenue_usd,
        cast(previous_months.gross_margin_usd as numeric(18, 2)) as previous_month_gross_margin_usd,
        cast(coalesce(otif.due_orders, 0) as integer) as due_orders,
        cast(coalesce(otif.on_time_orders, 0) as integer) as on_time_orders,
        cast(coalesce(otif.in_full_orders, 0) as integer) as in_full_orders,
        cast(coalesce(otif.otif_orders, 0) as integer) as otif_orders,
        cast(
            case when otif.due_orders > 0 then round(100.0 * otif.otif_orders / otif.due_orders, 2) end
            as numeric(7, 2)
        ) as otif_pct,
        cast(profitability.otif_target_pct as numeric(7, 2)) as otif_target_pct,
        cast(as_of.as_of_date as date) as as_of_date
    from client_months
    cross join as_of
    left join profitability
        on
            client_months.client_id = profitability.client_id
            and client_months.month_start_date = profitability.ship_month
    left join otif
        on
            client_months.client_id = otif.client_id
            and client_months.month_start_date = otif.month_start_date
    left join previous_months
        on
            client_months.client_id = previous_months.client_id
            and client_months.month_start_date = previous_months.month_start_date
    left join current_clients
        on client_months.client_id = current_clients.client_id

)

select * from final
