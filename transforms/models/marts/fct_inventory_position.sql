-- Inventory position per node x item: on hand + in transit + on order - allocated. Units.
with

on_hand as (
    select * from {{ ref('stg_wms__on_hand') }}
),

open_orders as (
    select location_id, sku, sum(quantity) as on_order
    from {{ ref('stg_erp__purchase_orders') }}
    where status = 'OPEN'
    group by all
),

nodes as (
    select location_id, sku from on_hand
    union
    select location_id, sku from open_orders
)

select
    nodes.location_id,
    nodes.sku,
    (select max(snapshot_date) from on_hand) as snapshot_date,
    coalesce(on_hand.on_hand, 0) as on_hand,
    coalesce(on_hand.allocated, 0) as allocated,
    coalesce(on_hand.in_transit, 0) as in_transit,
    coalesce(open_orders.on_order, 0) as on_order,
    coalesce(on_hand.on_hand, 0) + coalesce(on_hand.in_transit, 0)
        + coalesce(open_orders.on_order, 0) - coalesce(on_hand.allocated, 0) as inventory_position
from nodes
left join on_hand using (location_id, sku)
left join open_orders using (location_id, sku)
