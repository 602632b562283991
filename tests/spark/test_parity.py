"""The same analyses on DuckDB and on Spark give the same frames.

One small simulated chain (PARITY_MEMBERS members, PARITY_WEEKS weeks), exported to Parquet and registered
in a local Spark session; each analysis runs on both engines with the same parameters, and every frame
of the result is compared: same columns, same dtypes as delivered, then the values after sorting by the
non-float columns, floats to a relative 1e-9 (Spark and DuckDB add in different orders). Scalars and
params are compared the same way. This is the evidence behind DESIGN.md's "Engines": a chain that moves
to Spark gets the numbers it had.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.churn import churn_drivers, churn_survival, churn_threshold, member_lifetimes
from workbench.analyses.cohorts import cohort_retention
from workbench.analyses.lifecycle import lifecycle
from workbench.analyses.lift import campaign_lift, campaigns_overview
from workbench.analyses.overview import weekly_kpis
from workbench.analyses.repurchase import repurchase_cycle
from workbench.analyses.vip import vip_comparison
from workbench.analyses.wake_up import wake_up_list
from workbench.data import simulate
from workbench.data.spark import spark_store
from workbench.errors import ThinDataWarning

pytestmark = pytest.mark.spark

PARITY_MEMBERS = 1_500
PARITY_WEEKS = 40
PARITY_SEED = 11
PARITY_END = "2026-11-22"
# Floats may differ by summation order only: relative 1e-9, and 1e-12 absolute for values that are zero
# up to rounding (a difference of two equal sums).
RTOL, ATOL = 1e-9, 1e-12


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("parity") / "chain.duckdb"
    simulate.simulate_chain(
        path, members=PARITY_MEMBERS, weeks=PARITY_WEEKS, seed=PARITY_SEED, end=PARITY_END
    )
    return path


@pytest.fixture(scope="module")
def engines(spark, chain, tmp_path_factory):
    """(DuckDB store, Spark store) of the same chain."""
    on_spark = spark_store(spark, chain, parquet_dir=tmp_path_factory.mktemp("parquet"), cache=True)
    on_duckdb = wb.connect(chain)
    assert on_spark.backend.name == "pyspark" and on_duckdb.backend.name == "duckdb"
    yield on_duckdb, on_spark
    on_duckdb.close()


@pytest.fixture(scope="module")
def truth(chain):
    return json.loads(simulate.truth_path(chain).read_text(encoding="utf-8"))


def both(engines, analysis, *args, **kwargs):
    """Run ``analysis`` on DuckDB and on Spark; the warnings must match too."""
    results, warned = [], []
    for db in engines:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ThinDataWarning)
            results.append(analysis(db, *args, **kwargs))
        warned.append(sorted(str(w.message) for w in caught if issubclass(w.category, ThinDataWarning)))
    assert warned[0] == warned[1]
    return results


# -- comparing --------------------------------------------------------------------------------------------


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetimes as naive datetime64[ns] (UTC when aware), numbers and flags as float64 (NaN for missing),
    everything else as text (None for missing)."""
    out = {}
    for column in frame.columns:
        s = frame[column]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = pd.to_datetime(s)
            if s.dt.tz is not None:
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            out[column] = s.astype("datetime64[ns]")
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[column] = s.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        else:
            out[column] = s.map(
                lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            )
    return pd.DataFrame(out, index=range(len(frame)))


def assert_same_frame(duck: pd.DataFrame, spark: pd.DataFrame, what: str) -> None:
    assert list(duck.columns) == list(spark.columns), what
    assert duck.dtypes.astype(str).tolist() == spark.dtypes.astype(str).tolist(), what
    assert len(duck) == len(spark), what
    a, b = normalised(duck), normalised(spark)
    keys = [c for c in a.columns if a[c].dtype != "float64"]
    floats = [c for c in a.columns if a[c].dtype == "float64"]

    def ordered(f: pd.DataFrame) -> pd.DataFrame:
        # Rounded floats only break ties between rows with equal keys.
        rounded = f[floats].round(6).add_prefix("_r_")
        by = keys + list(rounded.columns)
        return (
            f.join(rounded)
            .sort_values(by, kind="stable", na_position="last")[f.columns]
            .reset_index(drop=True)
        )

    pd.testing.assert_frame_equal(ordered(a), ordered(b), rtol=RTOL, atol=ATOL, obj=what)


def assert_same(duck, spark, what: str) -> None:
    """Frames, dataclass results, dicts, sequences and scalars, compared recursively."""
    if isinstance(duck, pd.DataFrame):
        assert isinstance(spark, pd.DataFrame), what
        assert_same_frame(duck, spark, what)
    elif dataclasses.is_dataclass(duck):
        assert type(duck) is type(spark), what
        for f in dataclasses.fields(duck):
            if f.name.startswith("_") or not f.compare:
                continue  # the store handle, fitted lifelines objects
            assert_same(getattr(duck, f.name), getattr(spark, f.name), f"{what}.{f.name}")
    elif isinstance(duck, dict):
        assert set(duck) == set(spark), what
        for key in duck:
            assert_same(duck[key], spark[key], f"{what}[{key!r}]")
    elif isinstance(duck, list | tuple):
        assert len(duck) == len(spark), what
        for i, (x, y) in enumerate(zip(duck, spark, strict=True)):
            assert_same(x, y, f"{what}[{i}]")
    elif isinstance(duck, float | np.floating) and not isinstance(duck, bool):
        if math.isnan(duck):
            assert math.isnan(spark), what
        else:
            assert spark == pytest.approx(duck, rel=RTOL, abs=ATOL), what
    else:
        assert duck == spark, what


