"""Campaign outcomes per assigned member, computed in the engine (the input of campaign lift).

One row per member of a campaign: the arm, the outcome window's visits / revenue / margin, the same
measures in the pre-period (the CUPED covariate), and the campaign's coupon use. ``arm_moments`` reduces
those rows, still in the engine, to sufficient statistics (n, sums, sums of squares, cross products with
the pre-period) per arm and segment, which is all the statistics need.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pandas as pd

from workbench.data import calendar
from workbench.data.store import Store
from workbench.data.visits import visits
from workbench.errors import ParameterError

# Outcomes per member and the pre-period covariate each is adjusted with (CUPED).
METRICS = ("converted", "visits", "revenue", "margin")
PRE_COVARIATE = {
    "converted": "pre_visits",
    "visits": "pre_visits",
    "revenue": "pre_revenue",
    "margin": "pre_margin",
}
# The same outcome over an equal window just before the campaign (the "before" of difference-in-differences).
PRE_WINDOW = {metric: f"prewin_{metric}" for metric in METRICS}

# Share of the menu price that is contribution margin after food cost. Restaurant food cost runs at about
# 30-40% of menu price, so 0.65 is a common planning value; chains pass their own.
DEFAULT_MARGIN_RATE = 0.65
# Outcome window of a campaign that does not state one: a month, the usual validity of a coupon.
DEFAULT_WINDOW_DAYS = 30
# Days before assignment whose behaviour is the CUPED covariate (a quarter: long enough to see a regular's
# rhythm, short enough to describe the member at the campaign).
DEFAULT_PRE_DAYS = 90


@dataclass(frozen=True)
class CampaignInfo:
    """The campaign row, with the window and arms as observed."""

    campaign_id: str
    name: str
    kind: str
    starts_on: dt.date
    ends_on: dt.date
    holdout_share: float
    coupon_value: float
    window_days: int


def campaign_info(
    db: Store, campaign_id: str, *, default_window_days: int = DEFAULT_WINDOW_DAYS
) -> CampaignInfo:
    """The campaign ``campaign_id``; a ParameterError lists the valid ids when it does not exist."""
    db.require("campaigns", "assignments", needed_by="campaign lift")
    c = db.campaigns
    c = c.filter(c.campaign_id == str(campaign_id))
    # Local days in the engine (its session zone is the chain's): engines differ in how they hand
    # timestamps to pandas (DuckDB tz-aware, Spark naive wall-clock), dates travel the same way everywhere.
    row = c.mutate(
        starts_on=calendar.local_day(c.starts_at), ends_on=calendar.local_day(c.ends_at)
    ).to_pandas()
    if row.empty:
        ids = db.campaigns.select("campaign_id").order_by("campaign_id").to_pandas()["campaign_id"].tolist()
        shown = ", ".join(ids[:30]) + (f", ... ({len(ids)} in all)" if len(ids) > 30 else "")
        raise ParameterError(
            f"campaign_id={campaign_id!r} is not a campaign of this store; expected one of: {shown}."
        )
    r = row.iloc[0]
    window = r.get("outcome_window_days")
    return CampaignInfo(
        campaign_id=str(r["campaign_id"]),
        name=str(r["name"]),
        kind=str(r["kind"]),
        starts_on=pd.Timestamp(r["starts_on"]).date(),
        ends_on=pd.Timestamp(r["ends_on"]).date(),
        holdout_share=float(r["holdout_share"]) if pd.notna(r.get("holdout_share")) else float("nan"),
        coupon_value=float(r["coupon_value"]) if pd.notna(r.get("coupon_value")) else float("nan"),
        window_days=int(window) if pd.notna(window) and int(window) > 0 else default_window_days,
    )


def member_outcomes(
    db: Store,
    campaign_ids,
    *,
    as_of: dt.date,
    margin_rate: float = DEFAULT_MARGIN_RATE,
    pre_days: int = DEFAULT_PRE_DAYS,
    default_window_days: int = DEFAULT_WINDOW_DAYS,
) -> ibis.Table:
    """One row per (campaign, assigned member), for one campaign id or many at once.

    Columns:
      campaign_id, member_id, arm ('treatment' / 'control')
      start_day              local day of assignment, else of the campaign start
      window_days            the campaign's outcome window (default_window_days when missing)
      days_observed          days of the window up to as_of (complete when = window_days)
      converted              1 if the member visited in the window, else 0
      visits                 visits (member-days) in the window
      revenue                amount paid in the window (currency)
      margin                 revenue minus food cost: paid - (paid + discount) * (1 - margin_rate); net of
                             every discount, so a coupon redeemed on a visit that would have happened
                             anyway lowers it
      pre_visits, pre_revenue, pre_margin   the same over the ``pre_days`` days before start_day
      prewin_converted, prewin_visits, prewin_revenue, prewin_margin   the same over a window of equal
                             length just before start_day (the "before" of a difference-in-differences)
      days_since_last        days from the last visit before start_day to start_day (null: none before)
      coupons_issued, coupons_redeemed      this campaign's coupons; coupon_cost their redeemed discount
    """
    ids = [str(campaign_ids)] if isinstance(campaign_ids, str) else [str(c) for c in campaign_ids]
    c = _campaign_windows(db, ids, default_window_days)
    a = db.assignments
    a = a.join(c, a.campaign_id == c.c_id)
    units = a.select(
        "campaign_id",
        "member_id",
        "arm",
        "window_days",
        start_day=calendar.local_day(a.assigned_at).coalesce(a.c_start),
    )
    per_member = _window_outcomes(db, units, as_of=as_of, margin_rate=margin_rate, pre_days=pre_days)
    return _with_coupons(db, per_member, ids)


def comparison_outcomes(
    db: Store,
    campaign_id: str,
    *,
    as_of: dt.date,
    margin_rate: float = DEFAULT_MARGIN_RATE,
    pre_days: int = DEFAULT_PRE_DAYS,
    default_window_days: int = DEFAULT_WINDOW_DAYS,
) -> ibis.Table:
    """Outcomes of members NOT assigned to the campaign, over the campaign's window from its start day.

    The candidate comparison group of an observational (no-holdout) campaign: members who joined before
    the campaign started. Same columns as :func:`member_outcomes`, with arm 'comparison' and no coupons.
    """
    c = _campaign_windows(db, [str(campaign_id)], default_window_days)
    m = db.members
    m = m.select("member_id", join_day=calendar.local_day(m.joined_at))
    assigned = db.assignments.filter(db.assignments.campaign_id == str(campaign_id)).select(
        a_member="member_id"
    )
    m = m.anti_join(assigned, m.member_id == assigned.a_member)
    u = m.cross_join(c)
    u = u.filter(u.join_day < u.c_start)
    units = u.select(
        campaign_id=u.c_id,
        member_id=u.member_id,
        arm=ibis.literal("comparison"),
        window_days=u.window_days,
        start_day=u.c_start,
    )
    per_member = _window_outcomes(db, units, as_of=as_of, margin_rate=margin_rate, pre_days=pre_days)
    return per_member.mutate(
        coupons_issued=ibis.literal(0), coupons_redeemed=ibis.literal(0), coupon_cost=ibis.literal(0.0)
    )


def _campaign_windows(db: Store, ids: list[str], default_window_days: int) -> ibis.Table:
    c = db.campaigns.filter(db.campaigns.campaign_id.isin(ids))
    return c.select(
        c_id="campaign_id",
        c_start=calendar.local_day(c.starts_at),
        window_days=ibis.ifelse(c.outcome_window_days > 0, c.outcome_window_days, None)
        .fill_null(default_window_days)
        .cast("int64"),
    )


def _window_outcomes(db: Store, a: ibis.Table, *, as_of, margin_rate: float, pre_days: int) -> ibis.Table:
    v = visits(db, as_of=as_of).select("member_id", "day", "amount", "discount")
    j = a.left_join(v, a.member_id == v.member_id).drop("member_id_right")
    offset = j.day.delta(j.start_day, unit="day")
    in_window = (offset >= 0) & (offset < j.window_days)
    in_pre = (offset < 0) & (offset >= -pre_days)
    in_pre_window = (offset < 0) & (offset >= -j.window_days)
    margin = j.amount - (j.amount + j.discount) * (1.0 - margin_rate)
    zero = ibis.literal(0.0)
    per_member = j.group_by(["campaign_id", "member_id", "arm", "start_day", "window_days"]).aggregate(
        visits=in_window.cast("int64").sum().fill_null(0),
        revenue=ibis.ifelse(in_window, j.amount, zero).sum().fill_null(0.0),
        margin=ibis.ifelse(in_window, margin, zero).sum().fill_null(0.0),
        pre_visits=in_pre.cast("int64").sum().fill_null(0),
        pre_revenue=ibis.ifelse(in_pre, j.amount, zero).sum().fill_null(0.0),
        pre_margin=ibis.ifelse(in_pre, margin, zero).sum().fill_null(0.0),
        prewin_visits=in_pre_window.cast("int64").sum().fill_null(0),
        prewin_revenue=ibis.ifelse(in_pre_window, j.amount, zero).sum().fill_null(0.0),
        prewin_margin=ibis.ifelse(in_pre_window, margin, zero).sum().fill_null(0.0),
        last_offset=ibis.ifelse(offset < 0, offset, None).max(),
    )
    observed = calendar.date_literal(as_of).delta(per_member.start_day, unit="day") + 1
    per_member = per_member.mutate(
        converted=(per_member.visits > 0).cast("int64"),
        prewin_converted=(per_member.prewin_visits > 0).cast("int64"),
        days_since_last=-per_member.last_offset,
        days_observed=ibis.greatest(ibis.least(observed, per_member.window_days), 0),
    )
    return per_member


def _with_coupons(db: Store, per_member: ibis.Table, ids: list[str]) -> ibis.Table:
    if not db.has("coupons"):
        return per_member.mutate(
            coupons_issued=ibis.literal(0), coupons_redeemed=ibis.literal(0), coupon_cost=ibis.literal(0.0)
        )
    cp = db.coupons.filter(db.coupons.campaign_id.isin(ids))
    redeemed = cp.redeemed_at.notnull()
    o = db.orders.select(o_id="order_id", o_discount=db.orders.discount)
    cp = cp.left_join(o, cp.order_id == o.o_id)
    value = cp.o_discount.coalesce(cp.face_value).cast("float64")
    used = cp.group_by(cp_campaign=cp.campaign_id, cp_member=cp.member_id).aggregate(
        coupons_issued=cp.count(),
        coupons_redeemed=redeemed.cast("int64").sum(),
        coupon_cost=ibis.ifelse(redeemed, value, 0.0).sum(),
    )
    per_member = per_member.left_join(
        used, (per_member.campaign_id == used.cp_campaign) & (per_member.member_id == used.cp_member)
    ).drop("cp_campaign", "cp_member")
    return per_member.mutate(
        coupons_issued=per_member.coupons_issued.fill_null(0),
        coupons_redeemed=per_member.coupons_redeemed.fill_null(0),
        coupon_cost=per_member.coupon_cost.fill_null(0.0),
    )


def arm_moments(outcomes: ibis.Table, *, by=("campaign_id", "segment", "arm")) -> pd.DataFrame:
    """Sufficient statistics per group, one row per (segment, arm, metric).

    Columns: campaign_id, segment, arm, metric, n, sum, sum_sq (of the outcome y), sum_x, sum_x_sq, sum_xy (with the
    pre-period covariate x of PRE_COVARIATE), and per arm: coupons_issued, coupons_redeemed, coupon_cost.
    """
    aggs = {"n": outcomes.count()}
    for metric in METRICS:
        y = outcomes[metric].cast("float64")
        x = outcomes[PRE_COVARIATE[metric]].cast("float64")
        aggs |= {
            f"{metric}__sum": y.sum(),
            f"{metric}__sum_sq": (y * y).sum(),
            f"{metric}__sum_x": x.sum(),
            f"{metric}__sum_x_sq": (x * x).sum(),
            f"{metric}__sum_xy": (x * y).sum(),
        }
    aggs |= {
        "coupons_issued": outcomes.coupons_issued.sum(),
        "coupons_redeemed": outcomes.coupons_redeemed.sum(),
        "coupon_cost": outcomes.coupon_cost.cast("float64").sum(),
    }
    wide = outcomes.group_by(list(by)).aggregate(**aggs).to_pandas()
    # The engine returns groups in no fixed order: sort, so segments always come in the same order.
    wide = wide.sort_values(list(by), key=lambda col: col.astype(str), kind="stable", ignore_index=True)
    rows = []
    for _, r in wide.iterrows():
        for metric in METRICS:
            rows.append(
                {
                    **{k: r[k] for k in by},
                    "metric": metric,
                    "n": int(r["n"]),
                    "sum": float(r[f"{metric}__sum"]),
                    "sum_sq": float(r[f"{metric}__sum_sq"]),
                    "sum_x": float(r[f"{metric}__sum_x"]),
                    "sum_x_sq": float(r[f"{metric}__sum_x_sq"]),
                    "sum_xy": float(r[f"{metric}__sum_xy"]),
                    "coupons_issued": int(r["coupons_issued"] or 0),
                    "coupons_redeemed": int(r["coupons_redeemed"] or 0),
                    "coupon_cost": float(r["coupon_cost"] or 0.0),
                }
            )
    columns = [
        *by,
        "metric",
        "n",
        "sum",
        "sum_sq",
        "sum_x",
        "sum_x_sq",
        "sum_xy",
        "coupons_issued",
        "coupons_redeemed",
        "coupon_cost",
    ]
    return pd.DataFrame(rows, columns=columns)
