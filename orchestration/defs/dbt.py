"""dbt models as Dagster assets: raw sources -> staging -> intermediate -> marts."""

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtCliRuntimeError,
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from marts.reads import full_refresh_reason
from orchestration.lib.partitions import GROUP_OWNERS, daily_partitions, single_run_backfill
from orchestration.lib.resources import WarehouseResource, retry_when_locked
from orchestration.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
if not dbt_project.manifest_path.exists():
    # Setup and test fixtures run `dbt parse`; this keeps a bare import working too.
    dbt_project.preparer.prepare(dbt_project)


def incremental_models() -> list[tuple[str, str, bool]]:
    """(schema, name, keeps_versions) of the dbt models materialized incrementally, from the
    manifest (the dbt configuration is the one list of them); keeps_versions: the model keeps
    each key's latest extract version with its ``loaded_at`` (macros/latest_extract_wins.sql)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    return sorted(
        (
            node["schema"],
            node["name"],
            "macro.meio.latest_extract_wins" in node["depends_on"]["macros"],
        )
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    )


class MeioDbtTranslator(DagsterDbtTranslator):
    """Sources map to the raw ingest assets; models are keyed and grouped by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["name"]])
        if dbt_resource_props["resource_type"] == "seed":
            return dg.AssetKey(["policy", dbt_resource_props["name"]])
        layer = dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else "dbt"
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        if dbt_resource_props["resource_type"] == "seed":
            return "policy"
        return dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else "dbt"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        if dbt_resource_props["resource_type"] == "seed":  # the service policy: planners' rules
            return ["team:inventory-planning"]
        return [GROUP_OWNERS["quality"]]

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        return {
            **super().get_tags(dbt_resource_props),
            "domain": self.get_group_name(dbt_resource_props),
        }


translator = MeioDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    partitions_def=daily_partitions,
    backfill_policy=single_run_backfill,
)
def meio_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """dbt build as of the last day of the run's partitions (extracts landed up to that day);
    the incremental staging models are rebuilt where an update would be wrong
    (``marts.reads.full_refresh_reason``: a backfill of the past, tables from before)."""
    as_of = (context.partition_time_window.end - dt.timedelta(days=1)).date()
    # read by the landed_as_of macro; dbt runs in a child process that inherits it
    os.environ["MEIO_AS_OF_DATE"] = as_of.isoformat()
    with warehouse.get_connection() as con:  # closed before dbt opens the file
        reason = full_refresh_reason(con, as_of, incremental_models())
    args = ["build"]
    if reason:
        context.log.info(f"dbt full refresh: {reason}")
        args.append("--full-refresh")
    try:
        yield from dbt.cli(args, context=context).stream()
    except DagsterDbtCliRuntimeError as error:  # dbt-duckdb does not wait for a lock
        retry_when_locked(error, warehouse.lock_retry_seconds)
        raise
