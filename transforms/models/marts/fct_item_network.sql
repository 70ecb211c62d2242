-- The supply network of each item: its lanes with the location types at both ends.
with

lanes as (
    select * from {{ ref('int_lanes_per_item') }}
),

locations as (
    select * from {{ ref('dim_locations') }}
)

select
    lanes.sku,
    lanes.source_location_id,
    source.location_type as source_location_type,
    lanes.destination_location_id,
    destination.location_type as destination_location_type,
    lanes.transit_days,
    lanes.transfer_cost,
    lanes.is_item_specific
from lanes
inner join locations as source on lanes.source_location_id = source.location_id
inner join locations as destination on lanes.destination_location_id = destination.location_id
