with

source as (
    select * from {{ source('erp', 'items') }}
    where {{ landed_as_of() }}
),

renamed as (
    select
        {{ clean_id('sku') }} as sku,
        trim(description) as description,
        cast(unit_cost as double) as unit_cost,
        {{ clean_id('unit_of_measure') }} as unit_of_measure,
        cast(cast(lot_size as double) as integer) as lot_size,
        cast(cast(moq as double) as integer) as moq,
        extract_date,
        source_row
    from source
),

latest as (
    select * from renamed
    qualify row_number() over (partition by sku order by extract_date desc, source_row desc) = 1
)

select * exclude (source_row) from latest
