-- Independent (customer) demand per location x item x day, zero-filled. Cancelled lines are
-- not demand; returns are netted against the same day's orders and demand is floored at 0.
with

order_lines as (
    select * from {{ ref('stg_erp__sales_orders') }}
    where status <> 'CANCELLED'
),

daily as (
    select
        location_id,
        sku,
        order_date as demand_date,
        sum(case when order_type = 'SALE' then quantity else 0 end) as ordered_qty,
        sum(case when order_type = 'RETURN' then -quantity else 0 end) as returned_qty
    from order_lines
    group by all
),

calendar as (
    select cast(day as date) as demand_date
    from range(
        (select min(demand_date) from daily),
        (select max(demand_date) from daily) + interval 1 day,
        interval 1 day
    ) as t(day)
),

nodes as (
    select distinct location_id, sku from daily
),

filled as (
    select
        nodes.location_id,
        nodes.sku,
        calendar.demand_date,
        coalesce(daily.ordered_qty, 0) as ordered_qty,
        coalesce(daily.returned_qty, 0) as returned_qty
    from nodes
    cross join calendar
    left join daily
        on daily.location_id = nodes.location_id
        and daily.sku = nodes.sku
        and daily.demand_date = calendar.demand_date
)

select
    location_id,
    sku,
    demand_date,
    ordered_qty,
    returned_qty,
    greatest(ordered_qty - returned_qty, 0) as demand_qty
from filled
