"""Forecasting: classes, model choice, quantiles, lead-time demand, pooling upstream."""

import math
from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest

from forecasting import engine
from forecasting.buckets import bucket_demand
from forecasting.config import QCOLS, ForecastConfig
from forecasting.engine import MIN_CLASS_SERIES, backtest, choose_models, forecast
from forecasting.lead_time import lead_time_demand
from forecasting.models import classify
from forecasting.nodes import forecast_nodes, pooled_variance_check, served_customers
from marts.reads import customer_demand_after, read_customer_buckets

CONFIG = ForecastConfig(horizon=4, season_length=52, n_windows=2, n_jobs=1)


def weekly(values: dict[str, np.ndarray]) -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {
                "unique_id": uid,
                "ds": pd.date_range("2024-01-07", periods=len(v), freq="W-SUN"),
                "y": v.astype(float),
            }
        )
        for uid, v in values.items()
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 60
    intermittent = np.where(rng.random(n) < 0.2, rng.integers(1, 3, n), 0)
    smooth = 50 + 5 * np.sin(np.arange(n) / 4) + rng.normal(0, 3, n)
    return weekly({"slow": intermittent, "fast": smooth, "short": np.array([3, 0, 4, 2, 5.0])})


def test_classes(series):
    classes = classify(series).set_index("unique_id")["demand_class"]
    assert classes["slow"] in ("intermittent", "lumpy")
    assert classes["fast"] == "smooth"


def test_intermittent_series_gets_an_intermittent_model_and_short_series_a_default(series):
    scores = backtest(series, CONFIG).scores
    assert {"CrostonSBA", "ADIDA", "IMAPA"} <= set(scores[scores.unique_id == "slow"].model)
    assert "AutoETS" not in set(scores[scores.unique_id == "slow"].model)
    chosen = choose_models(series, scores).set_index("unique_id")
    # a class of one series cannot choose on its back-test: it takes the global model
    assert chosen.loc["slow", "model"] == "GlobalLightGBM"
    assert chosen.loc["short", "selected_by"].startswith("default")


def test_a_class_of_few_series_takes_the_global_model_a_large_one_its_best():
    """choose_models: a class of MIN_CLASS_SERIES series or more takes its best model pooled
    (a series keeps its own where it beats that by more than the margin); a smaller class takes
    the global model for every series, whatever its back-test said."""
    rng = np.random.default_rng(3)
    ids = {"intermittent": [f"i{k}" for k in range(MIN_CLASS_SERIES)], "smooth": ["s0", "s1"]}
    shape = {
        "intermittent": lambda: np.where(rng.random(60) < 0.3, 1.0, 0.0),
        "smooth": lambda: 20 + rng.normal(0, 1, 60),
    }
    df = weekly({uid: shape[c]() for c, uids in ids.items() for uid in uids})
    loss = {"IMAPA": 1.0, "GlobalLightGBM": 1.2, "AutoETS": 1.0}
    rows = [
        (uid, model, loss[model])
        for c, uids in ids.items()
        for uid in uids
        for model in (
            ("IMAPA", "GlobalLightGBM") if c == "intermittent" else ("AutoETS", "GlobalLightGBM")
        )
    ]
    scores = pd.DataFrame(rows, columns=["unique_id", "model", "scaled_pinball"])
    # one intermittent series where the global model wins by far, one smooth series likewise
    scores.loc[
        (scores.unique_id == "i0") & (scores.model == "GlobalLightGBM"), "scaled_pinball"
    ] = 0.1
    scores.loc[(scores.unique_id == "s0") & (scores.model == "AutoETS"), "scaled_pinball"] = 0.1
    chosen = choose_models(df, scores).set_index("unique_id")["model"]
    assert chosen["i0"] == "GlobalLightGBM"  # its own, better by more than the margin
    assert (chosen[ids["intermittent"][1:]] == "IMAPA").all()  # the class's best
    assert (chosen[ids["smooth"]] == "GlobalLightGBM").all()  # two series: the global model


