"""Blocking asset checks on the marts (pandera rules; no landing day held): a failure stops
publication of the run."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from marts.checks import MART_SCHEMAS, check_mart_in_warehouse
from orchestration.lib.keys import mart_key
from orchestration.lib.resources import LandingResource


def build_mart_check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart_key(name),
        name=f"{name}_pandera",
        blocking=True,
        description=f"pandera rules on marts.{name} (marts/checks.py; a mart of days: the "
        "days new or changed since they last passed).",
    )
    def mart_check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            outcome = check_mart_in_warehouse(con, name)
        passed = (
            f"{outcome.rows:,} rows pass"
            if outcome.days_checked is None
            else f"{outcome.rows:,} rows pass ({outcome.rows_checked:,} rows of "
            f"{outcome.days_checked:,} new or changed days checked in this run)"
        )
        return dg.AssetCheckResult(
            passed=not outcome.failures,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(outcome.failures[:10]) if outcome.failures else passed,
            metadata={
                "rows": outcome.rows,
                "rows_checked": outcome.rows_checked,
                "failures": len(outcome.failures),
            },
        )

    return mart_check


mart_checks = [build_mart_check(name) for name in MART_SCHEMAS]


@dg.asset_check(
    asset=mart_key("fct_customer_demand_daily"),
    name="no_landing_day_held",
    blocking=True,
    description="Every extract of every landing day up to the latest loaded one is loaded: a "
    "day with an extract quarantined or never delivered is held, and no plan is published "
    "without it (extracts.ingest.held_days).",
)
def no_landing_day_held(warehouse: DuckDBResource, landing: LandingResource) -> dg.AssetCheckResult:
    from extracts.ingest import held_days

    with warehouse.get_connection() as con:
        held = held_days(con, landing.root)
    lines = [
        f"{row.extract_date} {row.extract}: {row.reason}" for row in held.itertuples(index=False)
    ]
    return dg.AssetCheckResult(
        passed=held.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{held['extract_date'].nunique()} landing day(s) held, the plan is not published "
            "without them (load a fixed file into the day folder and re-run that day):\n"
            + "\n".join(lines[:10])
        )
        if lines
        else "every landing day up to the latest loaded one is complete",
        metadata={"held_extracts": len(lines)},
    )
