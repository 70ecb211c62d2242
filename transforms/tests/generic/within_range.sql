{#- Rows whose column is outside [low, high] (nulls are not_null's business). -#}
{% test within_range(model, column_name, low, high) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ low }} or {{ column_name }} > {{ high }}
{% endtest %}
