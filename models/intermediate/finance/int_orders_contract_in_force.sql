{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        dist='order_id',
        sort=['source_loaded_at'],
        pre_hook="{% if is_incremental() %}{%- set cutoff = unify.incremental_cutoff('source_loaded_at') -%}
            delete from {{ this }}
            {% if not unify.contract_terms_changed(this) -%}
            where order_id in ({{ unify.orders_changed_since(cutoff) }})
            {%- endif %}{% endif %}",
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['order_id'], 'unique': true},
        {'columns': ['source_loaded_at']},
    ])
}}
{#- The contract terms in force at each shipped order's ShippedAt (see the contract_in_force doc): the
    one place that rule is written. int_orders_priced_with_contract_terms prices orders with it (the
    nightly's finance marts); int_client_monthly_contract_terms takes each client-month's terms from it
    (the OTIF target the operations dashboard needs in every frequent cycle), so the frequent cycle does
    not depend on the monthly finance marts.

    Incremental, because an order's contract depends on nothing but the order's own row and the
    contracts: a run recomputes the orders fct_orders recomputed since this table's high-water mark
    (source_loaded_at minus the lookback, as fct_orders itself does), every order when dim_contract is
    not what the rows were computed with (contracts_fingerprint, contract_terms_changed). The pre-hook
    first deletes the rows of those orders (all rows, when the contracts changed), including orders
    that are no longer shipped, were cancelled or were deleted in the WMS; the model then appends the
    ones that are shipped, in the same transaction. -#}
-- depends_on: {{ ref('stg_azureware__orders') }}
{%- set recompute_all = not is_incremental() or unify.contract_terms_changed(this) %}
{%- set recomputed = 'true' if recompute_all else 'source_loaded_at > ' ~ incremental_cutoff('source_loaded_at') %}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

contracts as (

    select * from {{ ref('dim_contract') }}

),

contract_fingerprint as (

    select {{ unify.contract_terms_fingerprint_sql() }} as contracts_fingerprint

),

shipped_orders as (

    -- the columns this model reads: the CTE is read twice, so PostgreSQL materialises it (narrow rows)
    select
        order_id,
        client_id,
        warehouse_id,
        shipped_at,
        shipped_date,
        ship_month,
        units_shipped,
        source_loaded_at
    from orders
    where
        shipped_at is not null
        and not is_cancelled
        and {{ recomputed }}

),

contract_candidates as (

    -- the Activated, non-deleted contract of the client's account covering the ship date, with the
    -- terms of the version in force at ShippedAt
    select
        shipped_orders.order_id,
        contracts.contract_id,
        contracts.contract_version_key,
        contracts.contract_number,
        contracts.currency_code,
        contracts.handling_fee_per_order,
        contracts.pick_fee_per_unit,
        contracts.freight_markup_pct,
        contracts.otif_target_pct,
        row_number() over (
            partition by shipped_orders.order_id
            order by contracts.start_date desc, contracts.contract_id desc
        ) as contract_rank,
        count(*) over (partition by shipped_orders.order_id) as contracts_in_force
    from shipped_orders
    inner join contracts
        on
            shipped_orders.client_id = contracts.client_id
            and shipped_orders.shipped_at >= contracts.valid_from
            and shipped_orders.shipped_at < contracts.valid_to
    where
        contracts.contract_status = 'Activated'
        and not contracts.is_version_deleted
        and not contracts.is_contract_deleted
        and coalesce(contracts.start_date, cast('1900-01-01' as date)) <= shipped_orders.shipped_date
        and coalesce(contracts.end_date, cast('9999-12-31' as date)) >= shipped_orders.shipped_date

),

contract_in_force as (

    select *
    from contract_candidates
    where contract_rank = 1

),

final as (

    select
        shipped_orders.order_id,
        shipped_orders.client_id,
        shipped_orders.warehouse_id,
        shipped_orders.shipped_at,
        shipped_orders.ship_month,
        shipped_orders.units_shipped,
        contract_in_force.contract_id,
        contract_in_force.contract_version_key,
        contract_in_force.contract_number,
        contract_in_force.currency_code as contract_currency_code,
        contract_in_force.handling_fee_per_order,
        contract_in_force.pick_fee_per_unit,
        contract_in_force.freight_markup_pct,
        contract_in_force.otif_target_pct,
        contract_in_force.contract_id is not null as has_contract,
        coalesce(contract_in_force.contracts_in_force, 0) as contracts_in_force,
        shipped_orders.source_loaded_at,
        contract_fingerprint.contracts_fingerprint
    from shipped_orders
    cross join contract_fingerprint
    left join contract_in_force
        on shipped_orders.order_id = contract_in_force.order_id

)

select * from final
