import functools
import hashlib
import warnings

import dagster as dg

from orchestration.settings import PROJECT_ROOT, partitions_start, timezone

warnings.filterwarnings("ignore", category=dg.BetaWarning)

# One partition per extract day; every asset is partitioned by it so that a run is "as of" a day.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start(), end_offset=1, timezone=timezone()
)
single_run_backfill = dg.BackfillPolicy.single_run()


# who answers for each group's assets, and the libraries whose code they run (their
# code_version changes when that code does)
GROUP_OWNERS = {
    "raw": "team:data-platform",
    "quality": "team:data-platform",
    "serving": "team:data-platform",
    "forecast": "team:demand-planning",
    "optimization": "team:inventory-planning",
    "simulation": "team:inventory-planning",
    "scenario": "team:inventory-planning",
}
GROUP_LIBRARIES = {
    "raw": ("extracts",),
    "quality": ("marts",),
    "serving": ("marts", "serving"),
    "forecast": ("marts", "forecasting", "distributions"),
    "optimization": ("marts", "optimization", "distributions"),
    "simulation": ("marts", "simulation", "optimization", "forecasting", "distributions"),
    "scenario": ("marts", "simulation", "optimization", "distributions"),
}


@functools.cache
def source_version(packages: tuple[str, ...]) -> str:
    """A short hash of the Python sources of ``packages`` (folders of the project); read once
    per process (assets of one group share it)."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def group_properties(group: str) -> dict:
    """owners, tags and code_version of an asset of ``group``."""
    return {
        "owners": [GROUP_OWNERS[group]],
        "tags": {"domain": group},
        "code_version": source_version(GROUP_LIBRARIES[group]),
    }


def daily_asset(
    key: list[str],
    deps: list[dg.AssetKey],
    description: str,
    kinds: set[str] | None = None,
    freshness_policy: dg.FreshnessPolicy | None = None,
):
    """A Python asset of the pipeline: partitioned by extract day, backfilled in one run, grouped
    by the first part of its key, with that group's owner, tag and code version."""
    return dg.asset(
        key=key,
        group_name=key[0],
        deps=deps,
        partitions_def=daily_partitions,
        backfill_policy=single_run_backfill,
        kinds=kinds or {"python", "duckdb"},
        description=description,
        freshness_policy=freshness_policy,
        **group_properties(key[0]),
    )
