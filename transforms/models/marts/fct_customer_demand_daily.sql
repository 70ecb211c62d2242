-- Independent (customer) demand per location x item x day, zero-filled. Cancelled lines are
-- not demand; returns are netted against the same day's orders and demand is floored at 0.
-- Incremental: a run rewrites only the days whose cells differ from the table's (compared by a
-- checksum per day that the order lines give without being grouped into cells), the days the
-- calendar gained and every day of a node new to the table, and groups only those days' order
-- lines; the post-hook drops nodes and days no longer in the orders. A full refresh gives the
-- same table (tests/test_incremental.py).
with

order_lines as (  -- a line's units ordered and returned (returns as positive units)
    select
        location_id,
        sku,
        order_date,
        case when order_type = 'SALE' then quantity else 0 end as ordered_qty,
        case when order_type = 'RETURN' then -quantity else 0 end as returned_qty
    from {{ ref('stg_erp__sales_orders') }}
    where status <> 'CANCELLED'
),

calendar as (
    select cast(day as date) as demand_date
    from range(
        (select min(order_date) from order_lines),
        (select max(order_date) from order_lines) + interval 1 day,
        interval 1 day
    ) as t(day)
),

nodes as (
    select distinct location_id, sku from order_lines
),

{% if is_incremental() %}
kept_days as (  -- the table's days and their checksums
    select
        demand_date,
        sum({{ demand_checksum('location_id', 'sku', 'ordered_qty', 'returned_qty') }}) as checksum
    from {{ this }}
    group by demand_date
),

ordered_days as (  -- the same checksums from the order lines, without grouping them into cells
    select
        order_date as demand_date,
        sum({{ demand_checksum('location_id', 'sku', 'ordered_qty', 'returned_qty') }}) as checksum
    from order_lines
    group by order_date
),

changed_days as (  -- days whose cells differ from the orders', or new to the table
    select calendar.demand_date
    from calendar
    left join ordered_days as now using (demand_date)
    left join kept_days as kept using (demand_date)
    where kept.demand_date is null or coalesce(now.checksum, 0) <> kept.checksum
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

grid_lines as (  -- the order lines of the cells rewritten
    select order_lines.*
    from order_lines
    semi join grid
        on grid.location_id = order_lines.location_id
        and grid.sku = order_lines.sku
        and grid.demand_date = order_lines.order_date
),
{% else %}
grid as (
    select nodes.location_id, nodes.sku, calendar.demand_date
    from nodes cross join calendar
),

grid_lines as (
    select * from order_lines
),
{% endif %}

filled as (  -- every cell of the grid: its lines' units summed, 0 without lines (the lines and
    -- one zero row per cell grouped together: at 2,000 items 15 s against 23 s for the grid
    -- left-joined to the lines' daily sums)
    select
        location_id,
        sku,
        demand_date,
        sum(ordered_qty) as ordered_qty,
        sum(returned_qty) as returned_qty
    from (
        select location_id, sku, order_date as demand_date, ordered_qty, returned_qty
        from grid_lines
        union all
        select location_id, sku, demand_date, 0 as ordered_qty, 0 as returned_qty
        from grid
    ) as cells
    group by all
)

select
    location_id,
    sku,
    demand_date,
    ordered_qty,
    returned_qty,
    greatest(ordered_qty - returned_qty, 0) as demand_qty
from filled
