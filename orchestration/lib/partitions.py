import warnings

import dagster as dg

from orchestration.settings import partitions_start, timezone

warnings.filterwarnings("ignore", category=dg.BetaWarning)

# One partition per extract day; every asset is partitioned by it so that a run is "as of" a day.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start(), end_offset=1, timezone=timezone()
)
single_run_backfill = dg.BackfillPolicy.single_run()


def daily_asset(
    key: list[str], deps: list[dg.AssetKey], description: str, kinds: set[str] | None = None
):
    """A Python asset of the pipeline: partitioned by extract day, backfilled in one run, grouped
    by the first part of its key."""
    return dg.asset(
        key=key,
        group_name=key[0],
        deps=deps,
        partitions_def=daily_partitions,
        backfill_policy=single_run_backfill,
        kinds=kinds or {"python", "duckdb"},
        description=description,
    )
