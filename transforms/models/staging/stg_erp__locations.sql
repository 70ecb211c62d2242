with

source as (
    select * from {{ source('erp', 'locations') }}
    where {{ landed_as_of() }}
),

renamed as (
    select
        {{ clean_id('location_id') }} as location_id,
        {{ clean_id('location_type') }} as location_type,
        {{ clean_id('region') }} as region,
        trim(description) as description,
        extract_date,
        source_row
    from source
),

latest as (
    select * from renamed
    qualify row_number() over (partition by location_id order by extract_date desc, source_row desc) = 1
)

select * exclude (source_row) from latest
