with

source as not materialized (  -- read twice by an incremental run: see latest_extract_wins
    select * from {{ source('wms', 'receipts') }}
    where {{ landed_as_of() }}
),

renamed as not materialized (  -- read twice by a full refresh
    select
        {{ clean_id('receipt_id') }} as receipt_id,
        {{ text_to_date('receipt_date') }} as receipt_date,
        {{ clean_id('location_id') }} as location_id,
        {{ clean_id('sku') }} as sku,
        {{ text_to_number('quantity') }} as quantity,
        {{ clean_id('receipt_type') }} as receipt_type,
        {{ clean_id('reference_id') }} as reference_id,
        extract_date,
        loaded_at,
        source_row
    from source
),

{{ latest_extract_wins('receipts', ['receipt_id']) }}

select * exclude (source_row) from latest
