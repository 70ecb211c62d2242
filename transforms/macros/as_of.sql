{#- Only extracts landed on or before the run's as-of date (the Dagster partition) count.
    An environment variable, not a dbt var: a var that changes every run made dbt re-parse the
    whole project on every run ("Unable to do partial parsing"); a changed env var re-parses
    only the models that read it. -#}
{% macro landed_as_of(column='extract_date') -%}
    {{ column }} <= cast('{{ env_var("MEIO_AS_OF_DATE", "9999-12-31") }}' as date)
{%- endmacro %}

{% macro clean_id(column) -%}
    upper(trim({{ column }}))
{%- endmacro %}
