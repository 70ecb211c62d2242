"""Raw ingest assets: one per extract, partitioned by extract day, validated before loading."""

import datetime as dt

import dagster as dg
from dagster_duckdb import DuckDBResource

from extracts.contract import EXTRACTS
from extracts.ingest import ingest_extract
from extracts.validate import ExtractError, WarehouseWriteError
from orchestration.lib.partitions import daily_partitions, group_properties, single_run_backfill
from orchestration.lib.resources import LandingResource

RAW = group_properties("raw")


def build_raw_asset(name: str) -> dg.AssetsDefinition:
    extract = EXTRACTS[name]

    @dg.asset(
        key=["raw", name],
        group_name="raw",
        partitions_def=daily_partitions,
        backfill_policy=single_run_backfill,
        kinds={"duckdb", "csv"},
        description=f"{extract.description} Loaded as text from <landing>/<day>/{name}.csv|parquet.",
        owners=RAW["owners"],
        tags={"system": extract.system, **RAW["tags"]},
        code_version=RAW["code_version"],
    )
    def raw_extract(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource, landing: LandingResource
    ) -> dg.MaterializeResult:
        loaded = {}
        for key in context.partition_keys:
            day = dt.date.fromisoformat(key)
            try:
                with warehouse.get_connection() as con:  # checked and loaded batch by batch
                    result = ingest_extract(con, landing.root, day, name)
            except ExtractError as error:
                raise dg.Failure(
                    description=f"Extract {name} of {key} rejected and quarantined:\n{error}",
                    metadata={"file": str(error.path), "failures": len(error.failures)},
                ) from error
            except WarehouseWriteError as error:
                raise dg.Failure(
                    description=f"Extract {name} of {key} not loaded, the file is fine: {error}. "
                    "Free space on the warehouse's disk and re-run this day."
                ) from error
            loaded[key] = result.rows
            context.log.info(f"{name} {key}: {result.rows} rows from {result.source_file}")
        return dg.MaterializeResult(
            metadata={
                "rows_loaded": dg.MetadataValue.int(sum(loaded.values())),
                "days": dg.MetadataValue.json(loaded),
            }
        )

    return raw_extract


raw_assets = [build_raw_asset(name) for name in EXTRACTS]
