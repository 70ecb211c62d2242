-- Goods received per location x item x day (purchase orders and transfers together). Units.
with

receipts as (
    select * from {{ ref('stg_wms__receipts') }}
)

select
    location_id,
    sku,
    receipt_date,
    sum(quantity) as quantity
from receipts
group by all
