-- Independent (customer) demand per location x item x day, zero-filled. Cancelled lines are
-- not demand; returns are netted against the same day's orders and demand is floored at 0.
-- Incremental: a run rewrites only the days whose non-zero cells differ from the table's
-- (compared by a fingerprint per day), the days the calendar gained and every day of a node
-- new to the table; the post-hook drops nodes and days no longer in the orders. A full
-- refresh gives the same table (tests/test_incremental.py).
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

{% if is_incremental() %}
kept_days as (  -- the table's days and their fingerprints (of the non-zero cells)
    select
        demand_date,
        sum(hash(location_id, sku, ordered_qty, returned_qty)) filter (
            where ordered_qty <> 0 or returned_qty <> 0
        ) as fingerprint
    from {{ this }}
    group by demand_date
),

changed_days as (  -- days whose cells differ from the orders', or new to the table
    select calendar.demand_date
    from calendar
    left join (
        select
            demand_date,
            sum(hash(location_id, sku, ordered_qty, returned_qty)) as fingerprint
        from daily
        where ordered_qty <> 0 or returned_qty <> 0
        group by demand_date
    ) as now using (demand_date)
    left join kept_days as kept using (demand_date)
    where kept.demand_date is null or now.fingerprint is distinct from kept.fingerprint
),

new_nodes as (
    select * from nodes
    except
    select distinct location_id, sku from {{ this }}
),

grid as (
    select nodes.location_id, nodes.sku, changed_days.demand_date
    from nodes cross join changed_days
    union
    select new_nodes.location_id, new_nodes.sku, calendar.demand_date
    from new_nodes cross join calendar
),
{% else %}
grid as (
    select nodes.location_id, nodes.sku, calendar.demand_date
    from nodes cross join calendar
),
{% endif %}

filled as (
    select
        grid.location_id,
        grid.sku,
        grid.demand_date,
        coalesce(daily.ordered_qty, 0) as ordered_qty,
        coalesce(daily.returned_qty, 0) as returned_qty
    from grid
    left join daily
        on daily.location_id = grid.location_id
        and daily.sku = grid.sku
        and daily.demand_date = grid.demand_date
)

select
    location_id,
    sku,
    demand_date,
    ordered_qty,
    returned_qty,
    greatest(ordered_qty - returned_qty, 0) as demand_qty
from filled
