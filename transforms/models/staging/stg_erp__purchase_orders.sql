with

source as (
    select * from {{ source('erp', 'purchase_orders') }}
    where {{ landed_as_of() }}
),

renamed as (
    select
        {{ clean_id('po_id') }} as po_id,
        {{ text_to_date('order_date') }} as order_date,
        {{ clean_id('supplier_id') }} as supplier_id,
        {{ clean_id('location_id') }} as location_id,
        {{ clean_id('sku') }} as sku,
        {{ text_to_number('quantity') }} as quantity,
        {{ text_to_date('promised_date') }} as promised_date,
        {{ clean_id('status') }} as status,
        extract_date,
        source_row
    from source
),

latest as (
    select * from renamed
    qualify row_number() over (partition by po_id order by extract_date desc, source_row desc) = 1
)

select * exclude (source_row) from latest
