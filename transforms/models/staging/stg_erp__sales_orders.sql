with

source as not materialized (  -- read twice by an incremental run: see latest_extract_wins
    select * from {{ source('erp', 'sales_orders') }}
    where {{ landed_as_of() }}
),

renamed as not materialized (  -- read twice by a full refresh
    select
        {{ clean_id('order_id') }} as order_id,
        {{ text_to_integer('line_number') }} as line_number,
        {{ text_to_date('order_date') }} as order_date,
        {{ clean_id('location_id') }} as location_id,
        {{ clean_id('sku') }} as sku,
        {{ text_to_number('quantity') }} as quantity,
        {{ clean_id('order_type') }} as order_type,
        {{ clean_id('status') }} as status,
        extract_date,
        loaded_at,
        source_row
    from source
),

{{ latest_extract_wins('sales_orders', ['order_id', 'line_number']) }}

select * exclude (source_row) from latest