def test_quantiles_monotone_and_non_negative(series):
    scores = backtest(series, CONFIG).scores
    fc = forecast(series, choose_models(series, scores), CONFIG)
    q = fc[QCOLS].to_numpy()
    assert (q >= 0).all()
    assert (np.diff(q, axis=1) >= -1e-12).all()
    assert len(fc) == 3 * CONFIG.horizon


def test_lead_time_demand_sums_right_on_a_known_series():
    # 4 weekly buckets, mean 7/week, sd 2/week, errors independent
    fc = pd.DataFrame({"unique_id": "x", "step": [1, 2, 3, 4], "mean": 7.0, "sd": 2.0})
    chosen = pd.DataFrame({"unique_id": ["x"], "demand_class": ["smooth"]})
    independent = pd.DataFrame({"demand_class": "all", "k": [1, 2, 3, 4], "variance_ratio": 1.0})
    ltd = lead_time_demand(fc, chosen, independent, bucket_days=7).set_index("periods")
    assert ltd.loc[14, "mean"] == pytest.approx(14.0)
    assert ltd.loc[14, "sd"] == pytest.approx(2 * math.sqrt(2))
    assert ltd.loc[7, "sd"] == pytest.approx(2.0)
    assert ltd.loc[28, "mean"] == pytest.approx(28.0)
    # persistent errors (measured ratio 2 at two buckets) widen the two-week spread
    persistent = independent.assign(variance_ratio=[1.0, 2.0, 2.0, 2.0])
    wider = lead_time_demand(fc, chosen, persistent, bucket_days=7).set_index("periods")
    assert wider.loc[14, "sd"] == pytest.approx(4.0)


def test_upstream_echelon_demand_pools_variance():
    rng = np.random.default_rng(2)
    days = pd.date_range("2025-01-01", periods=7 * 40, freq="D")
    stores = ["S1", "S2", "S3"]
    daily = pd.concat(
        [
            pd.DataFrame(
                {
                    "location_id": s,
                    "sku": "A",
                    "demand_date": days,
                    "demand_qty": rng.poisson(6, len(days)).astype(float),
                }
            )
            for s in stores
        ]
    )
    network = pd.DataFrame(
        {"sku": "A", "source_location_id": ["DC"] * 3, "destination_location_id": stores}
    )
    customers = daily[["location_id", "sku"]].drop_duplicates()
    heard: list[str] = []
    result = forecast_nodes(
        bucket_demand(daily, 7), network, customers, CONFIG, progress=heard.append
    )
    # the long steps say how far they are: back-test then forecast, ending at all 4 series
    assert heard[-1].startswith("forecast: 4 of 4 series")
    assert any(line.startswith("back-test: 4 of 4 series") for line in heard)
    check = pooled_variance_check(
        result.lead_time_demand, served_customers(network, customers), periods=14
    )
    row = check.set_index("location_id").loc["DC"]
    assert row.echelon_sd < row.sum_of_children_sd  # pooling: 3 independent stores
    # independent children: variance of the sum is the sum of variances, up to estimation noise
    assert row.echelon_variance == pytest.approx(row.sum_of_children_variance, rel=0.35)
    assert set(result.accuracy.columns) >= {"scaled_pinball", "coverage_80", "bias", "model"}


def test_nodes_with_history_too_short_to_backtest_still_get_forecasts():
    days = pd.date_range("2025-01-01", periods=7 * 8, freq="D")
    daily = pd.DataFrame({"location_id": "S1", "sku": "A", "demand_date": days, "demand_qty": 2.0})
    network = pd.DataFrame(
        {"sku": ["A"], "source_location_id": ["DC"], "destination_location_id": ["S1"]}
    )
    result = forecast_nodes(
        bucket_demand(daily, 7),
        network,
        daily[["location_id", "sku"]].drop_duplicates(),
        CONFIG,
    )
    assert set(result.models.selected_by) == {"default (too short to back-test)"}
    assert result.accuracy.empty and {"location_id", "sku"} <= set(result.accuracy.columns)
    assert set(result.lead_time_demand.location_id) == {"S1", "DC"}


