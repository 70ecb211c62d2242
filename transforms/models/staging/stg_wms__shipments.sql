with

source as not materialized (  -- read twice by an incremental run: see latest_extract_wins
    select * from {{ source('wms', 'shipments') }}
    where {{ landed_as_of() }}
),

renamed as not materialized (  -- read twice by a full refresh
    select
        {{ clean_id('shipment_id') }} as shipment_id,
        {{ text_to_date('ship_date') }} as ship_date,
        {{ clean_id('from_location_id') }} as from_location_id,
        {{ clean_id('to_location_id') }} as to_location_id,
        {{ clean_id('sku') }} as sku,
        {{ text_to_number('quantity') }} as quantity,
        {{ clean_id('shipment_type') }} as shipment_type,
        extract_date,
        loaded_at,
        source_row
    from source
),

{{ latest_extract_wins('shipments', ['shipment_id']) }}

select * exclude (source_row) from latest
