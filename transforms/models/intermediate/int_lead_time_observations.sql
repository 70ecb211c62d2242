-- One observed replenishment lead time per receipt: transfers from ship date to receipt,
-- purchase orders from order date to receipt. Days. plausible: within 0 .. max_lead_time_days
-- (the estimates use only those).
with

receipts as (
    select * from {{ ref('stg_wms__receipts') }}
),

shipments as (
    select * from {{ ref('stg_wms__shipments') }} where shipment_type = 'TRANSFER'
),

purchase_orders as (
    select * from {{ ref('stg_erp__purchase_orders') }}
),

transfer_lead_times as (
    select
        shipments.from_location_id as source_location_id,
        receipts.location_id as destination_location_id,
        receipts.sku,
        shipments.ship_date as started_on,
        receipts.receipt_date as received_on,
        'TRANSFER' as replenishment_type
    from receipts
    inner join shipments on receipts.reference_id = shipments.shipment_id
    where receipts.receipt_type = 'TRANSFER'
),

purchase_lead_times as (
    select
        purchase_orders.supplier_id as source_location_id,
        receipts.location_id as destination_location_id,
        receipts.sku,
        purchase_orders.order_date as started_on,
        receipts.receipt_date as received_on,
        'PO' as replenishment_type
    from receipts
    inner join purchase_orders on receipts.reference_id = purchase_orders.po_id
    where receipts.receipt_type = 'PO'
),

unioned as (
    select * from transfer_lead_times
    union all
    select * from purchase_lead_times
),

lead_times as (
    select *, date_diff('day', started_on, received_on) as lead_time_days
    from unioned
)

select
    *,
    lead_time_days between 0 and {{ var('max_lead_time_days') }} as plausible
from lead_times
