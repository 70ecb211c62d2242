{#- A checksum of demand cells, summable: a day's sum over its cells equals the sum over its
    order lines (cancelled ones left out) with each line's ordered and returned units, so the
    day's lines need not be grouped into cells to compare with the table. Integer arithmetic
    (units to 0.001) on a hash of the node reduced modulo the prime 2^61 - 1: a change to a
    line's units, node or day changes the day's sum unless the changes cancel exactly, which
    needs the nodes' hashes (near-uniform below 2^61) in an exact integer relation with the
    units moved. Quantities finer than 0.001 can make a day differ that did not change: it is
    rewritten, never skipped. -#}
{% macro demand_checksum(location_id, sku, ordered_qty, returned_qty) -%}
    (hash({{ location_id }}, {{ sku }}, 'ordered') % 2305843009213693951)::hugeint
        * round(({{ ordered_qty }}) * 1000)::hugeint
        + (hash({{ location_id }}, {{ sku }}, 'returned') % 2305843009213693951)::hugeint
        * round(({{ returned_qty }}) * 1000)::hugeint
{%- endmacro %}

{#- Post-hook of fct_customer_demand_daily's incremental runs: the rows of nodes that no longer
    have an order line, and of days outside the orders' calendar (a full refresh builds neither).
    The table's nodes are read from its first day: every node has a row on every day. -#}
{% macro drop_demand_no_longer_ordered() -%}
{%- if is_incremental() -%}
    delete from {{ this }} as kept
    using (
        select
            min(order_date) as first_day,
            max(order_date) as last_day
        from {{ ref('stg_erp__sales_orders') }}
        where status <> 'CANCELLED'
    ) as calendar
    where kept.demand_date not between calendar.first_day and calendar.last_day
        or (kept.location_id, kept.sku) in (
            select location_id, sku from {{ this }}
            where demand_date = (select min(demand_date) from {{ this }})
            except
            select distinct location_id, sku from {{ ref('stg_erp__sales_orders') }}
            where status <> 'CANCELLED'
        )
{%- else -%}
    select 1
{%- endif -%}
{%- endmacro %}
