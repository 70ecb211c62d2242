{#- The latest version of every key of an extract (latest extract day, then last row of the
    file), as the closing CTEs of a staging model whose `renamed` CTE carries the keys,
    extract_date, loaded_at and source_row. Ends with a CTE named `latest`.

    Incremental runs recompute only the keys a newly (re)loaded day touches: a day is new
    when its load (extract_date, loaded_at in raw_days.loaded_days) is not reflected in the
    table; the touched keys are that day's keys and the keys the table took from that day
    before (a re-delivered day that dropped a line). Their latest version is taken from every
    loaded day again and replaces them (delete+insert on the keys);
    `drop_versions_no_longer_loaded` (post-hook) then removes rows whose load is gone. A run as
    of an earlier day than the latest loaded one is a full refresh (orchestration/defs/dbt.py),
    and a full refresh gives the same table (tests/test_incremental.py). -#}
{% macro latest_extract_wins(extract, keys) -%}
{%- set key_list = keys | join(', ') -%}
{% if is_incremental() %}
new_loads as (
    select loads.extract_date
    from {{ source('raw_days', 'loaded_days') }} as loads
    where loads.extract = '{{ extract }}'
        and {{ landed_as_of('loads.extract_date') }}
        and not exists (
            select 1 from {{ this }} as kept
            where kept.extract_date = loads.extract_date and kept.loaded_at = loads.loaded_at
        )
),

touched as (
    select {{ key_list }} from renamed
    where extract_date in (select extract_date from new_loads)
    union
    select {{ key_list }} from {{ this }}
    where extract_date in (select extract_date from new_loads)
),

candidates as (
    select renamed.* from renamed semi join touched using ({{ key_list }})
),
{% else %}
candidates as (
    select * from renamed
),
{% endif %}
latest as (
    select * from candidates
    qualify row_number() over (
        partition by {{ key_list }} order by extract_date desc, source_row desc
    ) = 1
)
{%- endmacro %}

{#- Post-hook of the models above: rows whose day was re-delivered without them, or unloaded. -#}
{% macro drop_versions_no_longer_loaded(extract) -%}
    delete from {{ this }} as kept
    where not exists (
        select 1 from {{ source('raw_days', 'loaded_days') }} as loads
        where loads.extract = '{{ extract }}'
            and loads.extract_date = kept.extract_date
            and loads.loaded_at = kept.loaded_at
    )
{%- endmacro %}
