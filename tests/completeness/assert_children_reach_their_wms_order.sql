{{ config(severity='warn', tags=['nightly']) }}
{#- Completeness across sources: TMS shipments and WMS order lines whose WMS order never arrived.
    Children may come before their parent (DMS writes tables independently; the TMS can extract a
    shipment before the WMS order's row lands), and by the metric definitions a shipment or line whose
    order has not arrived counts nowhere: its freight, units and delivery are in no fact. Past a grace of
    var completeness_orphan_grace_days (default 2) before the newest WMS order data (or "now", if earlier)
    that is no longer a delay: each such child within the
    last var completeness_window_days (default 28) is returned (kind, its key, the order it names), as a
    warning: the figures are right for the orders that exist, and someone should ask the WMS team where
    the order is. Shipments are dated by shipped_at; lines are judged once shipped (qty_shipped > 0), by
    the commit time of that version: a WMS may hold an order's row back until after it ships (the
    simulator's orphans fault does), so an unshipped line without its order is no alarm. Whole tables
    over four weeks, and nothing urgent: nightly. -#}
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

wms_data as (

    -- the newest WMS order change delivered: when the whole feed is behind "now", orders that have not
    -- been delivered yet are freshness's to report, not missing parents
    select max(source_committed_at) as newest_order_at
    from orders

),

judged as (

    -- children dated within the window and older than the grace, counted back from the newest WMS data
    select
        {{ dbt.dateadd('day', -1 * window_days, as_of_timestamp()) }} as window_start,
        {{ dbt.dateadd('day', -1 * grace_days,
                       'least(' ~ as_of_timestamp() ~ ', coalesce(wms_data.newest_order_at, ' ~ as_of_timestamp() ~ '))') }}
            as grace_start
    from wms_data

),

orphan_shipments as (

    select
        'tms shipment' as kind,
        shipments.shipment_id as child_key,
        shipments.order_number as order_reference
    from shipments
    cross join judged
    left join orders
        on shipments.order_number = orders.order_number
    where
        orders.order_id is null
        and shipments.shipped_at >= judged.window_start
        and shipments.shipped_at < judged.grace_start

),

orphan_lines as (

    select
        'wms order line' as kind,
        cast(order_lines.order_line_id as varchar(64)) as child_key,
        cast(order_lines.order_id as varchar(64)) as order_reference
    from order_lines
    cross join judged
    left join orders
        on order_lines.order_id = orders.order_id
    where
        orders.order_id is null
        and not order_lines.is_deleted
        and order_lines.qty_shipped > 0
        and order_lines.source_committed_at >= judged.window_start
        and order_lines.source_committed_at < judged.grace_start

)

select * from orphan_shipments

union all

select * from orphan_lines