def test_buckets_are_calendar_buckets_complete_by_the_day():
    from forecasting.buckets import bucket_end

    sunday = pd.Timestamp("2026-03-01")
    assert bucket_end(sunday, 7) == sunday
    for k in range(1, 7):  # Monday .. Saturday: the week before is the latest whole one
        assert bucket_end(sunday + pd.Timedelta(days=k), 7) == sunday
    assert bucket_end(sunday + pd.Timedelta(days=7), 7) == sunday + pd.Timedelta(days=7)
    assert bucket_end(pd.Timestamp("2026-03-04"), 1) == pd.Timestamp("2026-03-04")


def test_buckets_summed_in_the_warehouse_equal_bucket_demand():
    days = pd.date_range("2025-01-01", periods=50, freq="D")
    daily = pd.DataFrame(
        {
            "location_id": "S1",
            "sku": np.repeat(["A", "B"], [50, 45]),
            "demand_date": np.concatenate([days, days[5:]]),  # B starts later
            "demand_qty": np.arange(95, dtype=float),
        }
    )
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.register("daily", daily)
    con.execute(
        "CREATE TABLE marts.fct_customer_demand_daily AS SELECT location_id, sku, "
        "demand_date::DATE AS demand_date, demand_qty FROM daily"
    )
    whole = bucket_demand(daily, 7)
    pd.testing.assert_frame_equal(read_customer_buckets(con, 7), whole)
    # Wednesday 2025-01-01 .. Wednesday 02-19: the calendar weeks Monday 01-06 .. Sunday 02-16
    # are whole; the days before and the week not yet over are left out
    assert whole.groupby("sku").size().to_dict() == {"A": 6, "B": 6}
    assert whole["ds"].min() == pd.Timestamp("2025-01-06")
    assert (whole["ds"].dt.dayofweek == 0).all()
    # until a day: whole buckets ending on it, counted from the mart's first day
    until = days[40]
    pd.testing.assert_frame_equal(
        read_customer_buckets(con, 7, until=until.date()),
        bucket_demand(daily[daily["demand_date"] <= until], 7, (days[0], until)),
    )
    # of some items only: the same buckets as the whole read's rows of those items
    only_b = read_customer_buckets(con, 7, until=until.date(), skus=["B"])
    every = read_customer_buckets(con, 7, until=until.date())
    pd.testing.assert_frame_equal(only_b, every[every["sku"] == "B"].reset_index(drop=True))
    after = customer_demand_after(con, until.date(), skus=["B"])
    assert set(after["sku"]) == {"B"} and len(after) == len(days) - 41


def test_echelon_series_sum_the_customers_each_node_serves():
    from forecasting.nodes import echelon_series

    ds = pd.to_datetime(["2025-01-06", "2025-01-13"])
    buckets = pd.DataFrame(
        {
            "location_id": ["S1", "S1", "S2"],
            "sku": "A",
            "ds": [ds[0], ds[1], ds[1]],
            "y": [3.0, 4.0, 5.0],
        }
    )
    served = pd.DataFrame(
        {
            "location_id": ["S1", "S2", "DC", "DC"],
            "sku": "A",
            "customer_location_id": ["S1", "S2", "S1", "S2"],
        }
    )
    series = echelon_series(buckets, served)
    got = {(r.unique_id, r.ds): r.y for r in series.itertuples()}
    assert got == {
        ("DC|A", ds[0]): 3.0,
        ("DC|A", ds[1]): 9.0,
        ("S1|A", ds[0]): 3.0,
        ("S1|A", ds[1]): 4.0,
        ("S2|A", ds[1]): 5.0,  # no bucket where S2 had no row
    }


def test_backtest_in_chunks_equals_one_call(series, monkeypatch):
    rng = np.random.default_rng(2)
    many = pd.concat(
        [series]
        + [
            weekly({f"fast{i}": 40 + rng.normal(0, 4, 60), f"slow{i}": rng.poisson(0.3, 60)})
            for i in range(3)
        ],
        ignore_index=True,
    )
    whole = backtest(many, CONFIG)
    monkeypatch.setattr(engine, "CHUNK_SERIES", 2)
    chunked = backtest(many, CONFIG)
    key = ["unique_id", "model"]
    pd.testing.assert_frame_equal(
        whole.scores.sort_values(key, ignore_index=True),
        chunked.scores.sort_values(key, ignore_index=True),
    )
    assert whole.calibration == chunked.calibration
    chosen = choose_models(many, whole.scores)
    errors = chunked.errors(chosen)
    # only each series' chosen model, every back-test point of it
    assert set(zip(errors.unique_id, errors.model, strict=True)) <= set(
        zip(chosen.unique_id, chosen.model, strict=True)
    )
    assert errors.groupby("unique_id").size().eq(CONFIG.horizon * CONFIG.n_windows).all()


