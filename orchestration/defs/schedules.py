"""The daily refresh job, its 06:00 schedule, and a sensor on new landing folders."""

import json

import dagster as dg

from extracts.ingest import landing_days
from orchestration.lib.partitions import daily_partitions
from orchestration.settings import landing_path

BACKTEST = dg.AssetSelection.assets(dg.AssetKey(["simulation", "historical_backtest"]))

daily_refresh = dg.define_asset_job(
    "daily_refresh",
    selection=dg.AssetSelection.all() - BACKTEST,
    partitions_def=daily_partitions,
    description="Ingest one extract day, build the marts, check, forecast, optimize, publish.",
)

historical_backtest = dg.define_asset_job(
    "historical_backtest",
    selection=BACKTEST,
    partitions_def=daily_partitions,
    description="Replay the plan made holdout_days before each selected day against what happened; backfill it over past days.",
)

daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    daily_refresh, hour_of_day=6, minute_of_hour=0, name="daily_refresh_0600"
)


@dg.sensor(
    job=daily_refresh, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED
)
def new_landing_folder(context: dg.SensorEvaluationContext):
    """Start a refresh for each new <landing>/<YYYY-MM-DD> folder, once per day. A folder dated
    outside the partitions (ahead of tomorrow, or before their start) is not marked seen: it is
    requested once its day is a partition."""
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    valid = set(daily_partitions.get_partition_keys())
    new = [d.isoformat() for d in landing_days(landing_path()) if d.isoformat() not in seen]
    requested = [key for key in new if key in valid]
    for key in requested:
        yield dg.RunRequest(run_key=f"landing-{key}", partition_key=key)
    waiting = sorted(set(new) - set(requested))
    if waiting:
        context.log.info(f"landing folders not yet partitions, left for later: {waiting}")
    context.update_cursor(json.dumps(sorted(seen | set(requested))))
