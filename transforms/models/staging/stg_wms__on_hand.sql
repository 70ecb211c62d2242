-- The latest snapshot landed as of the run date: one row per location x item.
with

source as (
    select * from {{ source('wms', 'on_hand') }}
    where {{ landed_as_of() }}
    qualify extract_date = max(extract_date) over ()
),

renamed as (
    select
        {{ text_to_date('snapshot_date') }} as snapshot_date,
        {{ clean_id('location_id') }} as location_id,
        {{ clean_id('sku') }} as sku,
        {{ text_to_number('on_hand') }} as on_hand,
        {{ text_to_number('allocated') }} as allocated,
        {{ text_to_number('in_transit') }} as in_transit,
        extract_date
    from source
)

select * from renamed
