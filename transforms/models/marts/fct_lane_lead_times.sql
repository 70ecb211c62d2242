-- Measured replenishment lead times per lane (all items pooled), next to the nominal transit.
with

observations as (
    select * from {{ ref('int_lead_time_observations') }} where plausible
),

lanes as (
    select source_location_id, destination_location_id, min(transit_days) as nominal_transit_days
    from {{ ref('int_lanes_per_item') }}
    group by all
),

measured as (
    select
        source_location_id,
        destination_location_id,
        count(*) as observations,
        -- rounded: parallel float sums are not bit-reproducible, published figures must be
        round(avg(lead_time_days), 6) as lead_time_mean_days,
        round(coalesce(stddev_samp(lead_time_days), 0), 6) as lead_time_stddev_days,
        min(lead_time_days) as lead_time_min_days,
        max(lead_time_days) as lead_time_max_days
    from observations
    group by all
)

select
    lanes.source_location_id,
    lanes.destination_location_id,
    lanes.nominal_transit_days,
    coalesce(measured.observations, 0) as observations,
    coalesce(measured.lead_time_mean_days, lanes.nominal_transit_days) as lead_time_mean_days,
    coalesce(measured.lead_time_stddev_days, 0) as lead_time_stddev_days,
    measured.lead_time_min_days,
    measured.lead_time_max_days
from lanes
left join measured using (source_location_id, destination_location_id)
