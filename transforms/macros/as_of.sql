{#- Only extracts landed on or before the run's as-of date (the Dagster partition) count. -#}
{% macro landed_as_of(column='extract_date') -%}
    {{ column }} <= cast('{{ var("as_of_date") }}' as date)
{%- endmacro %}

{#- Extract dates arrive as text, sometimes with a time part: keep the date. -#}
{% macro text_to_date(column) -%}
    cast(left(trim({{ column }}), 10) as date)
{%- endmacro %}

{% macro clean_id(column) -%}
    upper(trim({{ column }}))
{%- endmacro %}
