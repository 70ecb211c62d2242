{#- Extract values arrive as text. Ingest checked every row with these same expressions
    (extracts/validate.py PARSE_NUMBER, PARSE_DATE; a test compares them), so they parse here:
    a value that passed ingest never fails a cast in dbt. -#}

{#- Dates, sometimes with a time part: keep the date. -#}
{% macro text_to_date(column) -%}
    TRY_STRPTIME(left(trim({{ column }}), 10), '%Y-%m-%d')::DATE
{%- endmacro %}

{% macro text_to_number(column) -%}
    TRY_CAST(trim({{ column }}) AS DOUBLE)
{%- endmacro %}

{#- Whole numbers: ingest checked them whole and within INTEGER's range. -#}
{% macro text_to_integer(column) -%}
    CAST(TRY_CAST(trim({{ column }}) AS DOUBLE) AS INTEGER)
{%- endmacro %}