# -- the comparer itself must catch differences ---------------------------------------------------------------


def test_comparison_catches_a_changed_value_a_missing_row_and_another_dtype():
    a = pd.DataFrame({"segment": ["x", "y"], "n": [1, 2], "share": [0.25, 0.5]})
    assert_same_frame(a, a.iloc[::-1].reset_index(drop=True), "row order does not matter")
    assert_same_frame(a, a.assign(share=[0.25, 0.5 * (1 + 1e-12)]), "summation-order noise")
    with pytest.raises(AssertionError):
        assert_same_frame(a, a.assign(share=[0.25, 0.5001]), "value")
    with pytest.raises(AssertionError):
        assert_same_frame(a, a.iloc[:1], "rows")
    with pytest.raises(AssertionError):
        assert_same_frame(a, a.assign(n=a["n"].astype("float64")), "dtype")


# -- the analyses ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"period": "month", "segment_by": "join_channel"},
        {"period": "week", "cohort_by": "join", "segment_by": "latent"},
        {"period": "day", "max_age": 21, "channels": ["dine_in", "mini_program"]},
    ],
    ids=["month-by-channel", "week-join-latent", "day-channels"],
)
def test_cohort_retention_is_the_same_on_spark(engines, chain, params):
    if params.get("segment_by") == "latent":
        # A DataFrame segment travels to Spark as an in-memory table (ibis memtable).
        latent = pd.read_parquet(simulate.truth_members_path(chain), columns=["member_id", "price_sensitive"])
        params = {**params, "segment_by": latent}
    duck, spark = both(engines, cohort_retention, **params)
    assert duck.table["observable"].any() and duck.table["active"].sum() > 0  # not two empty results
    assert_same(duck, spark, "cohort_retention")


def test_repurchase_cycle_is_the_same_on_spark(engines):
    duck, spark = both(engines, repurchase_cycle, segment_by="link_mode")
    assert not duck.group_effect.empty  # the within-member group comparison ran on both
    assert_same(duck, spark, "repurchase_cycle")


def test_churn_threshold_and_lifetimes_are_the_same_on_spark(engines):
    duck_t, spark_t = both(engines, churn_threshold)
    assert duck_t == spark_t
    duck, spark = both(engines, member_lifetimes, segment_by="vip", threshold_days=duck_t)
    assert duck["churned"].any() and not duck["churned"].all()
    assert_same(duck, spark, "member_lifetimes")
    assert duck.attrs == spark.attrs


def test_churn_survival_is_the_same_on_spark(engines):
    duck, spark = both(engines, churn_survival, segment_by="vip")
    assert set(duck.segments) == {"true", "false"}
    assert_same(duck, spark, "churn_survival")


def test_churn_drivers_are_the_same_on_spark(engines):
    duck, spark = both(engines, churn_drivers)
    assert duck.events > 0
    assert_same(duck, spark, "churn_drivers")


def test_wake_up_list_is_the_same_on_spark(engines):
    duck, spark = both(engines, wake_up_list, segment_by="join_channel")
    assert len(duck) > 0
    assert_same(duck, spark, "wake_up_list")
    assert duck.attrs == spark.attrs


def _campaign(truth, *, randomised: bool) -> str:
    found = [c for c in truth["campaigns"] if c["randomised"] is randomised]
    assert found, f"the simulated chain has no {'randomised' if randomised else 'observational'} campaign"
    return max(found, key=lambda c: sum(c["assigned"].values()))["campaign_id"]


@pytest.mark.parametrize("randomised", [True, False], ids=["randomised", "observational"])
def test_campaign_lift_is_the_same_on_spark(engines, truth, randomised):
    campaign = _campaign(truth, randomised=randomised)
    segment_by = "price_sensitive" if randomised else None
    duck, spark = both(engines, campaign_lift, campaign, segment_by=segment_by)
    assert duck.design == ("randomised" if randomised else "observational")
    assert_same(duck, spark, f"campaign_lift({campaign})")


def test_campaigns_overview_is_the_same_on_spark(engines, truth):
    duck, spark = both(engines, campaigns_overview)
    assert sorted(duck["campaign_id"]) == sorted(c["campaign_id"] for c in truth["campaigns"])
    assert_same(duck, spark, "campaigns_overview")


@pytest.mark.parametrize(
    "params",
    [{"period": "week"}, {"period": "month", "segment_by": "join_channel"}],
    ids=["week", "month-by-channel"],
)
def test_lifecycle_is_the_same_on_spark(engines, params):
    duck, spark = both(engines, lifecycle, **params)
    assert duck.counts["members"].sum() > 0 and not duck.flows.empty
    assert_same(duck, spark, "lifecycle")


