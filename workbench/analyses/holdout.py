"""Planning the next holdout: how small a lift can a campaign of this size detect, on this chain's members?

The baseline (mean and spread of visits, revenue or conversion per member over a window) is measured in
the engine on the members who would be eligible: those with a visit in the ``active_days`` before as_of.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from workbench import stats
from workbench.analyses import scope
from workbench.data.store import Store
from workbench.data.visits import visits
from workbench.errors import ParameterError, choices_message

PLAN_METRICS = ("visits", "revenue", "converted")
# Holdout shares to compare when none are given: the usual 5-50% range of chains' campaign tools.
DEFAULT_HOLDOUT_SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)


def holdout_plan(
    db: Store,
    *,
    eligible_members: int | None = None,
    holdout_shares=DEFAULT_HOLDOUT_SHARES,
    metric: str = "visits",
    window_days: int = 14,
    active_days: int = 90,
    as_of=None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """Minimum detectable effect per holdout share.

    Baseline: per-member ``metric`` over the last ``window_days`` before as_of among members with a visit
    in the ``active_days`` before that window (the usual eligibility of a wake-up or coupon campaign).
    ``eligible_members`` defaults to that population's size.

    Columns: holdout_share (share 0-1), n_treatment, n_control (members), baseline_mean, sd (per member,
    metric units), mde (absolute, metric units per member), mde_relative (share of the baseline mean),
    alpha, power.
    """
    if metric not in PLAN_METRICS:
        raise ParameterError(choices_message("metric", metric, PLAN_METRICS))
    as_of = scope.resolve_as_of(db, as_of)
    window_start = as_of - dt.timedelta(days=window_days - 1)
    active_start = window_start - dt.timedelta(days=active_days)
    v = visits(db, as_of=as_of)
    v = v.filter(v.day >= ibis.literal(active_start))
    in_window = v.day >= ibis.literal(window_start)
    per_member = v.group_by("member_id").aggregate(
        active=(~in_window).any(),
        visits=in_window.cast("int64").sum(),
        revenue=ibis.ifelse(in_window, v.amount, 0.0).sum(),
    )
    per_member = per_member.filter(per_member.active)
    y = {"visits": per_member.visits.cast("float64"), "revenue": per_member.revenue.cast("float64"),
         "converted": (per_member.visits > 0).cast("float64")}[metric]  # fmt: skip
    row = per_member.aggregate(n=per_member.count(), mean=y.mean(), var=y.var()).to_pandas().iloc[0]
    population = int(row["n"])
    n = int(eligible_members) if eligible_members is not None else population
    if n < 4 or population < 2:
        raise ParameterError(
            f"too few eligible members ({n}) to plan a holdout; expected at least 4 members with a visit in the "
            f"{active_days} days before {window_start.isoformat()}."
        )
    rows = []
    for share in holdout_shares:
        if not 0 < float(share) < 1:
            raise ParameterError(f"holdout_share={share!r} is not valid; expected a share between 0 and 1.")
        n_control = max(1, round(n * float(share)))
        r = stats.minimum_detectable_effect(
            n - n_control, n_control, sd=float(row["var"]) ** 0.5, baseline_mean=float(row["mean"]),
            alpha=alpha, power=power,
        )  # fmt: skip
        rows.append({"holdout_share": float(share), "n_treatment": n - n_control, "n_control": n_control,
                     "baseline_mean": float(row["mean"]), "sd": r.sd, "mde": r.mde,
                     "mde_relative": r.mde_relative, "alpha": alpha, "power": power})  # fmt: skip
    return pd.DataFrame(rows)
