import warnings

import dagster as dg

from orchestration.settings import PARTITIONS_START

warnings.filterwarnings("ignore", category=dg.BetaWarning)

# One partition per extract day; every asset is partitioned by it so that a run is "as of" a day.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
single_run_backfill = dg.BackfillPolicy.single_run()
