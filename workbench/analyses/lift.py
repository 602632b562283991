"""Campaign lift: which campaigns add visits and revenue, and which only discount visits that would have
happened anyway.

Unit = member; arms from ``assignments``; outcomes over the campaign's window (``lift_outcomes``). With a
randomised control the comparison is causal: Welch intervals on the difference of means, CUPED with the
pre-period, a sample-ratio check against the planned holdout. Without a control the result is labelled
observational: a difference-in-differences against members not in the campaign, matched on their
pre-campaign visit frequency, never presented as causal.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field

import ibis
import pandas as pd

from workbench import stats
from workbench.analyses import scope
from workbench.analyses.lift_outcomes import (
    DEFAULT_MARGIN_RATE,
    DEFAULT_PRE_DAYS,
    METRICS,
    PRE_WINDOW,
    CampaignInfo,
    arm_moments,
    campaign_info,
    comparison_outcomes,
    member_outcomes,
)
from workbench.data import calendar
from workbench.data.store import Store
from workbench.data.visits import visits
from workbench.errors import ThinDataWarning
from workbench.stats.did import stratified_did

RANDOMISED, OBSERVATIONAL = "randomised", "observational"
# Strata matched in an observational comparison: members are compared only with members of the same
# pre-period visit count band (0, 1, 2, 3-4, 5-7, 8+ visits in the pre_days before) AND the same visits in
# the equal-length window just before the campaign (0, 1, 2, 3+). Matching on the "before" window itself
# removes the regression to the mean that eligibility rules such as "visited recently" would otherwise
# put into the difference-in-differences.
PRE_WINDOW_STRATA = (0, 1, 2, 3)
# ... and the same recency: days since the last visit before the campaign (1-6, 7-13, 14-29, 30-59, 60-89,
# 90+ or no visit before). Recency and frequency together are what eligibility rules and dropout depend on.
RECENCY_STRATA = (1, 7, 14, 30, 60, 90)
PRE_VISIT_STRATA = (0, 1, 2, 3, 5, 8)

LIFT_COLUMNS = [
    "segment", "metric", "method", "control_mean", "treatment_mean", "abs_lift", "abs_low", "abs_high",
    "rel_lift", "rel_low", "rel_high", "p_value", "n_control", "n_treatment", "cuped_lift", "cuped_low",
    "cuped_high", "variance_reduction",
]  # fmt: skip


@dataclass(frozen=True)
class CampaignLift:
    """The lift of one campaign.

    campaign     CampaignInfo (id, name, kind, start / end day, holdout_share, coupon_value, window_days)
    design       'randomised' (a control arm exists) or 'observational' (no control: labelled, not causal)
    arms         segment, arm, members, converted (share 0-1), visits_per_member, revenue_per_member and
                 margin_per_member (currency per member), coupons_issued, coupons_redeemed,
                 redemption_rate (share of issued), coupon_cost (currency)
    lift         one row per segment and metric (converted, visits, revenue, margin):
                 method, control_mean, treatment_mean (per member), abs_lift with abs_low / abs_high (95%),
                 rel_lift with rel_low / rel_high (share: 0.10 = +10%), p_value, n_control, n_treatment,
                 cuped_lift with cuped_low / cuped_high (adjusted for pre-period behaviour) and
                 variance_reduction (share of the lift's variance CUPED removed). Observational rows hold the
                 difference-in-differences effect in abs_lift and the matched comparison in n_control.
    impact       per segment: incremental visits / revenue / margin for the whole treated arm with
                 intervals (*_low, *_high), coupon_cost, roi ((margin gained - coupon cost) / coupon cost,
                 margin being net of every discount) with roi_low / roi_high, redemption_rate,
                 anyway_share with anyway_low / anyway_high: the share of redemptions on visits that would
                 have happened without the campaign
    srm          arm, observed, expected, chi2, p_value, mismatch: the sample-ratio check against the
                 planned holdout (empty without a holdout)
    cumulative   arm, day (0 = first day of the window), visits_per_member, revenue_per_member (cumulative)
    days_observed, window_complete   how much of the outcome window lies on or before as_of
    """

    campaign: CampaignInfo
    design: str
    as_of: dt.date
    arms: pd.DataFrame
    lift: pd.DataFrame
    impact: pd.DataFrame
    srm: pd.DataFrame
    cumulative: pd.DataFrame
    days_observed: int
    params: dict = field(default_factory=dict)

    @property
    def observational(self) -> bool:
        return self.design == OBSERVATIONAL

    @property
    def window_complete(self) -> bool:
        return self.days_observed >= self.campaign.window_days

    @property
    def srm_mismatch(self) -> bool:
        return bool(not self.srm.empty and self.srm["mismatch"].any())

    def summary(self, lang: str = "zh") -> str:
        """A few sentences for a reader, in zh or en."""
        from workbench.analyses.lift_text import lift_summary

        return lift_summary(self, lang=lang)


def campaign_lift(
    db: Store,
    campaign_id: str,
    *,
    as_of=None,
    segment_by=None,
    margin_rate: float = DEFAULT_MARGIN_RATE,
    pre_days: int = DEFAULT_PRE_DAYS,
    confidence: float = 0.95,
) -> CampaignLift:
    """Lift of ``campaign_id`` per member, overall and by segment (see :class:`CampaignLift`).

    ``segment_by`` is a member attribute (scope.SEGMENT_COLUMNS) measured the day before the campaign
    starts, so a segment never depends on the campaign's own outcome, or a DataFrame member_id -> segment.
    """
    info = campaign_info(db, campaign_id)
    as_of = scope.resolve_as_of(db, as_of)
    outcomes = member_outcomes(
        db, [info.campaign_id], as_of=as_of, margin_rate=margin_rate, pre_days=pre_days
    )
    outcomes = _with_segments(db, outcomes, info, segment_by)
    # One row per assigned member, read three times below (counts, moments, an observational comparison):
    # the engine works it out once into a temporary table, freed when the lift is done.
    with db.computed_once(outcomes) as outcomes:
        return _lift(db, info, outcomes, as_of, segment_by, margin_rate, pre_days, confidence)


def _lift(db, info, outcomes, as_of, segment_by, margin_rate, pre_days, confidence) -> CampaignLift:
    counts = outcomes.group_by("arm").aggregate(n=outcomes.count(), observed=outcomes.days_observed.max())
    counts = counts.to_pandas().set_index("arm")
    n_control = int(counts["n"].get("control", 0))
    days_observed = int(counts["observed"].max()) if not counts.empty else 0
    design = RANDOMISED if n_control > 0 else OBSERVATIONAL
    label = f"campaign {info.campaign_id}"
    if 0 < days_observed < info.window_days:
        warnings.warn(
            f"{label}: only {days_observed} of {info.window_days} outcome days are observed by "
            f"{as_of.isoformat()}; the lift is provisional.",
            ThinDataWarning,
            stacklevel=2,
        )
    segments = segment_by is not None
    moments = arm_moments(outcomes, by=("segment", "arm"))
    if segments:  # sufficient statistics add up: the overall row is the sum of the segments' rows
        overall = moments.drop(columns="segment").groupby(["arm", "metric"], as_index=False, sort=False).sum()
        moments = pd.concat([overall.assign(segment="all")[moments.columns], moments], ignore_index=True)
    arms = _arms_table(moments)
    if design == RANDOMISED:
        lift = _randomised_lift(moments, confidence, label)
    else:
        comparison = comparison_outcomes(
            db, info.campaign_id, as_of=as_of, margin_rate=margin_rate, pre_days=pre_days
        )
        comparison = _with_segments(db, comparison, info, segment_by)
        lift = _observational_lift(outcomes, comparison, segments, confidence, label)
    impact = _impact(arms, lift, confidence, label)
    order = list(moments["segment"].drop_duplicates())  # "all" first, then the segments sorted
    arms, lift, impact = (_in_order(f, order) for f in (arms, lift, impact))
    return CampaignLift(
        campaign=info,
        design=design,
        as_of=as_of,
        arms=arms,
        lift=lift,
        impact=impact,
        srm=_srm(counts["n"], info),
        cumulative=_cumulative(db, info, as_of),
        days_observed=days_observed,
        params={
            "campaign_id": info.campaign_id,
            "as_of": as_of.isoformat(),
            "segment_by": _name(segment_by),
            "margin_rate": margin_rate,
            "pre_days": pre_days,
            "confidence": confidence,
        },
    )


def campaigns_overview(
    db: Store, *, as_of=None, started_from=None, started_to=None, **kwargs
) -> pd.DataFrame:
    """One row per campaign (optionally those starting in [started_from, started_to]): campaign_id, name,
    kind, design, members, visits lift (abs_lift, abs_low, abs_high), revenue lift per member,
    incremental_revenue, coupon_cost, roi, redemption_rate, anyway_share, srm_mismatch, window_complete."""
    db.require("campaigns", "assignments", needed_by="campaign lift")
    c = db.campaigns
    start = calendar.local_day(c.starts_at)
    if started_from is not None:
        c = c.filter(start >= calendar.date_literal(started_from))
    if started_to is not None:
        c = c.filter(start <= calendar.date_literal(started_to))
    ids = c.order_by(c.starts_at).select("campaign_id").to_pandas()["campaign_id"].tolist()
    rows = []
    for cid in ids:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ThinDataWarning)
            r = campaign_lift(db, cid, as_of=as_of, **kwargs)
        lv = r.lift[(r.lift.segment == "all") & (r.lift.metric == "visits")].iloc[0]
        lr = r.lift[(r.lift.segment == "all") & (r.lift.metric == "revenue")].iloc[0]
        imp = r.impact[r.impact.segment == "all"].iloc[0]
        rows.append({
            "campaign_id": cid, "name": r.campaign.name, "kind": r.campaign.kind, "design": r.design,
            "members": int(r.arms[r.arms.segment == "all"]["members"].sum()),
            "visits_lift": lv.abs_lift, "visits_low": lv.abs_low, "visits_high": lv.abs_high,
            "revenue_lift": lr.abs_lift, "revenue_low": lr.abs_low, "revenue_high": lr.abs_high,
            "incremental_revenue": imp.incremental_revenue, "coupon_cost": imp.coupon_cost, "roi": imp.roi,
            "redemption_rate": imp.redemption_rate, "anyway_share": imp.anyway_share,
            "srm_mismatch": r.srm_mismatch, "window_complete": r.window_complete,
        })  # fmt: skip
    return pd.DataFrame(rows)


# -- pieces -------------------------------------------------------------------------------------------


def _in_order(frame: pd.DataFrame, order: list) -> pd.DataFrame:
    rank = {s: i for i, s in enumerate(order)}
    return frame.sort_values(
        "segment", key=lambda col: col.map(rank).fillna(len(rank)), kind="stable", ignore_index=True
    )


def _name(segment_by) -> str | None:
    return segment_by if isinstance(segment_by, str) or segment_by is None else "custom"


def _with_segments(db: Store, outcomes: ibis.Table, info: CampaignInfo, segment_by) -> ibis.Table:
    if segment_by is None:
        return outcomes.mutate(segment=ibis.literal("all"))
    before = info.starts_on - dt.timedelta(days=1)
    seg = scope.scoped_members(db, as_of=before, segment_by=segment_by).select(
        s_member="member_id", s_seg="segment"
    )
    j = outcomes.left_join(seg, outcomes.member_id == seg.s_member).drop("s_member")
    return j.mutate(segment=j.s_seg.fill_null("unknown")).drop("s_seg")


def _arms_table(moments: pd.DataFrame) -> pd.DataFrame:
    wide = moments.pivot_table(index=["segment", "arm"], columns="metric", values="sum", aggfunc="first")
    base = moments.drop_duplicates(["segment", "arm"]).set_index(["segment", "arm"])
    n = base["n"].astype(float)
    out = pd.DataFrame(
        {
            "members": base["n"].astype(int),
            "converted": wide["converted"] / n,
            "visits_per_member": wide["visits"] / n,
            "revenue_per_member": wide["revenue"] / n,
            "margin_per_member": wide["margin"] / n,
            "coupons_issued": base["coupons_issued"].astype(int),
            "coupons_redeemed": base["coupons_redeemed"].astype(int),
            "coupon_cost": base["coupon_cost"].astype(float),
        }
    )
    issued = out["coupons_issued"].astype(float)
    out["redemption_rate"] = (out["coupons_redeemed"] / issued).where(issued > 0)
    return out.reset_index()


def _randomised_lift(moments: pd.DataFrame, confidence: float, label: str) -> pd.DataFrame:
    rows = []
    for (segment, metric), g in moments.groupby(["segment", "metric"], sort=False):
        arms = {r.arm: stats.Moments.from_mapping(r._asdict()) for r in g.itertuples(index=False)}
        control = arms.get("control", stats.Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0))
        treatment = arms.get("treatment", stats.Moments(0, 0.0, 0.0, 0.0, 0.0, 0.0))
        where = f"{label}, segment={segment}, metric={metric}"
        raw = stats.mean_lift(control, treatment, confidence=confidence, label=where)
        adjusted = stats.cuped_lift(control, treatment, confidence=confidence, label=where)
        rows.append(
            {
                "segment": segment, "metric": metric, "method": "randomised",
                "control_mean": raw.control_mean, "treatment_mean": raw.treatment_mean,
                "abs_lift": raw.abs_lift, "abs_low": raw.abs_low, "abs_high": raw.abs_high,
                "rel_lift": raw.rel_lift, "rel_low": raw.rel_low, "rel_high": raw.rel_high,
                "p_value": raw.p_value, "n_control": int(control.n), "n_treatment": int(treatment.n),
                "cuped_lift": adjusted.abs_lift, "cuped_low": adjusted.abs_low, "cuped_high": adjusted.abs_high,
                "variance_reduction": adjusted.variance_reduction,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=LIFT_COLUMNS)


def _band(values: ibis.IntegerValue, bounds: tuple[int, ...]) -> ibis.StringValue:
    pairs = zip(bounds, bounds[1:], strict=False)
    cases = [((values >= lo) & (values < hi), f"{lo}-{hi - 1}") for lo, hi in pairs]
    return ibis.cases(*cases, else_=f"{bounds[-1]}+")


def _stratum(t: ibis.Table) -> ibis.StringValue:
    recency = _band(t.days_since_last.fill_null(10**6), RECENCY_STRATA)
    return (
        _band(t.pre_visits, PRE_VISIT_STRATA)
        + "|"
        + _band(t.prewin_visits, PRE_WINDOW_STRATA)
        + "|"
        + recency
    )


def _observational_lift(treated, comparison, segments: bool, confidence: float, label: str) -> pd.DataFrame:
    def strata_moments(t: ibis.Table) -> pd.DataFrame:
        t = t.mutate(stratum=_stratum(t))
        frames = [t] + ([t.mutate(segment=ibis.literal("all"))] if segments else [])
        out = []
        for f in frames:
            aggs = {"n": f.count()}
            for metric in METRICS:
                d = (f[metric] - f[PRE_WINDOW[metric]]).cast("float64")
                aggs |= {f"{metric}__sum": d.sum(), f"{metric}__sum_sq": (d * d).sum(),
                         f"{metric}__y": f[metric].cast("float64").sum()}  # fmt: skip
            out.append(f.group_by(["segment", "stratum"]).aggregate(**aggs).to_pandas())
        return pd.concat(out, ignore_index=True)

    tm, cm = strata_moments(treated), strata_moments(comparison)
    rows = []
    for segment in tm["segment"].drop_duplicates():
        ts, cs = tm[tm.segment == segment], cm[cm.segment == segment]
        for metric in METRICS:
            tmom = {
                r.stratum: stats.Moments(r.n, r[f"{metric}__sum"], r[f"{metric}__sum_sq"])
                for _, r in ts.iterrows()
            }
            cmom = {
                r.stratum: stats.Moments(r.n, r[f"{metric}__sum"], r[f"{metric}__sum_sq"])
                for _, r in cs.iterrows()
            }
            did = stratified_did(
                tmom, cmom, confidence=confidence, label=f"{label}, segment={segment}, {metric}"
            )
            n_t = float(ts["n"].sum())
            treated_mean = float(ts[f"{metric}__y"].sum()) / n_t if n_t else math.nan
            counterfactual = treated_mean - did.effect
            rel = did.effect / counterfactual if counterfactual and counterfactual > 0 else math.nan
            rows.append(
                {
                    "segment": segment, "metric": metric, "method": "difference-in-differences (observational)",
                    "control_mean": counterfactual, "treatment_mean": treated_mean,
                    "abs_lift": did.effect, "abs_low": did.low, "abs_high": did.high,
                    "rel_lift": rel, "rel_low": math.nan, "rel_high": math.nan, "p_value": did.p_value,
                    "n_control": did.comparison_units, "n_treatment": did.treated_matched,
                    "cuped_lift": math.nan, "cuped_low": math.nan, "cuped_high": math.nan,
                    "variance_reduction": math.nan,
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=LIFT_COLUMNS)


def _impact(arms: pd.DataFrame, lift: pd.DataFrame, confidence: float, label: str) -> pd.DataFrame:
    rows = []
    for segment, g in lift.groupby("segment", sort=False):
        by_metric = g.set_index("metric")
        a = arms[arms.segment == segment].set_index("arm")
        n_t = int(a["members"].get("treatment", 0))
        issued = int(a["coupons_issued"].get("treatment", 0))
        redeemed = int(a["coupons_redeemed"].get("treatment", 0))
        cost = float(a["coupon_cost"].get("treatment", 0.0))
        row = {"segment": segment, "treated_members": n_t}
        for metric in ("visits", "revenue", "margin"):
            m = by_metric.loc[metric]
            row[f"incremental_{metric}"] = m.abs_lift * n_t
            row[f"incremental_{metric}_low"] = m.abs_low * n_t
            row[f"incremental_{metric}_high"] = m.abs_high * n_t
        row["coupon_cost"] = cost
        where = f"{label}, segment={segment}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ThinDataWarning)
            roi = stats.campaign_roi(
                stats.IncrementalTotal(row["incremental_margin"], row["incremental_margin_low"],
                                       row["incremental_margin_high"], n_t),
                cost, margin_net_of_coupons=True, label=where,
            )  # fmt: skip
        row |= {"roi": roi.roi, "roi_low": roi.roi_low, "roi_high": roi.roi_high}
        row["redemption_rate"] = redeemed / issued if issued else math.nan
        visits = by_metric.loc["visits"]
        if redeemed and n_t:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ThinDataWarning)
                anyway = stats.redemptions_anyway(
                    redeemed / n_t, visits.treatment_mean, visits.control_mean,
                    visit_lift_low=visits.abs_low, visit_lift_high=visits.abs_high, label=where,
                )  # fmt: skip
            row |= {
                "anyway_share": anyway.share,
                "anyway_low": anyway.share_low,
                "anyway_high": anyway.share_high,
            }
        else:
            row |= {"anyway_share": math.nan, "anyway_low": math.nan, "anyway_high": math.nan}
        rows.append(row)
    return pd.DataFrame(rows)


def _srm(counts: pd.Series, info: CampaignInfo) -> pd.DataFrame:
    columns = ["arm", "observed", "expected", "chi2", "p_value", "mismatch"]
    h = info.holdout_share
    if not (isinstance(h, float) and 0 < h < 1) or counts.get("control", 0) == 0:
        return pd.DataFrame(columns=columns)
    observed = {"treatment": int(counts.get("treatment", 0)), "control": int(counts.get("control", 0))}
    r = stats.sample_ratio_check(observed, {"treatment": 1 - h, "control": h})
    return pd.DataFrame(
        [
            {
                "arm": arm,
                "observed": o,
                "expected": e,
                "chi2": r.chi2,
                "p_value": r.p_value,
                "mismatch": r.mismatch,
            }
            for arm, o, e in zip(r.arms, r.observed, r.expected, strict=True)
        ],
        columns=columns,
    )


def _cumulative(db: Store, info: CampaignInfo, as_of: dt.date) -> pd.DataFrame:
    a = db.assignments
    a = a.filter(a.campaign_id == info.campaign_id)
    a = a.select("member_id", "arm", start_day=calendar.local_day(a.assigned_at).coalesce(
        calendar.date_literal(info.starts_on)))  # fmt: skip
    arms = a.group_by("arm").aggregate(members=a.count(), first=a.start_day.min(), last=a.start_day.max())
    arms = arms.to_pandas().set_index("arm")
    n = arms["members"]
    v = visits(db, as_of=as_of).select("member_id", "day", "amount")
    if not arms.empty:  # only days some member's window can hold (a range the engine prunes before joining)
        first = pd.Timestamp(arms["first"].min()).date()
        last = pd.Timestamp(arms["last"].max()).date() + dt.timedelta(days=info.window_days)
        v = v.filter((v.day >= calendar.date_literal(first)) & (v.day < calendar.date_literal(last)))
    j = a.join(v, a.member_id == v.member_id)
    j = j.mutate(offset=j.day.delta(j.start_day, unit="day"))
    j = j.filter((j.offset >= 0) & (j.offset < info.window_days))
    daily = j.group_by(["arm", "offset"]).aggregate(visits=j.count(), revenue=j.amount.sum()).to_pandas()
    days = range(min(info.window_days, max(0, (as_of - info.starts_on).days + 1)))
    frames = []
    for arm, members in n.items():
        d = daily[daily.arm == arm].set_index("offset").reindex(days, fill_value=0)
        frames.append(pd.DataFrame({
            "arm": arm, "day": list(days),
            "visits_per_member": d["visits"].cumsum().to_numpy() / members,
            "revenue_per_member": d["revenue"].astype(float).cumsum().to_numpy() / members,
        }))  # fmt: skip
    columns = ["arm", "day", "visits_per_member", "revenue_per_member"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
