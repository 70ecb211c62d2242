{#- Only extracts landed on or before the run's as-of date (the Dagster partition) count. -#}
{% macro landed_as_of(column='extract_date') -%}
    {{ column }} <= cast('{{ var("as_of_date") }}' as date)
{%- endmacro %}

{% macro clean_id(column) -%}
    upper(trim({{ column }}))
{%- endmacro %}
