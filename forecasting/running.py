"""Running statsforecast (here, or on a Dask cluster) and the global model on a frame of
series: the candidates' forecasts or cross-validation in statsforecast's layout."""

from __future__ import annotations

import contextlib
import signal
import threading

import pandas as pd
from statsforecast import StatsForecast

from forecasting.config import LEVELS, ForecastConfig
from forecasting.global_model import GlobalQuantileGBM


@contextlib.contextmanager
def _default_sigterm():
    """statsforecast forks worker processes and ends them with SIGTERM; a host (Dagster) that
    installed its own SIGTERM handler would have it raise in every worker. Fork with the default."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_models(
    models: list, df: pd.DataFrame, config: ForecastConfig, backtest: bool
) -> pd.DataFrame:
    """statsforecast's frame (cross-validation or forecast) of ``models``: the local ones run by
    statsforecast, the global ones (``GlobalQuantileGBM``) by themselves in this process, their
    columns joined on the same rows."""
    local = [m for m in models if not isinstance(m, GlobalQuantileGBM)]
    out = None
    if local:
        with _default_sigterm():
            out = _run_statsforecast(local, df, config, backtest)
    for model in (m for m in models if isinstance(m, GlobalQuantileGBM)):
        freq = statsforecast_freq(df)
        frame = (
            model.cross_validate(df, freq, config.horizon, config.n_windows, LEVELS, config.n_jobs)
            if backtest
            else model.forecast(df, freq, config.horizon, LEVELS, config.n_jobs)
        )
        if out is None:
            out = frame
            continue
        keys = [k for k in ("unique_id", "ds", "cutoff") if k in out.columns]
        frame = frame.astype({"unique_id": out["unique_id"].dtype})
        joined = out.merge(frame.drop(columns=["y"], errors="ignore"), on=keys, how="left")
        if joined[repr(model)].isna().any():
            raise RuntimeError(f"{model!r} returned other series or dates than statsforecast")
        out = joined
    return out


def _run_statsforecast(
    models: list, df: pd.DataFrame, config: ForecastConfig, backtest: bool
) -> pd.DataFrame:
    if config.dask_scheduler is not None:
        return _run_on_dask(models, df, config, backtest)
    sf = StatsForecast(models=models, freq=statsforecast_freq(df), n_jobs=config.n_jobs)
    return _call(sf, df, config, backtest)


def _call(sf: StatsForecast, data, config: ForecastConfig, backtest: bool):
    if backtest:
        return sf.cross_validation(
            h=config.horizon,
            df=data,
            n_windows=config.n_windows,
            step_size=config.horizon,
            level=list(LEVELS),
            refit=config.refit,
        )
    return sf.forecast(h=config.horizon, df=data, level=list(LEVELS))


def _run_on_dask(
    models: list, df: pd.DataFrame, config: ForecastConfig, backtest: bool
) -> pd.DataFrame:
    """The same call with a Dask DataFrame on the cluster at ``config.dask_scheduler``:
    statsforecast hands it to Fugue's Dask engine, which partitions by series and submits the
    work through the default client opened here."""
    import dask.dataframe as dd
    from distributed import Client

    with Client(config.dask_scheduler, set_as_default=True) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        data = dd.from_pandas(df, npartitions=2 * workers)
        sf = StatsForecast(models=models, freq=statsforecast_freq(df), n_jobs=1)
        return _from_dask(_call(sf, data, config, backtest))


def _from_dask(out) -> pd.DataFrame:
    """Computed back to the local engine's layout: float64 values, datetime64 dates, rows by
    series then date (Fugue returns float32 values and Arrow timestamps in any order)."""
    frame = out.compute() if hasattr(out, "compute") else out
    frame = frame.astype({"unique_id": str})
    for column in ("ds", "cutoff"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    values = [c for c in frame.columns if c not in ("unique_id", "ds", "cutoff")]
    frame[values] = frame[values].astype("float64")
    keys = [c for c in ("unique_id", "cutoff", "ds") if c in frame]
    return frame.sort_values(keys, ignore_index=True)


def statsforecast_freq(df: pd.DataFrame) -> str:
    first = df.loc[df["unique_id"] == df["unique_id"].iloc[0], "ds"].sort_values()
    step = (first.iloc[1] - first.iloc[0]).days if len(first) > 1 else 7
    return (
        "D" if step == 1 else ("W-" + first.iloc[0].day_name()[:3].upper() if step == 7 else "MS")
    )
