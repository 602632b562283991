"""Campaign lift on the simulated chain recovers the lift the simulator planted.

The simulator states, per campaign and per latent segment (price-sensitive or not), the expected extra
visits per treated member. Each randomised campaign's 95% interval should contain it about 95% of the
time; with 27 (campaign, segment) cells a few misses are expected, so the test asks for at least 80% and,
more sharply, that the estimates are not biased: the mean of (estimate - planted) / standard error over
the campaigns is within the sampling band of a mean of independent standard normals.
"""

import json
import math
import warnings

import pandas as pd
import pytest

import workbench as wb
from workbench.data import simulate
from workbench.data.simulate import truth_members_path, truth_path

SEGMENTS = {"all": "all", "true": "price_sensitive", "false": "not_price_sensitive"}


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    path = tmp_path_factory.mktemp("lift") / "chain.duckdb"
    simulate.simulate_chain(path, members=20_000, weeks=104, seed=5)
    truth = json.loads(truth_path(path).read_text(encoding="utf-8"))["campaigns"]
    latent = pd.read_parquet(truth_members_path(path))[["member_id", "price_sensitive"]]
    db = wb.connect(path)
    rows = []
    for campaign in truth:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wb.ThinDataWarning)
            result = wb.campaign_lift(db, campaign["campaign_id"], segment_by=latent)
        visits = result.lift[result.lift.metric == "visits"].set_index("segment")
        for segment, key in SEGMENTS.items():
            planted = campaign["segments"][key]["expected_incremental_visits_per_treated"]
            r = visits.loc[segment]
            rows.append({"campaign": campaign["campaign_id"], "randomised": campaign["randomised"],
                         "observational": result.observational, "segment": segment, "planted": planted,
                         "estimate": r.abs_lift, "low": r.abs_low, "high": r.abs_high})  # fmt: skip
    return pd.DataFrame(rows)


def test_designs_follow_the_planted_holdouts(recovered):
    per_campaign = recovered.drop_duplicates("campaign")
    assert (per_campaign.randomised != per_campaign.observational).all()
    assert per_campaign.observational.sum() == 1


def test_planted_lift_per_segment_lies_inside_most_intervals(recovered):
    randomised = recovered[recovered.randomised]
    inside = (randomised.low <= randomised.planted) & (randomised.planted <= randomised.high)
    assert inside.mean() >= 0.8, randomised[~inside].to_string()


def test_randomised_estimates_are_not_biased(recovered):
    overall = recovered[recovered.randomised & (recovered.segment == "all")]
    se = (overall.high - overall.low) / (2 * 1.96)
    z = (overall.estimate - overall.planted) / se
    band = 2.58 / math.sqrt(len(z))  # 99% band of the mean of len(z) standard normals
    assert abs(z.mean()) < band, z.round(2).tolist()


def test_price_sensitive_members_respond_more(recovered):
    randomised = recovered[recovered.randomised].pivot(index="campaign", columns="segment", values="estimate")
    assert (randomised["true"] > randomised["false"]).mean() >= 0.7