def test_negative_demand_is_refused_with_the_series_named():
    values = np.full(60, 5.0)
    values[7] = -1
    with pytest.raises(ValueError, match="'returns'.*y = -1"):
        backtest(weekly({"returns": values}), CONFIG)


def test_screening_backtests_the_rest_on_the_candidates_the_sample_chose():
    rng = np.random.default_rng(3)
    level = {f"s{i}": 40 + rng.normal(0, 4, 60) for i in range(8)}
    df = weekly(level)
    config = ForecastConfig(horizon=4, n_windows=2, n_jobs=1, screen_series=3)
    scores = backtest(df, config).scores
    sample = sorted(level)[::3]  # every third of the sorted ids
    sample_chosen = choose_models(
        df[df.unique_id.isin(sample)], scores[scores.unique_id.isin(sample)]
    )
    tested = scores.groupby("unique_id")["model"].apply(set)
    every = set(tested[sample[0]])
    assert all(tested[s] == every for s in sample)
    assert len(every) >= 3  # all smooth candidates
    for rest in set(level) - set(sample):
        assert tested[rest] == set(sample_chosen["model"])


def test_ensemble_is_a_candidate_and_forecasts_the_members_average(series):
    tested = backtest(series, CONFIG)
    assert "Ensemble" in set(tested.scores[tested.scores.unique_id == "fast"].model)
    assert "Ensemble" in set(tested.scores[tested.scores.unique_id == "slow"].model)
    chosen = choose_models(series, tested.scores)
    backtested = chosen["selected_by"] == "backtest"
    as_ensemble = chosen.assign(model=chosen["model"].where(~backtested, "Ensemble"))
    fc = forecast(series, as_ensemble, CONFIG, tested.calibration).set_index(["unique_id", "ds"])
    members = {
        "smooth": ("AutoETS", "DynamicOptimizedTheta"),
        "intermittent": ("TSB", "IMAPA", "AutoTheta"),
    }
    for uid in ("fast", "slow"):
        one = chosen[chosen.unique_id == uid]
        demand_class = one["demand_class"].iloc[0]
        means = [
            forecast(series[series.unique_id == uid], one.assign(model=m), CONFIG)["mean"]
            for m in members[demand_class]
        ]
        np.testing.assert_allclose(fc.loc[uid, "mean"], np.mean(means, axis=0), rtol=1e-5)
        assert (fc.loc[uid, "model"] == "Ensemble").all()


def test_only_trusted_models_roll_forward_between_origins(series):
    rolled = backtest(series, CONFIG).scores.set_index(["unique_id", "model"])["scaled_pinball"]
    refitted = backtest(series, replace(CONFIG, refit=True)).scores.set_index(
        ["unique_id", "model"]
    )["scaled_pinball"]
    # AutoETS and the Croston family are refitted at every origin either way
    for key in [("fast", "AutoETS"), ("fast", "HistoricAverage"), ("slow", "TSB")]:
        assert rolled[key] == pytest.approx(refitted[key], rel=1e-6)
    assert np.isfinite(rolled).all()


def test_recent_dispersion_is_the_variance_to_mean_ratio_of_the_last_buckets():
    from forecasting.calibration import recent_dispersion

    df = pd.DataFrame(
        {
            "unique_id": ["a"] * 5 + ["b"] * 3,
            "ds": list(range(5)) + list(range(3)),
            "y": [0.0, 4.0, 0.0, 8.0, 0.0, 1.0, 1.0, 1.0],
        }
    )
    out = recent_dispersion(df, buckets=4)
    last_four = np.array([4.0, 0.0, 8.0, 0.0])
    assert out[4] == pytest.approx(last_four.var(ddof=1) / last_four.mean())
    assert out[0] == 1.0  # one bucket: Poisson
    assert out[1] == pytest.approx(np.var([0.0, 4.0], ddof=1) / 2.0)
    assert (out[5:] == 1.0).all()  # under-dispersed: floored at a Poisson's


