{#- Post-hook of fct_customer_demand_daily's incremental runs: the rows of nodes that no longer
    have an order line, and of days outside the orders' calendar (a full refresh builds neither). -#}
{% macro drop_demand_no_longer_ordered() -%}
{%- if is_incremental() -%}
    delete from {{ this }} as kept
    where kept.demand_date not between
            (select min(order_date) from {{ ref('stg_erp__sales_orders') }} where status <> 'CANCELLED')
            and (select max(order_date) from {{ ref('stg_erp__sales_orders') }} where status <> 'CANCELLED')
        or not exists (
            select 1 from {{ ref('stg_erp__sales_orders') }} as line
            where line.status <> 'CANCELLED'
                and line.location_id = kept.location_id
                and line.sku = kept.sku
        )
{%- else -%}
    select 1
{%- endif -%}
{%- endmacro %}
