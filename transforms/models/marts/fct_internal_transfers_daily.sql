-- Dependent demand: transfers shipped between locations, per lane x item x day. Units.
with

transfers as (
    select * from {{ ref('stg_wms__shipments') }}
    where shipment_type = 'TRANSFER'
)

select
    from_location_id as source_location_id,
    to_location_id as destination_location_id,
    sku,
    ship_date,
    sum(quantity) as shipped_qty
from transfers
group by all