def _three_stores(days: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=days, freq="D")
    stores = ["S1", "S2", "S3"]
    daily = pd.concat(
        [
            pd.DataFrame(
                {
                    "location_id": s,
                    "sku": "A",
                    "demand_date": dates,
                    "demand_qty": rng.poisson(rate, days).astype(float),
                }
            )
            for s, rate in zip(stores, (6, 0.3, 2), strict=True)
        ]
    )
    network = pd.DataFrame(
        {"sku": "A", "source_location_id": ["DC"] * 3, "destination_location_id": stores}
    )
    return daily, network


def test_a_fresh_selection_is_reused_without_backtesting_and_a_stale_one_is_not(monkeypatch):
    import forecasting.nodes as nodes

    daily, network = _three_stores(7 * 60)
    customers = daily[["location_id", "sku"]].drop_duplicates()
    first = forecast_nodes(bucket_demand(daily, 7), network, customers, CONFIG)
    assert not first.reused_selection

    def no_backtest(*args, **kwargs):
        raise AssertionError("a fresh selection must not be back-tested again")

    with monkeypatch.context() as patched:
        patched.setattr(nodes, "backtest", no_backtest)
        # the same data: the same choice, calibration and forecasts as the selecting run
        same = forecast_nodes(bucket_demand(daily, 7), network, customers, CONFIG, first.selection)
        assert same.reused_selection
        pd.testing.assert_frame_equal(same.forecasts, first.forecasts)
        pd.testing.assert_frame_equal(same.lead_time_demand, first.lead_time_demand)
        # three days on (buckets end on the last day): still fresh, refit on the new data
        later, _ = _three_stores(7 * 60 + 3)
        moved = forecast_nodes(bucket_demand(later, 7), network, customers, CONFIG, first.selection)
        assert moved.reused_selection
        assert (moved.models.set_index(["location_id", "sku"])["model"]).equals(
            first.models.set_index(["location_id", "sku"])["model"]
        )
        assert not moved.forecasts["mean"].equals(first.forecasts["mean"])
    # seven days on (the cadence), or other settings: selected again
    week, _ = _three_stores(7 * 60 + 7)
    stale = forecast_nodes(bucket_demand(week, 7), network, customers, CONFIG, first.selection)
    assert not stale.reused_selection
    other = replace(CONFIG, horizon=3)
    assert not forecast_nodes(
        bucket_demand(daily, 7), network, customers, other, first.selection
    ).reused_selection


def test_a_series_new_or_of_another_class_since_the_selection_takes_its_class_model():
    from forecasting.selection import Selection

    weeks = pd.date_range("2025-01-05", periods=40, freq="W-SUN")
    series = pd.DataFrame(
        {
            "unique_id": np.repeat(["kept", "changed", "new"], len(weeks)),
            "ds": np.tile(weeks, 3),
            "y": np.concatenate([np.full(40, 9.0), np.full(40, 7.0), np.full(40, 5.0)]),
        }
    )
    selection = Selection(
        models=pd.DataFrame(
            {
                "unique_id": ["kept", "changed", "other1", "other2"],
                "demand_class": ["smooth", "intermittent", "smooth", "smooth"],
                "model": ["AutoETS", "CrostonSBA", "AutoTheta", "AutoTheta"],
                "scaled_pinball": [0.1, 0.2, 0.3, 0.3],
                "selected_by": "backtest",
            }
        ),
        calibration={},
        error_correlation=pd.DataFrame(),
        accuracy=pd.DataFrame(),
        selected_on=weeks[-1],
        settings="",
    )
    chosen = selection.carried_over(series).set_index("unique_id")
    assert chosen.loc["kept", "model"] == "AutoETS"
    assert chosen.loc["kept", "selected_by"] == "backtest"
    for uid in ("changed", "new"):  # both smooth now: smooth's most chosen model
        assert chosen.loc[uid, "model"] == "AutoTheta"
        assert chosen.loc[uid, "selected_by"].startswith("class's most chosen model")
