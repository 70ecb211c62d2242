with locations as (
    select * from {{ ref('stg_erp__locations') }}
)

select
    location_id,
    location_type,
    region,
    description,
    case location_type
        when 'SUPPLIER' then 0 when 'PLANT' then 1 when 'DC' then 2 else 3
    end as echelon
from locations
