-- One row per item x lane. An item-specific lane into a destination replaces the
-- all-items ('*') lanes into that destination for that item.
with

lanes as (
    select * from {{ ref('stg_erp__lanes') }}
),

items as (
    select sku from {{ ref('stg_erp__items') }}
),

specific as (
    select * exclude (extract_date) from lanes where sku <> '*'
),

generic as (
    select items.sku, lanes.* exclude (sku, extract_date)
    from lanes
    cross join items
    where lanes.sku = '*'
),

generic_not_overridden as (
    select generic.*
    from generic
    anti join specific
        on generic.sku = specific.sku
        and generic.destination_location_id = specific.destination_location_id
),

unioned as (
    select sku, source_location_id, destination_location_id, transit_days, transfer_cost, false as is_item_specific
    from generic_not_overridden
    union all
    select sku, source_location_id, destination_location_id, transit_days, transfer_cost, true as is_item_specific
    from specific
)

select * from unioned
