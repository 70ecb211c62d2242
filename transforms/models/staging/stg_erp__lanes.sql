-- Lanes of the latest lane extract only: a lane dropped from the master is gone.
with

source as (
    select * from {{ source('erp', 'lanes') }}
    where {{ landed_as_of() }}
    qualify extract_date = max(extract_date) over ()
),

renamed as (
    select
        {{ clean_id('source_location_id') }} as source_location_id,
        {{ clean_id('destination_location_id') }} as destination_location_id,
        {{ clean_id('sku') }} as sku,
        {{ text_to_number('transit_days') }} as transit_days,
        {{ text_to_number('transfer_cost') }} as transfer_cost,
        extract_date
    from source
)

select * from renamed
