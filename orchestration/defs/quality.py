"""Blocking pandera asset checks on the marts: a failure stops publication of the run."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from marts.checks import MART_SCHEMAS, check_mart_in_warehouse
from orchestration.lib.keys import mart_key


def build_mart_check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=mart_key(name),
        name=f"{name}_pandera",
        blocking=True,
        description=f"pandera rules on marts.{name} (marts/checks.py).",
    )
    def mart_check(warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            failures, rows = check_mart_in_warehouse(con, name)
        return dg.AssetCheckResult(
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            description="\n".join(failures[:10]) if failures else f"{rows} rows pass",
            metadata={"rows": rows, "failures": len(failures)},
        )

    return mart_check


mart_checks = [build_mart_check(name) for name in MART_SCHEMAS]
