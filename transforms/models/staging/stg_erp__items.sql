with

source as (
    select * from {{ source('erp', 'items') }}
    where {{ landed_as_of() }}
),

renamed as (
    select
        {{ clean_id('sku') }} as sku,
        trim(description) as description,
        {{ text_to_number('unit_cost') }} as unit_cost,
        {{ clean_id('unit_of_measure') }} as unit_of_measure,
        {{ text_to_integer('lot_size') }} as lot_size,
        {{ text_to_integer('moq') }} as moq,
        extract_date,
        source_row
    from source
),

latest as (
    select * from renamed
    qualify row_number() over (partition by sku order by extract_date desc, source_row desc) = 1
)

select * exclude (source_row) from latest
