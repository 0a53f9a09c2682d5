{{ config(severity='warn', tags=['nightly']) }}
{#- Completeness across sources: TMS shipments and WMS order lines whose WMS order never arrived.
    Children may come before their parent (DMS writes tables independently; the TMS can extract a
    shipment before the WMS order's row lands), and by the metric definitions a shipment or line whose
    order has not arrived counts nowhere: its freight, units and delivery are in no fact. Past a grace of
    var completeness_orphan_grace_days (default 2) that is no longer a delay: each such child within the
    last var completeness_window_days (default 28) is returned (kind, its key, the order it names), as a
    warning: the figures are right for the orders that exist, and someone should ask the WMS team where
    the order is. Shipments are dated by shipped_at, lines by their WMS commit time. Whole tables over
    four weeks, and nothing urgent: nightly. -#}
{%- set window_days = var('completeness_window_days', 28) | int %}
{%- set grace_days = var('completeness_orphan_grace_days', 2) | int %}
with

orders as (

    select * from {{ ref('stg_azureware__orders') }}

),

shipments as (

    select * from {{ ref('stg_tms__shipments') }}

),

order_lines as (

    select * from {{ ref('stg_azureware__order_lines') }}

),

as_of as (

    select {{ as_of_timestamp() }} as as_of_at

),

orphan_shipments as (

    select
        'tms shipment' as kind,
        shipments.shipment_id as child_key,
        shipments.order_number as order_reference
    from shipments
    cross join as_of
    left join orders
        on shipments.order_number = orders.order_number
    where
        orders.order_id is null
        and shipments.shipped_at >= {{ dbt.dateadd('day', -1 * window_days, 'as_of.as_of_at') }}
        and shipments.shipped_at < {{ dbt.dateadd('day', -1 * grace_days, 'as_of.as_of_at') }}

),

orphan_lines as (

    select
        'wms order line' as kind,
        cast(order_lines.order_line_id as varchar(64)) as child_key,
        cast(order_lines.order_id as varchar(64)) as order_reference
    from order_lines
    cross join as_of
    left join orders
        on order_lines.order_id = orders.order_id
    where
        orders.order_id is null
        and not order_lines.is_deleted
        and order_lines.source_committed_at >= {{ dbt.dateadd('day', -1 * window_days, 'as_of.as_of_at') }}
        and order_lines.source_committed_at < {{ dbt.dateadd('day', -1 * grace_days, 'as_of.as_of_at') }}

)

select * from orphan_shipments

union all

select * from orphan_lines
