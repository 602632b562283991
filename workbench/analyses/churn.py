"""Churn: how long members stay, which segments leave sooner, what predicts it (DESIGN.md, "Churn").

A member has churned when no visit follows their last one within T days (T: ``churn_threshold``, a high
quantile of the chain's repurchase intervals, or ``threshold_days=``). The engine reduces visits to one row
per member (``member_lifetimes``) or, for the survival curves, to counts per (segment, duration, churned);
lifelines does the statistics on those:

    surv = churn_survival(db, segment_by="link_mode")      # Kaplan-Meier, at-risk, medians, log-rank, RMST
    surv.curves; surv.logrank; print(surv.summary(lang="en"))
    drivers = churn_drivers(db)                            # Cox proportional hazards + assumption check
    drivers.hazard_ratios; drivers.ph_check
    wake_up_list(db)                                        # members overdue against their own cycle

The Cox machinery (time-varying episodes, Schoenfeld residuals, concordance) is in ``churn_cox``; the
wake-up list and its export in ``wake_up`` (both re-exported here).

The time scale (``duration_days``) is *days from the first visit until the member counts as churned*:
for a churned member, lifetime (first to last visit) + T, the day the T-day rule fires; for a member not
churned at ``as_of``, as_of - first visit, right-censored. Both read the member's status the way the rule
reads it on any day, so the censoring is honest: a member inside T at as_of is known not to have churned
yet, and nothing more. (Censoring them at last visit - first visit, or counting churned members' time only
to their last visit while counting censored members' time to as_of, would both bias survival upwards: the
first hides churns that cannot be seen yet, the second gives censored members T extra days.) Nobody can
churn before day T, so every curve is flat at 1 until T; shifting it left by T gives the survival of the
lifetime itself (first to last visit), which is the same estimate on a different clock.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import ibis
import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import median_survival_times, restricted_mean_survival_time

from workbench import i18n
from workbench.analyses import churn_cox as cox
from workbench.analyses import scope
from workbench.analyses.wake_up import export_wake_up_list, wake_up_list
from workbench.data import calendar
from workbench.data.store import Store
from workbench.errors import ParameterError, ThinDataWarning
from workbench.i18n import segment_label

__all__ = [
    "ChurnDrivers",
    "ChurnSurvival",
    "churn_drivers",
    "churn_survival",
    "churn_threshold",
    "export_wake_up_list",
    "member_lifetimes",
    "wake_up_list",
]

# Two-sided coverage of every interval.
CONFIDENCE = 0.95
_Z = 1.959963984540054  # standard normal quantile for CONFIDENCE
# T = this quantile of repurchase intervals: 9 in 10 returns happen within T days, so a gap longer than T
# is unusual enough to call the member gone.
DEFAULT_QUANTILE = 0.9
# T when nobody in scope has visited twice (no interval to learn from): a quarter, the horizon chains' CRM
# tools use for "lost" diners when they have nothing better.
FALLBACK_THRESHOLD_DAYS = 90
# Fewer repurchase intervals than this make T a rough guess; the result says so (a warning), not an error.
MIN_INTERVALS = 30
# Days after the first visit at which the at-risk table counts members (a month, a quarter, half a year, a year).
AT_RISK_MARKS = (0, 30, 90, 180, 365)
# RMST horizon: the mean days of the first year after the first visit a member spends not churned.
RMST_HORIZON_DAYS = 365
DEFAULT_COVARIATES = (
    "join_channel",
    "link_mode",
    "vip",
    "in_group",
    "price_sensitive",
    "first_ticket",
    "city",
)
NUMERIC_COVARIATES = ("first_ticket",)
# Covariates a Cox model can take: the numeric first ticket and every member attribute of scope.
COVARIATE_CHOICES = (*NUMERIC_COVARIATES, *scope.SEGMENT_COLUMNS)
FLAG_COVARIATES = ("vip", "in_group", "price_sensitive")
# Flags with a date in the contract (members.vip_since, group_members.joined_at / left_at): fitted as
# time-varying covariates (see churn_drivers).
TIME_VARYING_COVARIATES = ("vip", "in_group")
PER_DOUBLING = "per doubling"
# The level a categorical covariate is compared with when it is present: members with no link to the chain.
PREFERRED_REFERENCE = {"link_mode": "none"}
# Levels with fewer members than this are pooled into POOLED_LEVEL: a hazard ratio resting on a handful of
# members is noise and can stop the Cox fit from converging.
MIN_LEVEL_MEMBERS = 30
POOLED_LEVEL = "pooled"
# Members in a Cox fit. lifelines' time-varying fit costs (members x distinct churn days x columns^2), about
# 7 s for the 22,000 visiting members of a 30,000-member chain; at 50,000 members (30,000 churns) a flag
# held by 10% of them still gets a 95% interval of about +-4% on its hazard ratio, so a larger chain is
# sampled (seeded) rather than waited for.
DRIVER_SAMPLE = 50_000
# Members enter the Cox model at this visit (1: their first). from_visit=2 asks what drives leaving among
# members who came back at least once (left-truncated at the second visit), without the ones who never
# returned (time to the second visit is repurchase's question).
DRIVERS_FROM_VISIT = 1
# The proportional-hazards test flags a covariate below this p-value (lifelines' check_assumptions default).
PH_ALPHA = 0.01
# Ridge penalty used only when the unpenalised Cox fit does not converge (e.g. a level where nobody churned);
# small enough to move well-estimated hazard ratios by well under 1%.
FALLBACK_PENALIZER = 0.01

CURVE_COLUMNS = ("segment", "day", "survival", "ci_low", "ci_high", "at_risk", "churned", "censored")
AT_RISK_COLUMNS = ("segment", "day", "at_risk", "churned", "survival")
MEDIAN_COLUMNS = ("segment", "members", "churned", "censored", "median_days", "ci_low", "ci_high")
LOGRANK_COLUMNS = ("test", "segment_a", "segment_b", "test_statistic", "df", "p_value")
RMST_COLUMNS = (
    "segment",
    "members",
    "horizon_days",
    "rmst_days",
    "se_days",
    "ci_low",
    "ci_high",
    "horizon_observed",
)
HAZARD_COLUMNS = (
    "covariate",
    "level",
    "reference",
    "hazard_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "members",
)
PH_COLUMNS = (
    "covariate",
    "level",
    "test_statistic",
    "p_value",
    "violated",
    "trend",
    "advice_zh",
    "advice_en",
)
LIFETIME_COLUMNS = (
    "member_id",
    "segment",
    "first_day",
    "last_day",
    "visits",
    "revenue",
    "lifetime_days",
    "days_since_last",
    "churned",
    "duration_days",
    "join_day",
    "join_channel",
    "link_mode",
    "vip",
    "in_group",
    "price_sensitive",
    "first_ticket",
    "first_ticket_band",
    "home_store_id",
    "city",
    "store_format",
    "cuisine",
    "join_year_month",
)

i18n.register(
    {
        "churn.covariate.join_channel": ("入会渠道", "Join channel"),
        "churn.covariate.link_mode": ("连接方式", "Link mode"),
        "churn.covariate.vip": ("付费会员", "VIP"),
        "churn.covariate.in_group": ("在社群中", "In a community group"),
        "churn.covariate.price_sensitive": ("价格敏感", "Price sensitive"),
        "churn.covariate.first_ticket": ("首单金额（每翻一倍）", "First ticket (per doubling)"),
        "churn.covariate.city": ("城市", "City"),
        "churn.covariate.home_store_id": ("归属门店", "Home store"),
        "churn.covariate.store_format": ("门店类型", "Store format"),
        "churn.covariate.cuisine": ("菜系", "Cuisine"),
        "churn.covariate.first_ticket_band": ("首单金额段", "First-ticket band"),
        "churn.covariate.join_year_month": ("入会月份", "Month of joining"),
        "churn.level.pooled": ("其他（合并）", "Other (pooled)"),
        "churn.level.per_doubling": ("每翻一倍", "per doubling"),
        "churn.ph.ok": (
            "未发现违反比例风险假设的证据；风险比在整个生命周期内可视为恒定",
            "no evidence against proportional hazards; the hazard ratio holds across the member's life",
        ),
        "churn.ph.weakens": (
            "{name}的作用随时间减弱：早期影响更大，风险比应理解为整个生命周期的平均值",
            "the effect of {name} weakens over time: it acts mostly early on; read its hazard ratio as an "
            "average over the member's life",
        ),
        "churn.ph.strengthens": (
            "{name}的作用随时间增强：后期影响更大，风险比应理解为整个生命周期的平均值",
            "the effect of {name} grows over time: it acts mostly later on; read its hazard ratio as an "
            "average over the member's life",
        ),
        "churn.summary.head": (
            "会员流失（截至 {as_of}；连续 {threshold} 天未到店即视为流失）",
            "Member churn (as of {as_of}; a member has churned after {threshold} days without a visit)",
        ),
        "churn.summary.empty": ("所选条件下没有到店会员", "No visiting members for the selected filters"),
        "churn.summary.segment": (
            "{segment}：{members} 名会员，已流失 {churned} 名；首次到店后流失中位时间 {median}；"
            "首 {horizon} 天内平均未流失 {rmst} 天（95% 置信区间 {low}–{high}）",
            "{segment}: {members} members, {churned} churned; median time to churn after the first visit "
            "{median}; mean days not churned in the first {horizon} days {rmst} (95% CI {low}–{high})",
        ),
        "churn.summary.median_days": ("{days} 天", "{days} days"),
        "churn.summary.not_reached": (
            "尚未达到（过半会员仍未流失）",
            "not reached (most members have not churned)",
        ),
        "churn.summary.logrank_diff": (
            "各分组的流失曲线存在显著差异（log-rank 检验 p={p}）",
            "The segments' churn curves differ (log-rank test p={p})",
        ),
        "churn.summary.logrank_same": (
            "各分组的流失曲线无显著差异（log-rank 检验 p={p}）",
            "No significant difference between the segments' churn curves (log-rank test p={p})",
        ),
        "churn.drivers.head": (
            "流失驱动因素（Cox 比例风险模型，截至 {as_of}；{members} 名会员，{events} 名已流失；一致性指数 {c}）",
            "Churn drivers (Cox proportional hazards, as of {as_of}; {members} members, {events} churned; "
            "concordance {c})",
        ),
        "churn.drivers.sampled": (
            "按随机种子 {seed} 抽样 {members} 名会员（范围内共 {total} 名）",
            "A random sample of {members} of the {total} members in scope (seed {seed})",
        ),
        "churn.drivers.line": (
            "{name}（相对于{reference}）：风险比 {hr}（95% 置信区间 {low}–{high}，p={p}）",
            "{name} (vs {reference}): hazard ratio {hr} (95% CI {low}–{high}, p={p})",
        ),
        "churn.drivers.line_numeric": (
            "{name}：风险比 {hr}（95% 置信区间 {low}–{high}，p={p}）",
            "{name}: hazard ratio {hr} (95% CI {low}–{high}, p={p})",
        ),
        "churn.drivers.reading": (
            "风险比 < 1 表示流失更慢，> 1 表示流失更快",
            "A hazard ratio below 1 means members churn more slowly; above 1, faster",
        ),
        "churn.drivers.empty": ("数据不足，无法拟合模型", "Not enough data to fit the model"),
    }
)


# -- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnSurvival:
    """The result of :func:`churn_survival` (see its docstring for every column).

    ``curves`` Kaplan-Meier per segment; ``at_risk_table`` counts at AT_RISK_MARKS; ``medians``;
    ``logrank`` (overall and pairwise); ``rmst``; ``params``; ``fitters`` the lifelines KaplanMeierFitter of
    each segment (for lifelines' own tools); ``summary(lang=...)`` a short text for people.
    """

    curves: pd.DataFrame
    at_risk_table: pd.DataFrame
    medians: pd.DataFrame
    logrank: pd.DataFrame
    rmst: pd.DataFrame
    params: dict[str, Any]
    fitters: dict[str, KaplanMeierFitter] = field(default_factory=dict, repr=False, compare=False)

    @property
    def segments(self) -> list[str]:
        return self.medians["segment"].tolist()

    def summary(self, lang: str = "zh") -> str:
        i18n.check_lang(lang)
        p = self.params
        lines = [
            i18n.t("churn.summary.head", lang, as_of=_day_text(p), threshold=p.get("threshold_days", "-"))
        ]
        if self.medians.empty:
            return "\n".join([*lines, i18n.t("churn.summary.empty", lang)])
        rmst = self.rmst.set_index("segment")
        for _, m in self.medians.iterrows():
            r = rmst.loc[m["segment"]]
            median = (
                i18n.t("churn.summary.not_reached", lang)
                if pd.isna(m["median_days"])
                else i18n.t("churn.summary.median_days", lang, days=f"{m['median_days']:.0f}")
            )
            lines.append(
                i18n.t(
                    "churn.summary.segment",
                    lang,
                    segment=segment_label(p["segment_by"], m["segment"], lang),
                    members=f"{int(m['members']):,}",
                    churned=f"{int(m['churned']):,}",
                    median=median,
                    horizon=p["rmst_horizon_days"],
                    rmst=f"{r['rmst_days']:.0f}",
                    low=f"{r['ci_low']:.0f}",
                    high=f"{r['ci_high']:.0f}",
                )
            )
        overall = self.logrank[self.logrank["test"] == "overall"]
        if not overall.empty:
            pv = float(overall["p_value"].iloc[0])
            key = "churn.summary.logrank_diff" if pv < 1 - CONFIDENCE else "churn.summary.logrank_same"
            lines.append(i18n.t(key, lang, p=_format_p(pv)))
        return "\n".join(lines)


@dataclass(frozen=True)
class ChurnDrivers:
    """The result of :func:`churn_drivers` (see its docstring for every column).

    ``hazard_ratios`` one row per covariate level (reference levels with hazard_ratio 1); ``ph_check`` the
    proportional-hazards test per model column, in words; ``concordance`` (Harrell's C, 0.5 = chance);
    ``members`` / ``events`` in the fit; ``sampled`` whether a random sample was fitted; ``params``;
    ``model`` the fitted lifelines CoxPHFitter (None when nothing could be fitted).
    """

    hazard_ratios: pd.DataFrame
    ph_check: pd.DataFrame
    concordance: float
    members: int
    events: int
    sampled: bool
    params: dict[str, Any]
    model: CoxPHFitter | None = field(default=None, repr=False, compare=False)

    def summary(self, lang: str = "zh") -> str:
        i18n.check_lang(lang)
        p = self.params
        head = i18n.t(
            "churn.drivers.head",
            lang,
            as_of=_day_text(p),
            members=f"{self.members:,}",
            events=f"{self.events:,}",
            c="-" if math.isnan(self.concordance) else f"{self.concordance:.2f}",
        )
        lines = [head]
        if self.model is None:
            return "\n".join([*lines, i18n.t("churn.drivers.empty", lang)])
        if self.sampled:
            lines.append(
                i18n.t(
                    "churn.drivers.sampled",
                    lang,
                    members=f"{self.members:,}",
                    total=f"{p['members_in_scope']:,}",
                    seed=p["seed"],
                )
            )
        rows = self.hazard_ratios[self.hazard_ratios["level"] != self.hazard_ratios["reference"]]
        for _, r in rows.iterrows():
            fmt = {
                "hr": f"{r['hazard_ratio']:.2f}",
                "low": f"{r['ci_low']:.2f}",
                "high": f"{r['ci_high']:.2f}",
                "p": _format_p(r["p_value"]),
            }
            if r["covariate"] in NUMERIC_COVARIATES:
                lines.append(
                    i18n.t(
                        "churn.drivers.line_numeric", lang, name=covariate_label(r["covariate"], lang), **fmt
                    )
                )
            else:
                lines.append(
                    i18n.t(
                        "churn.drivers.line",
                        lang,
                        name=level_label(r["covariate"], r["level"], lang, with_covariate=True),
                        reference=level_label(r["covariate"], r["reference"], lang),
                        **fmt,
                    )
                )
        lines.append(i18n.t("churn.drivers.reading", lang))
        for _, r in self.ph_check[self.ph_check["violated"]].iterrows():
            lines.append(r["advice_zh"] if lang == "zh" else r["advice_en"])
        return "\n".join(lines)


# -- labels shared with the figures ----------------------------------------------------------------------


def covariate_label(covariate: str, lang: str) -> str:
    try:
        return i18n.t(f"churn.covariate.{covariate}", lang)
    except KeyError:
        return covariate


def level_label(covariate: str, level, lang: str, *, with_covariate: bool = False) -> str:
    """'VIP: Yes', 'Link mode: Group only', 'Other (pooled)' ..."""
    if covariate in NUMERIC_COVARIATES:
        return covariate_label(covariate, lang)
    if level == POOLED_LEVEL:
        text = i18n.t("churn.level.pooled", lang)
    else:
        text = segment_label(covariate, level, lang)
    if not with_covariate:
        return text
    sep = "：" if lang == "zh" else ": "
    return f"{covariate_label(covariate, lang)}{sep}{text}"


# -- threshold ------------------------------------------------------------------------------------------


def churn_threshold(
    db: Store,
    *,
    as_of=None,
    quantile: float = DEFAULT_QUANTILE,
    stores=None,
    cities=None,
    join_channels=None,
) -> int:
    """T in days: the ``quantile`` of repurchase intervals of the members in scope, rounded up.

    A repurchase interval is the days between two consecutive visits of a member (DESIGN.md "Visit": one
    visit per member and local day), both on or before ``as_of``. The quantile is computed in the engine
    (Ibis ``quantile``, DuckDB's exact ``quantile_cont``) and rounded up, so at least that share of intervals
    is <= T. Intervals still open at as_of are not counted (they are not complete), which makes T a little
    short when members' cycles are long compared with the data; it is a threshold, not an estimate, and
    every function takes ``threshold_days=`` to override it. With no interval at all T is
    FALLBACK_THRESHOLD_DAYS and a ThinDataWarning says so; with fewer than MIN_INTERVALS a warning too.
    """
    filters = {"stores": stores, "cities": cities, "join_channels": join_channels}
    return _thresholds(db, as_of, (quantile,), filters)[quantile]


def churn_thresholds(
    db: Store,
    *,
    as_of=None,
    quantiles=(DEFAULT_QUANTILE,),
    stores=None,
    cities=None,
    join_channels=None,
) -> dict[float, int]:
    """:func:`churn_threshold` at several quantiles from one pass over the intervals: {quantile: T days}.

    Each value equals ``churn_threshold(db, quantile=q, ...)``; the intervals are read once, not once per
    quantile (the lifecycle's dormant and lost thresholds are two quantiles of the same intervals).
    """
    filters = {"stores": stores, "cities": cities, "join_channels": join_channels}
    return _thresholds(db, as_of, tuple(quantiles), filters)


def _thresholds(db, as_of, quantiles: tuple, filters: dict) -> dict[float, int]:
    if not quantiles:
        raise ParameterError("quantiles is empty; give at least one quantile between 0 and 1.")
    for q in quantiles:
        _check_quantile(q)
    as_of = scope.resolve_as_of(db, as_of)

    def intervals():
        members = scope.scoped_member_ids(db, as_of=as_of, **filters)
        v = scope.visits_in_scope(
            db, as_of=as_of, stores=filters["stores"], cities=filters["cities"], numbered=True
        )
        return _interval_stats(v.semi_join(members, "member_id"), quantiles)

    # A page asks for one scope's threshold from several analyses (the churn page's survival and drivers):
    # a read-only store reads the intervals once.
    key = ("churn.intervals", as_of, tuple(quantiles), scope.scope_key(**filters))
    n, values = db.remembered(key, intervals)
    return _rounded_thresholds(n, values, quantiles, as_of)


def interval_quantiles(visits: ibis.Table, quantiles: tuple, *, as_of: dt.date) -> dict[float, int]:
    """The thresholds of :func:`churn_thresholds` from ``visits``, numbered visits already narrowed to the
    members in scope and to ``as_of`` (a table with ``days_since_prev``, e.g. of
    :func:`workbench.data.visits.numbered_visits`): {quantile: T days}, warnings as there. For a caller
    that reads the same visits again (the lifecycle), which can then work them out once."""
    n, values = _interval_stats(visits, quantiles)
    return _rounded_thresholds(n, values, quantiles, as_of)


def _interval_stats(visits: ibis.Table, quantiles: tuple) -> tuple[int, tuple[float, ...]]:
    """The number of repurchase intervals among ``visits`` and their ``quantiles`` (days, unrounded)."""
    gaps = visits.filter(visits.days_since_prev.notnull())
    named = {f"q{i}": gaps.days_since_prev.quantile(q) for i, q in enumerate(quantiles)}
    row = gaps.aggregate(n=gaps.count(), **named).to_pandas().iloc[0]
    return int(row["n"]), tuple(float(row[f"q{i}"]) for i in range(len(quantiles)))


def _rounded_thresholds(n: int, values: tuple, quantiles: tuple, as_of: dt.date) -> dict[float, int]:
    """{quantile: T days} from :func:`_interval_stats`, with the warnings on thin data."""
    if n == 0:
        warnings.warn(
            f"no member in scope has visited twice by {as_of.isoformat()}, so there is no repurchase interval "
            f"to set the churn threshold from; using {FALLBACK_THRESHOLD_DAYS} days (pass threshold_days= to "
            "choose).",
            ThinDataWarning,
            stacklevel=4,
        )
        return dict.fromkeys(quantiles, FALLBACK_THRESHOLD_DAYS)
    if n < MIN_INTERVALS:
        warnings.warn(
            f"the churn threshold rests on only {n} repurchase intervals (fewer than {MIN_INTERVALS}); "
            "consider passing threshold_days=.",
            ThinDataWarning,
            stacklevel=4,
        )
    return {q: max(1, math.ceil(value - 1e-9)) for q, value in zip(quantiles, values, strict=True)}


# -- lifetimes ------------------------------------------------------------------------------------------


def member_lifetimes(
    db: Store,
    *,
    as_of=None,
    threshold_days: int | None = None,
    quantile: float = DEFAULT_QUANTILE,
    segment_by=None,
    stores=None,
    cities=None,
    join_channels=None,
) -> pd.DataFrame:
    """One row per member in scope with at least one visit on or before ``as_of``: lifetime and churn status.

    ``threshold_days`` is T (default :func:`churn_threshold` at ``quantile`` on the same scope). Filters and
    ``segment_by`` as in :func:`workbench.analyses.scope.scoped_members`.

    Columns (ordered by member_id):
      member_id            as stored (opaque)
      segment              the member's segment (text; 'all' without segment_by)
      first_day, last_day  local days of the first and last visit up to as_of (datetime64)
      visits               visits (member-days) up to as_of (int)
      revenue              amount paid up to as_of (currency)
      lifetime_days        last_day - first_day (days; 0 for a one-visit member)
      days_since_last      as_of - last_day (days; 0 when the last visit is on as_of)
      churned              bool: days_since_last >= T. The T days after the last visit (last_day+1 ..
                           last_day+T) have all been observed without a visit, so "no visit follows
                           within T days" is settled. A member at T-1 days may still come back on time.
      duration_days        the survival time (days from the first visit until the member counts as
                           churned): lifetime_days + T when churned (the event), else as_of - first_day
                           (right-censored). See the module docstring for why this clock.
      join_day             local day of joining (datetime64)
      join_channel, link_mode, vip, in_group, price_sensitive, first_ticket (currency), first_ticket_band,
      home_store_id, city, store_format, cuisine, join_year_month   member attributes at as_of (scope)

    ``attrs``: as_of (date) and threshold_days (int).
    """
    as_of = scope.resolve_as_of(db, as_of)
    threshold = _resolve_threshold(
        db, as_of, threshold_days, quantile, stores=stores, cities=cities, join_channels=join_channels
    )
    t = _lifetimes_expr(
        db,
        as_of=as_of,
        threshold_days=threshold,
        segment_by=segment_by,
        stores=stores,
        cities=cities,
        join_channels=join_channels,
    )
    frame = t.order_by("member_id").to_pandas()
    out = _typed_lifetimes(frame)
    out.attrs.update(as_of=as_of, threshold_days=threshold)
    return out


def _lifetimes_expr(db, *, as_of, threshold_days, segment_by, stores, cities, join_channels) -> ibis.Table:
    members = scope.scoped_members(
        db, as_of=as_of, segment_by=segment_by, stores=stores, cities=cities, join_channels=join_channels
    )
    v = scope.visits_in_scope(db, as_of=as_of, stores=stores, cities=cities)
    per = v.group_by("member_id").aggregate(
        v_first=v.day.min(), last_day=v.day.max(), v_visits=v.count(), revenue=v.amount.sum()
    )
    t = members.inner_join(per, "member_id")
    day = calendar.date_literal(as_of)
    lifetime = t.last_day.delta(t.v_first, unit="day")
    since = day.delta(t.last_day, unit="day")
    churned = since >= threshold_days
    duration = ibis.ifelse(churned, lifetime + threshold_days, day.delta(t.v_first, unit="day"))
    return t.select(
        "member_id",
        "segment",
        first_day=t.v_first,
        last_day=t.last_day,
        visits=t.v_visits,
        revenue=t.revenue,
        lifetime_days=lifetime,
        days_since_last=since,
        churned=churned,
        duration_days=duration,
        join_day=t.join_day,
        join_channel=t.join_channel,
        link_mode=t.link_mode,
        vip=t.vip,
        in_group=t.in_group,
        price_sensitive=t.price_sensitive,
        first_ticket=t.first_ticket,
        first_ticket_band=t.first_ticket_band,
        home_store_id=t.home_store_id,
        city=t.city,
        store_format=t.store_format,
        cuisine=t.cuisine,
        join_year_month=t.join_year_month,
    )


def _typed_lifetimes(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for c in LIFETIME_COLUMNS:
        out[c] = frame[c] if c in frame else pd.Series(dtype="object")
    for c in ("first_day", "last_day", "join_day"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    for c in ("visits", "lifetime_days", "days_since_last", "duration_days"):
        out[c] = pd.to_numeric(out[c]).astype("int64")
    for c in ("revenue", "first_ticket"):
        out[c] = pd.to_numeric(out[c]).astype("float64")
    for c in ("churned", "vip", "in_group", "price_sensitive"):
        out[c] = out[c].astype(bool)
    for c in ("member_id", "segment"):
        out[c] = out[c].astype(str)
    return out.reset_index(drop=True)


# -- survival -------------------------------------------------------------------------------------------


def churn_survival(
    db: Store,
    *,
    as_of=None,
    threshold_days: int | None = None,
    quantile: float = DEFAULT_QUANTILE,
    segment_by=None,
    stores=None,
    cities=None,
    join_channels=None,
    rmst_horizon_days: int = RMST_HORIZON_DAYS,
    marks=AT_RISK_MARKS,
) -> ChurnSurvival:
    """Kaplan-Meier of time to churn after the first visit, by segment, with log-rank tests and RMST.

    Time is ``duration_days`` of :func:`member_lifetimes` (days from the first visit until the member
    counts as churned; members not churned at as_of are censored there). The engine sends counts per
    (segment, duration_days, churned); each segment's lifelines KaplanMeierFitter is fitted on those with
    ``weights`` (the same estimate as one row per member). Intervals are lifelines' 95% exponential
    Greenwood intervals.

    Returns a :class:`ChurnSurvival` with

    ``curves``: one row per segment and day on which a member churned or was censored (and day 0):
      segment      segment value (text)
      day          days since the first visit (int)
      survival     share of the segment's members not yet churned at the end of the day (0-1)
      ci_low, ci_high  its 95% interval (0-1)
      at_risk      members still under observation at the start of the day (int)
      churned      members whose churn is dated on this day (int)
      censored     members last seen not churned on this day (int)
    ``at_risk_table``: segment, day (each of ``marks``), at_risk (members whose duration is >= day),
      churned (churns dated on or before day), survival (the curve at day; NaN beyond the last observed day)
    ``medians``: segment, members, churned, censored, median_days (days from the first visit until half
      the members have churned; NaN when the curve does not fall to one half within the data), ci_low,
      ci_high (from the pointwise band, lifelines' median_survival_times; NaN = not reached)
    ``logrank``: test ('overall' = lifelines multivariate_logrank_test over every segment; 'pairwise' =
      logrank_test for each pair), segment_a, segment_b (empty for 'overall'), test_statistic (chi-squared),
      df, p_value. Empty with one segment.
    ``rmst``: segment, members, horizon_days, rmst_days (restricted mean survival time: the mean days of
      the first horizon_days after the first visit a member spends not churned; lifelines
      restricted_mean_survival_time), se_days, ci_low, ci_high (rmst +- 1.96 se; the se is the
      Greenwood-type variance of the Kaplan-Meier area, Klein & Moeschberger (2003) eq. 4.5.2, since
      lifelines' return_variance gives the spread of the restricted times, not of the estimate),
      horizon_observed (bool: some member's duration reaches the horizon; if not, the curve's last value is
      carried to the horizon)
    ``params``: as_of, threshold_days, quantile, segment_by (name, 'custom' for a DataFrame, or None),
      stores, cities, join_channels, rmst_horizon_days, marks, members, currency.

    Segments are read at as_of. Splitting by something members acquire during their life (vip, in_group)
    credits it with the time before they had it (a member had to stay to buy a card), so those curves
    overstate its effect; :func:`churn_drivers` treats both as time-varying.

    No visiting member in scope gives empty frames and a ThinDataWarning; segment_by with a single segment
    gives an empty ``logrank`` and a ThinDataWarning.
    """
    _check_days("rmst_horizon_days", rmst_horizon_days)
    marks = _check_marks(marks)
    as_of = scope.resolve_as_of(db, as_of)
    threshold = _resolve_threshold(
        db, as_of, threshold_days, quantile, stores=stores, cities=cities, join_channels=join_channels
    )
    t = _lifetimes_expr(
        db,
        as_of=as_of,
        threshold_days=threshold,
        segment_by=segment_by,
        stores=stores,
        cities=cities,
        join_channels=join_channels,
    )
    counts = t.group_by(["segment", "duration_days", "churned"]).aggregate(members=t.count()).to_pandas()
    params = {
        "as_of": as_of,
        "threshold_days": threshold,
        "quantile": quantile if threshold_days is None else None,
        "segment_by": _segment_name(segment_by),
        "stores": stores,
        "cities": cities,
        "join_channels": join_channels,
        "rmst_horizon_days": int(rmst_horizon_days),
        "marks": marks,
        "members": int(counts["members"].sum()) if len(counts) else 0,
        "currency": db.settings.currency,
    }
    return survival_from_counts(counts, params=params, rmst_horizon_days=rmst_horizon_days, marks=marks)


def survival_from_counts(
    counts: pd.DataFrame,
    *,
    params: dict[str, Any] | None = None,
    rmst_horizon_days: int = RMST_HORIZON_DAYS,
    marks=AT_RISK_MARKS,
) -> ChurnSurvival:
    """The statistics of :func:`churn_survival` from counts: segment, duration_days, churned, members.

    Pure pandas + lifelines (no store), so it can be checked on hand-typed counts and fed by any engine.
    """
    params = dict(params or {})
    params.setdefault("rmst_horizon_days", int(rmst_horizon_days))
    params.setdefault("segment_by", None)
    c = counts.copy()
    c["segment"] = c["segment"].astype(str)
    c["duration_days"] = pd.to_numeric(c["duration_days"]).astype("int64")
    c["churned"] = c["churned"].astype(bool)
    c["members"] = pd.to_numeric(c["members"]).astype("int64")
    c = c[c["members"] > 0]
    c = c.groupby(["segment", "duration_days", "churned"], as_index=False)["members"].sum()
    c = c.sort_values(["segment", "duration_days", "churned"]).reset_index(drop=True)
    segments = sorted(c["segment"].unique().tolist())
    if not segments:
        warnings.warn(
            "no visiting member in scope; the churn survival result is empty.", ThinDataWarning, stacklevel=3
        )
    curves, at_risk, medians, rmst, fitters = [], [], [], [], {}
    for seg in segments:
        g = c[c["segment"] == seg]
        kmf = KaplanMeierFitter(alpha=1 - CONFIDENCE)
        kmf.fit(g["duration_days"], event_observed=g["churned"], weights=g["members"], label=seg)
        fitters[seg] = kmf
        curves.append(_curve_frame(seg, kmf))
        at_risk.append(_at_risk_frame(seg, g, kmf, marks))
        medians.append(_median_row(seg, g, kmf))
        rmst.append(_rmst_row(seg, g, kmf, rmst_horizon_days))
    return ChurnSurvival(
        curves=_frame(curves, CURVE_COLUMNS),
        at_risk_table=_frame(at_risk, AT_RISK_COLUMNS),
        medians=pd.DataFrame(medians, columns=list(MEDIAN_COLUMNS)),
        logrank=_logrank(c, segments, warn=params["segment_by"] is not None),
        rmst=pd.DataFrame(rmst, columns=list(RMST_COLUMNS)),
        params=params,
        fitters=fitters,
    )


def _curve_frame(seg: str, kmf: KaplanMeierFitter) -> pd.DataFrame:
    et = kmf.event_table
    ci = kmf.confidence_interval_survival_function_
    return pd.DataFrame(
        {
            "segment": seg,
            "day": et.index.to_numpy().astype("int64"),
            "survival": kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float),
            "ci_low": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_high": ci.iloc[:, 1].to_numpy(dtype=float),
            "at_risk": np.rint(et["at_risk"].to_numpy(dtype=float)).astype("int64"),
            "churned": np.rint(et["observed"].to_numpy(dtype=float)).astype("int64"),
            "censored": np.rint(et["censored"].to_numpy(dtype=float)).astype("int64"),
        }
    )


def _at_risk_frame(seg: str, g: pd.DataFrame, kmf: KaplanMeierFitter, marks) -> pd.DataFrame:
    last = int(g["duration_days"].max())
    rows = []
    for d in marks:
        rows.append(
            {
                "segment": seg,
                "day": int(d),
                "at_risk": int(g.loc[g["duration_days"] >= d, "members"].sum()),
                "churned": int(g.loc[g["churned"] & (g["duration_days"] <= d), "members"].sum()),
                "survival": float(kmf.predict(d)) if d <= last else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _median_row(seg: str, g: pd.DataFrame, kmf: KaplanMeierFitter) -> dict:
    ci = median_survival_times(kmf.confidence_interval_survival_function_)
    low, high = (float(x) for x in np.asarray(ci, dtype=float).reshape(-1)[:2])
    churned = int(g.loc[g["churned"], "members"].sum())
    total = int(g["members"].sum())
    return {
        "segment": seg,
        "members": total,
        "churned": churned,
        "censored": total - churned,
        "median_days": _finite(kmf.median_survival_time_),
        "ci_low": _finite(low),
        "ci_high": _finite(high),
    }


def _rmst_row(seg: str, g: pd.DataFrame, kmf: KaplanMeierFitter, horizon: int) -> dict:
    mean = float(restricted_mean_survival_time(kmf, t=horizon))
    et = kmf.event_table
    se = math.sqrt(
        rmst_variance(
            et.index.to_numpy(dtype=float),
            et["at_risk"].to_numpy(dtype=float),
            et["observed"].to_numpy(dtype=float),
            horizon,
        )
    )
    return {
        "segment": seg,
        "members": int(g["members"].sum()),
        "horizon_days": int(horizon),
        "rmst_days": mean,
        "se_days": se,
        "ci_low": max(0.0, mean - _Z * se),
        "ci_high": min(float(horizon), mean + _Z * se),
        "horizon_observed": bool(g["duration_days"].max() >= horizon),
    }


def rmst_variance(times, at_risk, events, horizon: float) -> float:
    """Variance of the Kaplan-Meier restricted mean up to ``horizon`` (Klein & Moeschberger 2003, eq. 4.5.2).

    var = sum over event times t_i <= horizon of A_i^2 * d_i / (n_i * (n_i - d_i)), where
    A_i = integral of the Kaplan-Meier curve from t_i to the horizon, n_i at risk and d_i events at t_i.
    A term with d_i = n_i (the curve reaches 0) has A_i = 0 and adds nothing.
    """
    t = np.asarray(times, dtype=float)
    n = np.asarray(at_risk, dtype=float)
    d = np.asarray(events, dtype=float)
    order = np.argsort(t, kind="stable")
    t, n, d = t[order], n[order], d[order]
    keep = t <= horizon
    t, n, d = t[keep], n[keep], d[keep]
    if not len(t):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 0, 1.0 - d / n, 1.0)
    surv = np.cumprod(factor)  # the curve from t_i on
    ends = np.append(t[1:], horizon)
    pieces = surv * (ends - t)  # area of each step up to the horizon
    area_from = np.cumsum(pieces[::-1])[::-1]  # A_i
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where((d > 0) & (n > d), area_from**2 * d / (n * (n - d)), 0.0)
    return float(terms.sum())


def _logrank(c: pd.DataFrame, segments: list[str], *, warn: bool) -> pd.DataFrame:
    if len(segments) < 2:
        if segments and warn:
            warnings.warn(
                "the segments hold only one group of members; there is nothing for a log-rank test to compare.",
                ThinDataWarning,
                stacklevel=4,
            )
        return pd.DataFrame(columns=list(LOGRANK_COLUMNS))
    rows = []
    overall = multivariate_logrank_test(c["duration_days"], c["segment"], c["churned"], weights=c["members"])
    rows.append(
        {
            "test": "overall",
            "segment_a": "",
            "segment_b": "",
            "test_statistic": float(overall.test_statistic),
            "df": int(overall.degrees_of_freedom),
            "p_value": float(overall.p_value),
        }
    )
    for a, b in combinations(segments, 2):
        ga, gb = c[c["segment"] == a], c[c["segment"] == b]
        r = logrank_test(
            ga["duration_days"],
            gb["duration_days"],
            ga["churned"],
            gb["churned"],
            weights_A=ga["members"],
            weights_B=gb["members"],
        )
        rows.append(
            {
                "test": "pairwise",
                "segment_a": a,
                "segment_b": b,
                "test_statistic": float(r.test_statistic),
                "df": 1,
                "p_value": float(r.p_value),
            }
        )
    return pd.DataFrame(rows, columns=list(LOGRANK_COLUMNS))


# -- drivers (Cox) ---------------------------------------------------------------------------------------


def churn_drivers(
    db: Store,
    *,
    as_of=None,
    threshold_days: int | None = None,
    quantile: float = DEFAULT_QUANTILE,
    covariates=DEFAULT_COVARIATES,
    time_varying: bool = True,
    from_visit: int = DRIVERS_FROM_VISIT,
    reference: dict[str, str] | None = None,
    sample: int | None = DRIVER_SAMPLE,
    seed: int = 0,
    min_level_members: int = MIN_LEVEL_MEMBERS,
    ph_alpha: float = PH_ALPHA,
    stores=None,
    cities=None,
    join_channels=None,
) -> ChurnDrivers:
    """Which member attributes go with churning sooner: a Cox proportional-hazards model (lifelines).

    Data: :func:`member_lifetimes` (time = duration_days, event = churned), one row per visiting member in
    scope with follow-up (duration_days > 0; a member whose only visit is on as_of carries no information).
    With more than ``sample`` of them a simple random sample of ``sample`` members is fitted (members
    ordered by id, then ``DataFrame.sample(random_state=seed)``: the same call gives the same sample);
    ``sample=None`` fits everyone.

    Covariates (``covariates``, any of COVARIATE_CHOICES):
      categorical (join_channel, link_mode, city, ...) one column per level against a reference level:
          ``reference={"city": "上海"}`` if given, else link_mode 'none' when present, else the most common
          level (ties: the first by name). Levels with fewer than ``min_level_members`` members are pooled
          into 'pooled' (never the reference).
      flags (vip, in_group, price_sensitive)  True against the reference False.
      first_ticket  log2(1 + first ticket, currency), so its hazard ratio is per doubling of the first ticket.

    ``from_visit``: members enter the model at their from_visit-th visit (left truncation: before it
    they are not at risk; members with fewer visits are left out). 1 (default) fits every visiting member
    from the first visit; 2 leaves out members who never came back.

    ``time_varying=True`` (default): vip and in_group are what they were at each moment, not at as_of. A
    member is VIP from the local day of ``vip_since``, and in a group from the day of joining one to the
    day of leaving it (``group_members``; overlapping groups count once). Counting VIP cards bought late
    in life as if held from the first visit credits the card with the time it took to buy it
    (immortal-time bias): on a simulated chain with a planted hazard ratio of 0.5 the static model finds
    about 0.2. The time scale is duration_days, on which a churn is dated T days after the last visit, so
    the status used at time t is the status on the calendar day (first visit + t - T): at a churn, the
    status at the last visit. Fitted with lifelines' CoxPHFitter in counting-process form (``entry_col``).
    ``time_varying=False`` reads every attribute at as_of (scope.member_attributes).

    A column that is a linear combination of earlier ones (e.g. a flag equal to a set of link modes) cannot
    be told apart from them: it is dropped, listed in ``params['dropped']``, and the earlier covariate (in
    the order of ``covariates``) keeps the effect. A covariate with one level left is dropped as well.
    The fit is unpenalised; if lifelines does not converge (e.g. a level where nobody churned) it is refitted
    with a ridge penalizer of FALLBACK_PENALIZER, recorded in ``params['penalizer']``.

    Returns a :class:`ChurnDrivers` with

    ``hazard_ratios``: one row per covariate level, the reference level first (hazard_ratio 1, no interval):
      covariate, level (text; 'True' / 'False' for flags; 'per doubling' for first_ticket), reference (the
      reference level; '' for first_ticket), hazard_ratio (exp(coef): churn hazard relative to the
      reference; < 1 churns more slowly), ci_low, ci_high (95%), p_value (Wald), members (members at the
      level at the end of their follow-up, in the fit)
    ``ph_check``: lifelines' proportional_hazard_test (rank time transform) on scaled Schoenfeld residuals,
      per model column: covariate, level, test_statistic (chi-squared, 1 df), p_value, violated
      (p_value < ph_alpha), trend ('weakens' / 'strengthens': the effect over time, from the residuals'
      slope against the coefficient; '' when not violated), advice_zh, advice_en (what to make of it).
      With hundreds of thousands of members even a harmless drift is significant: read the advice.
    ``concordance``: Harrell's C of the fit with time-varying risk sets (0.5 = chance, 1 = perfect ranking)
    ``members``, ``events``: members and churns in the fit; ``sampled``: bool
    ``params``: as_of, threshold_days, covariates, time_varying (covariates fitted as time-varying), from_visit,
      references ({covariate: level}), dropped ({column or covariate: reason}), pooled ({covariate:
      [levels]}), penalizer, sample, seed, members_in_scope, ph_alpha, stores, cities, join_channels.

    Reading them: the hazard ratios describe churn as the T-day rule sees it, and they are associations,
    not effects of the attribute. On the simulated chain, whose latent dropout hazard ratios are VIP 0.5 and
    group 0.6, they come out at about 0.3-0.35 and 0.9: cards go to frequent visitors, who are rarely
    caught in a gap longer than T while still active, and group messages bring members who have left in
    for single visits, each of which dates a later churn. Fed the latent dropout times instead, the same
    model recovers the planted values (tests/analyses/test_churn.py).

    Unknown covariates raise ParameterError naming the valid ones. No churn in scope gives empty frames,
    concordance NaN and a ThinDataWarning.
    """
    covariates = _check_covariates(covariates)
    reference = _check_reference(reference, covariates)
    if sample is not None and (
        isinstance(sample, bool) or not isinstance(sample, int | np.integer) or sample < 2
    ):
        raise ParameterError(f"sample={sample!r} is not valid; expected a number of members >= 2, or None.")
    _check_int("min_level_members", min_level_members, 1)
    _check_int("from_visit", from_visit, 1)
    if not 0 < ph_alpha < 1:
        raise ParameterError(
            f"ph_alpha={ph_alpha!r} is not valid; expected a p-value threshold between 0 and 1."
        )
    as_of = scope.resolve_as_of(db, as_of)
    threshold = _resolve_threshold(
        db, as_of, threshold_days, quantile, stores=stores, cities=cities, join_channels=join_channels
    )
    t = _lifetimes_expr(
        db,
        as_of=as_of,
        threshold_days=threshold,
        segment_by=None,
        stores=stores,
        cities=cities,
        join_channels=join_channels,
    )
    if from_visit > 1:
        nv = scope.visits_in_scope(db, as_of=as_of, stores=stores, cities=cities, numbered=True)
        kth = nv.filter(nv.visit_number == from_visit).select(k_member="member_id", entry_day="day")
        t = t.inner_join(kth, t.member_id == kth.k_member).mutate(
            entry=lambda r: r.entry_day.delta(r.first_day, unit="day").cast("float64") + (threshold - 0.5)
        )
    else:
        t = t.mutate(entry=ibis.literal(0.0))
    frame = (
        t.select("member_id", "first_day", "duration_days", "churned", "entry", *covariates)
        .order_by("member_id")
        .to_pandas()
    )
    # Members with no follow-up after they enter carry no information (e.g. their only visit is on as_of).
    frame = frame[pd.to_numeric(frame["duration_days"]) > frame["entry"]]
    in_scope = len(frame)
    sampled = sample is not None and in_scope > sample
    if sampled:
        frame = frame.sample(n=int(sample), random_state=seed).sort_values("member_id")
    frame = frame.reset_index(drop=True)
    dynamic = tuple(c for c in TIME_VARYING_COVARIATES if c in covariates) if time_varying else ()
    params = {
        "as_of": as_of,
        "threshold_days": threshold,
        "covariates": covariates,
        "time_varying": dynamic,
        "from_visit": from_visit,
        "sample": sample,
        "seed": seed,
        "members_in_scope": in_scope,
        "stores": stores,
        "cities": cities,
        "join_channels": join_channels,
    }
    changes = flag_changes(db, frame, dynamic, as_of=as_of, lag=threshold - 0.5) if dynamic else None
    if not frame["churned"].astype(bool).any():
        warnings.warn(
            f"no member in scope has churned by {as_of.isoformat()} (T={threshold} days); there is nothing "
            "for a Cox model to explain.",
            ThinDataWarning,
            stacklevel=2,
        )
    return drivers_from_frame(
        frame,
        changes,
        covariates=covariates,
        time_varying=dynamic,
        reference=reference,
        min_level_members=min_level_members,
        ph_alpha=ph_alpha,
        sampled=sampled,
        params=params,
    )


def drivers_from_frame(
    frame: pd.DataFrame,
    changes: pd.DataFrame | None = None,
    *,
    covariates=DEFAULT_COVARIATES,
    time_varying=(),
    reference: dict[str, str] | None = None,
    min_level_members: int = MIN_LEVEL_MEMBERS,
    ph_alpha: float = PH_ALPHA,
    sampled: bool = False,
    params: dict[str, Any] | None = None,
) -> ChurnDrivers:
    """The Cox part of :func:`churn_drivers` on a member frame (no store), e.g. to check it on a truth.

    ``frame``: one row per member, columns duration_days (time on the model's clock), churned (event),
    entry (optional: time the member enters the risk set, default 0) and each of ``covariates``.
    ``changes``: when the flags of ``time_varying`` switch, on the same clock: row (position in
    ``frame``), t, flag, delta (+1 on, -1 off); see :func:`workbench.analyses.churn_cox.member_episodes`.
    """
    covariates = _check_covariates(covariates)
    reference = _check_reference(reference, covariates)
    frame = frame.reset_index(drop=True)
    params = {
        **(params or {}),
        "references": {},
        "dropped": {},
        "pooled": {},
        "penalizer": 0.0,
        "ph_alpha": ph_alpha,
    }
    params.setdefault("covariates", covariates)
    params.setdefault("time_varying", tuple(time_varying))
    events = int(frame["churned"].astype(bool).sum()) if len(frame) else 0
    if events == 0:
        return _empty_drivers(len(frame), 0, sampled, params)
    dynamic = tuple(time_varying)
    static = [c for c in covariates if c not in dynamic]
    design, columns = _static_design(frame, static, reference, min_level_members, params)
    data = design.copy()
    data[cox.STOP] = frame["duration_days"].astype(float)
    data[cox.EVENT] = frame["churned"].astype(bool)
    data[cox.START] = frame["entry"].astype(float) if "entry" in frame else 0.0
    if dynamic:
        data, flag_columns = _time_varying_data(data, changes, dynamic, params=params)
        columns += flag_columns
    order = {c: i for i, c in enumerate(covariates)}
    columns.sort(key=lambda c: order[c["covariate"]])  # the user's order decides which aliased column goes
    names = [c["column"] for c in columns]
    for name, why in cox.aliased_columns(data[names]).items() if names else []:
        params["dropped"][name] = f"{why}: a combination of the covariates before it"
    columns = [c for c in columns if c["column"] not in params["dropped"]]
    if not columns:
        warnings.warn(
            "no covariate has two levels in scope; there is no contrast to estimate.",
            ThinDataWarning,
            stacklevel=2,
        )
        return _empty_drivers(len(frame), events, sampled, params)
    names = [c["column"] for c in columns]
    # Entry times matter only when a member enters late or changes status during follow-up; otherwise
    # lifelines' faster fixed-covariate path gives the same fit.
    entry = bool((data[cox.START] > 0).any())
    if not entry:
        data[cox.START] = -np.inf
    cph, penalizer = cox.fit_cox(
        data, names, entry=entry, alpha=1 - CONFIDENCE, fallback_penalizer=FALLBACK_PENALIZER
    )
    params["penalizer"] = penalizer
    summary, slope = cox.ph_test(cph, data, names, entry=entry)
    score = data[names].to_numpy(dtype=float) @ cph.params_[names].to_numpy(dtype=float)
    concordance = cox.concordance(score, data[cox.START], data[cox.STOP], data[cox.EVENT])
    last = data.drop_duplicates("row", keep="last") if "row" in data else data
    return ChurnDrivers(
        hazard_ratios=_hazard_ratios(cph, columns, params["references"], last, covariates),
        ph_check=_ph_frame(cph, columns, summary, slope, ph_alpha),
        concordance=concordance,
        members=len(frame),
        events=events,
        sampled=sampled,
        params=params,
        model=cph,
    )


def _empty_drivers(members: int, events: int, sampled: bool, params: dict) -> ChurnDrivers:
    return ChurnDrivers(
        hazard_ratios=pd.DataFrame(columns=list(HAZARD_COLUMNS)),
        ph_check=pd.DataFrame(columns=list(PH_COLUMNS)),
        concordance=float("nan"),
        members=members,
        events=events,
        sampled=sampled,
        params=params,
        model=None,
    )


def _levels(frame: pd.DataFrame, cov: str) -> pd.Series:
    values = frame[cov].astype(str)
    if cov in FLAG_COVARIATES:
        values = values.str.capitalize()  # 'True' / 'False', whatever the engine gave
    return values


def _static_design(
    frame, covariates, reference, min_level_members, params
) -> tuple[pd.DataFrame, list[dict]]:
    """Model columns: one per non-reference level of each categorical, log2(1 + x) for numeric ones.

    Column names are 'covariate=level' ('first_ticket=log2'); the 0/1 level columns of each covariate are
    recorded with their covariate, level and reference.
    """
    design = pd.DataFrame(index=frame.index)
    columns: list[dict] = []
    for cov in covariates:
        if cov in NUMERIC_COVARIATES:
            x = pd.to_numeric(frame[cov]).astype(float).clip(lower=0).fillna(0.0)
            if x.nunique() < 2:
                params["dropped"][cov] = "one value in scope"
                continue
            name = f"{cov}=log2"
            design[name] = np.log2(1.0 + x)
            columns.append({"column": name, "covariate": cov, "level": PER_DOUBLING})
            params["references"][cov] = ""
            continue
        values = _levels(frame, cov)
        counts = values.value_counts()
        if cov not in FLAG_COVARIATES and len(counts) > 1:
            rare = [
                lvl for lvl in sorted(counts[counts < min_level_members].index) if lvl != reference.get(cov)
            ]
            if rare and len(rare) < len(counts):
                values = values.where(~values.isin(rare), POOLED_LEVEL)
                params["pooled"][cov] = rare
                counts = values.value_counts()
        if len(counts) < 2:
            params["dropped"][cov] = "one level in scope"
            continue
        ref = _reference_level(cov, counts, reference.get(cov))
        params["references"][cov] = ref
        for lvl in sorted(counts.index):
            if lvl == ref:
                continue
            name = f"{cov}={lvl}"
            design[name] = (values == lvl).astype(float)
            columns.append({"column": name, "covariate": cov, "level": lvl})
    return design, columns


def _reference_level(cov: str, counts: pd.Series, wanted) -> str:
    levels = set(counts.index)
    if cov in FLAG_COVARIATES:
        return "False" if "False" in levels else sorted(levels)[0]
    if wanted is not None:
        if str(wanted) not in levels:
            raise ParameterError(
                f"reference[{cov!r}]={wanted!r} is not a level of {cov} in scope; expected one of: "
                + ", ".join(sorted(levels))
                + "."
            )
        return str(wanted)
    preferred = PREFERRED_REFERENCE.get(cov)
    if preferred in levels:
        return preferred
    candidates = counts.drop(POOLED_LEVEL, errors="ignore")
    top = candidates.max()
    return sorted(candidates[candidates == top].index.tolist())[0]


def _time_varying_data(data, changes, dynamic, *, params) -> tuple[pd.DataFrame, list[dict]]:
    """Episodes of the members of ``data`` (row = position) with the time-varying flags as columns."""
    if changes is None:
        changes = pd.DataFrame(columns=["row", "t", "flag", "delta"])
    members = pd.DataFrame(
        {
            "row": np.arange(len(data)),
            cox.STOP: data[cox.STOP].to_numpy(),
            cox.EVENT: data[cox.EVENT].to_numpy(),
        }
    )
    episodes = cox.member_episodes(members, changes, dynamic)
    entry = data[cox.START].to_numpy(dtype=float)[episodes["row"].to_numpy()]
    keep = episodes[cox.STOP].to_numpy() > entry  # left truncation: time before entering is not at risk
    episodes = episodes[keep].reset_index(drop=True)
    episodes[cox.START] = np.maximum(episodes[cox.START].to_numpy(), entry[keep])
    static = data.drop(columns=[cox.START, cox.STOP, cox.EVENT])
    out = static.iloc[episodes["row"].to_numpy()].reset_index(drop=True)
    out = pd.concat([episodes[["row", cox.START, cox.STOP, cox.EVENT]], out], axis=1)
    columns = []
    for flag in dynamic:
        on = episodes[flag].to_numpy(dtype=bool)
        if on.all() or not on.any():
            params["dropped"][flag] = "one level in scope"
            continue
        name = f"{flag}=True"
        out[name] = on.astype(float)
        params["references"][flag] = "False"
        columns.append({"column": name, "covariate": flag, "level": "True"})
    return out, columns


def flag_changes(db: Store, frame: pd.DataFrame, dynamic, *, as_of, lag: float) -> pd.DataFrame:
    """When the flags of the members in ``frame`` (member_id, first_day) switch: row, t, flag, delta.

    VIP switches on at the local day of ``members.vip_since``; in_group on at each ``group_members``
    joined_at and off at its left_at (days up to ``as_of``). A switch on calendar day d is placed at
    t = (d - first visit, days) + ``lag``; one on or before the first visit is the starting status (t = 0).
    churn_drivers uses lag = T - 0.5: on its clock a churn is dated T days after the last visit, so a switch
    on the day of a member's last visit counts at their churn, one on the next day does not.
    """
    # Switches up to as_of by instant, of the fitted members, before the local day of each is worked out.
    day_after = calendar.day_start(calendar.as_date(as_of) + dt.timedelta(days=1), db.settings.timezone)
    ids = ibis.memtable(pd.DataFrame({"fit_member": frame["member_id"].astype(str)}))
    parts = []
    if "vip" in dynamic:
        m = db.members
        m = m.filter(m.vip_since.notnull() & (m.vip_since < day_after))
        m = m.semi_join(ids, m.member_id == ids.fit_member)
        vip = m.select("member_id", on=calendar.local_day(m.vip_since))
        parts.append(vip.mutate(flag=ibis.literal("vip"), off=ibis.null("date")).to_pandas())
    if "in_group" in dynamic and db.has("group_members"):
        g = db.group_members
        g = g.filter(g.joined_at < day_after)
        g = g.semi_join(ids, g.member_id == ids.fit_member)
        spells = g.select("member_id", on=calendar.local_day(g.joined_at), off=calendar.local_day(g.left_at))
        parts.append(spells.mutate(flag=ibis.literal("in_group")).to_pandas())
    columns = ["row", "t", "flag", "delta"]
    if not parts:
        return pd.DataFrame(columns=columns)
    spells = pd.concat([p[["member_id", "on", "off", "flag"]] for p in parts], ignore_index=True)
    position = pd.Series(np.arange(len(frame)), index=frame["member_id"].astype(str))
    spells["row"] = spells["member_id"].astype(str).map(position).to_numpy()
    spells["first"] = pd.to_datetime(frame["first_day"]).to_numpy()[spells["row"].to_numpy()]

    def clock(rows: pd.DataFrame, column: str) -> np.ndarray:
        offset = (pd.to_datetime(rows[column]) - rows["first"]).dt.days.to_numpy(dtype=float)
        return np.where(offset <= 0, 0.0, offset + lag)

    on = pd.DataFrame({"row": spells["row"], "t": clock(spells, "on"), "flag": spells["flag"], "delta": 1})
    ended = spells[spells["off"].notna() & (pd.to_datetime(spells["off"]) <= pd.Timestamp(as_of))]
    off = pd.DataFrame({"row": ended["row"], "t": clock(ended, "off"), "flag": ended["flag"], "delta": -1})
    return pd.concat([on, off], ignore_index=True)[columns]


def _hazard_ratios(cph, columns, references, last, covariates) -> pd.DataFrame:
    s = cph.summary
    lo = next(c for c in s.columns if c.startswith("exp(coef) lower"))
    hi = next(c for c in s.columns if c.startswith("exp(coef) upper"))
    rows = []
    for cov in covariates:
        cols = [c for c in columns if c["covariate"] == cov]
        if not cols:
            continue
        ref = references[cov]
        if cov not in NUMERIC_COVARIATES:
            others = last[[c["column"] for c in cols]].to_numpy(dtype=float).sum(axis=1)
            rows.append(
                {
                    "covariate": cov,
                    "level": ref,
                    "reference": ref,
                    "hazard_ratio": 1.0,
                    "ci_low": float("nan"),
                    "ci_high": float("nan"),
                    "p_value": float("nan"),
                    "members": int((others == 0).sum()),
                }
            )
        for c in cols:
            r = s.loc[c["column"]]
            members = len(last) if cov in NUMERIC_COVARIATES else int(last[c["column"]].astype(bool).sum())
            rows.append(
                {
                    "covariate": cov,
                    "level": c["level"],
                    "reference": ref,
                    "hazard_ratio": float(r["exp(coef)"]),
                    "ci_low": float(r[lo]),
                    "ci_high": float(r[hi]),
                    "p_value": float(r["p"]),
                    "members": members,
                }
            )
    return pd.DataFrame(rows, columns=list(HAZARD_COLUMNS))


def _ph_frame(cph, columns, summary, slope, alpha) -> pd.DataFrame:
    rows = []
    for c in columns:
        name = c["column"]
        p = float(summary.loc[name, "p"])
        violated = bool(p < alpha)
        trend = ""
        if violated:
            trend = "weakens" if float(slope[name]) * float(cph.params_[name]) < 0 else "strengthens"
        advice = {}
        for lang in i18n.LANGS:
            if violated:
                label = level_label(c["covariate"], c["level"], lang, with_covariate=True)
                advice[lang] = i18n.t(f"churn.ph.{trend}", lang, name=label)
            else:
                advice[lang] = i18n.t("churn.ph.ok", lang)
        rows.append(
            {
                "covariate": c["covariate"],
                "level": c["level"],
                "test_statistic": float(summary.loc[name, "test_statistic"]),
                "p_value": p,
                "violated": violated,
                "trend": trend,
                "advice_zh": advice["zh"],
                "advice_en": advice["en"],
            }
        )
    return pd.DataFrame(rows, columns=list(PH_COLUMNS))


# -- parameters and helpers ------------------------------------------------------------------------------


def _resolve_threshold(db, as_of, threshold_days, quantile, **filters) -> int:
    if threshold_days is None:
        return churn_threshold(db, as_of=as_of, quantile=quantile, **filters)
    _check_days("threshold_days", threshold_days)
    return int(threshold_days)


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}.")


def _check_days(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number of days >= 1.")


def _check_quantile(q) -> None:
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < 1:
        raise ParameterError(
            f"quantile={q!r} is not valid; expected a share strictly between 0 and 1 (e.g. 0.9)."
        )


def _check_marks(marks) -> tuple[int, ...]:
    values = tuple(marks)
    if not values or any(isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 0 for m in values):
        raise ParameterError(
            f"marks={marks!r} is not valid; expected whole numbers of days >= 0 (e.g. 0, 30, 90)."
        )
    return tuple(sorted({int(m) for m in values}))


def _check_covariates(covariates) -> tuple[str, ...]:
    if isinstance(covariates, str):
        covariates = (covariates,)
    covariates = tuple(covariates)
    unknown = [c for c in covariates if c not in COVARIATE_CHOICES]
    if unknown:
        raise ParameterError(
            f"covariates {', '.join(repr(c) for c in unknown)} not known; expected any of: "
            + ", ".join(COVARIATE_CHOICES)
            + "."
        )
    if not covariates:
        raise ParameterError(
            "covariates is empty; expected at least one of: " + ", ".join(COVARIATE_CHOICES) + "."
        )
    return tuple(dict.fromkeys(covariates))


def _check_reference(reference, covariates) -> dict[str, str]:
    reference = dict(reference or {})
    bad = [k for k in reference if k not in covariates or k in NUMERIC_COVARIATES or k in FLAG_COVARIATES]
    if bad:
        raise ParameterError(
            f"reference given for {', '.join(repr(b) for b in bad)}; expected categorical covariates of this "
            "model: "
            + ", ".join(c for c in covariates if c not in NUMERIC_COVARIATES + FLAG_COVARIATES)
            + "."
        )
    return {k: str(v) for k, v in reference.items()}


def _segment_name(segment_by):
    if segment_by is None or isinstance(segment_by, str):
        return segment_by
    return "custom"


def _frame(parts: list[pd.DataFrame], columns) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(parts, ignore_index=True)[list(columns)]


def _finite(x) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def _day_text(params: dict) -> str:
    day = params.get("as_of")
    return day.isoformat() if day is not None else "-"


def _format_p(p: float) -> str:
    if pd.isna(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
