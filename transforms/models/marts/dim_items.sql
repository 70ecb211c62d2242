with items as (
    select * from {{ ref('stg_erp__items') }}
)

select
    sku,
    description,
    unit_cost,
    unit_of_measure,
    lot_size,
    moq
from items