def test_vip_comparison_is_the_same_on_spark(engines):
    duck, spark = both(engines, vip_comparison)
    assert duck.before_after["members"].sum() > 0 and duck.groups["members"].min() > 0
    assert_same(duck, spark, "vip_comparison")


def test_weekly_kpis_are_the_same_on_spark(engines):
    duck, spark = both(engines, weekly_kpis)
    assert duck.kpis["value"].notna().any()
    assert_same(duck, spark, "weekly_kpis")


def test_a_city_is_the_same_on_spark(engines):
    # Home stores and the join day by instant (members joined by the end of the day in the chain's zone).
    stores = engines[0].stores.select("city").to_pandas()
    city = str(stores["city"].value_counts().index[0])
    duck, spark = both(engines, weekly_kpis, cities=[city])
    assert duck.kpis.set_index("kpi").loc["members", "value"] > 0
    assert_same(duck, spark, "weekly_kpis")
    duck, spark = both(engines, lifecycle, period="week", cities=[city])
    assert duck.counts["members"].sum() > 0
    assert_same(duck, spark, "lifecycle")


def test_a_store_reads_its_members_alone_the_same_on_spark(engines):
    # Visits, group spells and VIP switches narrowed to the members of one store before they are aggregated.
    stores = engines[0].stores.select("store_id").to_pandas()
    store = str(sorted(stores["store_id"])[0])
    duck, spark = both(engines, cohort_retention, period="month", stores=[store])
    assert duck.table["cohort_size"].sum() > 0
    assert_same(duck, spark, "cohort_retention")
    duck, spark = both(engines, repurchase_cycle, stores=[store])
    assert_same(duck, spark, "repurchase_cycle")
    duck, spark = both(engines, churn_survival, segment_by="vip", stores=[store])
    assert_same(duck, spark, "churn_survival")
    duck, spark = both(engines, wake_up_list, stores=[store])
    assert len(duck) > 0
    assert_same(duck, spark, "wake_up_list")


def test_both_engines_read_the_same_as_of(engines):
    from workbench.analyses.scope import resolve_as_of

    duck, spark = engines
    assert resolve_as_of(duck) == resolve_as_of(spark) == dt.date.fromisoformat(PARITY_END)


# -- the operations team's analyses ----------------------------------------------------------------------------


def test_member_tags_and_rfm_are_the_same_on_spark(engines):
    from workbench.analyses.segments import member_tags

    duck, spark = both(engines, member_tags)
    assert duck.members["rfm_class"].nunique() > 3
    assert_same(duck, spark, "member_tags")


def test_revenue_pareto_is_the_same_on_spark(engines):
    from workbench.analyses.pareto import revenue_pareto

    duck, spark = both(engines, revenue_pareto)
    assert duck.points["revenue_share"].gt(0).all()
    assert_same(duck, spark, "revenue_pareto")


def test_acquisition_quality_and_funnel_are_the_same_on_spark(engines):
    from workbench.analyses.acquisition import acquisition_quality
    from workbench.analyses.funnel import acquisition_funnel

    duck, spark = both(engines, acquisition_quality)
    assert duck.table["members"].sum() > 0
    assert_same(duck, spark, "acquisition_quality")
    duck, spark = both(engines, acquisition_funnel)
    assert duck.steps["members"].sum() > 0
    assert_same(duck, spark, "acquisition_funnel")


def test_groups_are_the_same_on_spark(engines):
    from workbench.analyses.groups import group_overview, messaging_and_leaving

    duck, spark = both(engines, group_overview)
    assert duck.groups["members_now"].sum() > 0 and not duck.trend.empty
    assert_same(duck, spark, "group_overview")
    duck, spark = both(engines, messaging_and_leaving)
    assert duck.groups["leaves"].sum() > 0
    assert_same(duck, spark, "messaging_and_leaving")


def test_touch_response_is_the_same_on_spark(engines):
    from workbench.analyses.touches import touch_response

    duck, spark = both(engines, touch_response)
    assert set(duck.cells["role"]) == {"touched", "control"}
    assert_same(duck, spark, "touch_response")


def test_link_modes_are_the_same_on_spark(engines):
    from workbench.analyses.link_modes import link_mode_quality

    duck, spark = both(engines, link_mode_quality)
    assert duck.table["members"].sum() > 0
    assert_same(duck, spark, "link_mode_quality")


def test_weekly_kpi_trend_and_holdout_plan_are_the_same_on_spark(engines):
    from workbench.analyses.holdout import holdout_plan
    from workbench.analyses.overview import weekly_kpi_trend

    duck, spark = both(engines, weekly_kpi_trend, weeks=8)
    assert duck["week"].nunique() == 8
    assert_same(duck, spark, "weekly_kpi_trend")
    duck, spark = both(engines, holdout_plan)
    assert duck["mde"].gt(0).all()
    assert_same(duck, spark, "holdout_plan")
