"""Acquisition funnel: of the members a channel or store brought in, how many ordered, came back, paid
again and brought a friend (DESIGN.md "Overview": new members by channel and store; the private pool's
inflow).

Each member is followed for a *conversion window* of ``window_days`` after the local day of joining (days
0 .. window_days, as "within d days" everywhere in the workbench); every step must happen inside it, as in
the usual ordered funnel of product analytics. Only mature cohorts count: members who joined at least
``window_days`` before ``as_of``, so every member had the whole window to convert and a recent cohort does
not drag the shares down. The steps, in order (``STEPS``), each counting the members who reached it *and
every step before it*:

1. **acquired**: joined between ``joined_from`` and ``joined_to`` (and mature).
2. **activated**: a first visit (a member's orders on one local day) on or after the day of joining, within
   the window. Visits before joining do not count: the funnel asks what joining brought.
3. **revenue**: a paid visit after the first one, within the window (repeat revenue > 0): the member
   brought revenue beyond the first ticket.
4. **retained**: the second visit came within ``retained_within_days`` of the first (a quick return; a
   member whose first visit is late in the window has less time, as in any conversion window).
5. **referral**: brought at least one new member (``members.referrer_id``) who joined within the window.

Revenue comes before retention here although the AARRR mnemonic lists retention first: "revenue beyond the
first visit in the window" contains "came back within N days", so the funnel narrows only in this order.
``members_any`` gives each step without the earlier ones (e.g. every referrer, retained or not).

Grouping (``by``) uses attributes fixed at joining, never the outcome: join channel, join store, or the
join store's city (members who joined online have no join store and fall in 'unknown'). A member's home
store would be wrong here: it comes from the first visit, so members who never visited would have none.

The engine reduces visits to one row per acquired member (flags and window revenue) and aggregates them per
group; pandas gets one row per group and adds shares, conversions and 95% Wilson intervals.

    f = acquisition_funnel(db, by="join_channel")
    f.steps          # one row per group and step
    print(f.summary(lang="en"))
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar
from workbench.data.store import Store, connect
from workbench.data.visits import visits as member_visits
from workbench.errors import ParameterError, ThinDataWarning, choices_message
from workbench.stats import wilson_interval

STEPS = ("acquired", "activated", "revenue", "retained", "referral")
BY_CHOICES = ("join_channel", "join_store_id", "city")
# A quarter: long enough for slow channels to activate (the official account's first orders take about
# three weeks on average) and for a monthly customer to come back, short enough to judge recent cohorts.
DEFAULT_WINDOW_DAYS = 90
# A month: the horizon operators quote for a first return (DESIGN.md "Repurchase cycle" horizons).
DEFAULT_RETAINED_WITHIN_DAYS = 30
# The group of every acquired member, always in ``steps`` beside the groups of ``by``.
TOTAL = "all"
UNKNOWN = "unknown"
# Two-sided level of the Wilson intervals (the workbench convention).
CONFIDENCE = 0.95

STEP_COLUMNS = (
    "group",
    "step",
    "members",
    "share_of_acquired",
    "ci_low",
    "ci_high",
    "conversion_from_previous",
    "conversion_ci_low",
    "conversion_ci_high",
    "members_any",
    "revenue",
    "repeat_revenue",
    "revenue_per_acquired",
)
MEMBER_COLUMNS = (
    "member_id",
    "group",
    "join_day",
    "first_day",
    "second_day",
    "visits",
    "revenue",
    "repeat_revenue",
    "referred_members",
    "activated",
    "revenue_step",
    "retained",
    "referral",
)

i18n.register(
    {
        "funnel.step.acquired": ("入会", "Acquired"),
        "funnel.step.activated": ("首单（激活）", "Activated (first visit)"),
        "funnel.step.revenue": ("复购贡献营收", "Repeat revenue"),
        "funnel.step.retained": ("{n}天内复购", "Back within {n} days"),
        "funnel.step.referral": ("推荐新会员", "Referred a new member"),
        "funnel.summary.head": (
            "拉新漏斗（{from_day} 至 {to_day} 入会、截至 {as_of} 已满 {window} 天观察期的会员）",
            "Acquisition funnel (members who joined {from_day} to {to_day}, each followed for {window} days, "
            "as of {as_of})",
        ),
        "funnel.summary.group": ("{group}：入会 {acquired} 人", "{group}: {acquired} acquired"),
        "funnel.summary.step": (
            "  {step} {members} 人，占入会 {share}（95% 置信区间 {low}–{high}），上一步转化 {conv}",
            "  {step} {members}, {share} of acquired (95% CI {low}–{high}), {conv} of the previous step",
        ),
        "funnel.summary.revenue": (
            "  观察期内人均营收 {per} {currency}（按入会人数）",
            "  revenue in the window per acquired member: {per} {currency}",
        ),
        "funnel.summary.empty": (
            "所选条件下没有已满观察期的入会会员",
            "No member in the selected range has completed the window yet",
        ),
        "funnel.summary.immature": (
            "另有 {n} 名会员入会不足 {window} 天，未计入",
            "{n} more members joined less than {window} days ago and are not counted yet",
        ),
    }
)


@dataclass(frozen=True)
class Funnel:
    """The result of :func:`acquisition_funnel` (its docstring lists every column).

    ``steps`` one row per (group, step); ``params`` the call's settings, with the resolved joining range and
    the count of members left out as not yet mature. ``summary(lang=...)`` is a short text for people.
    """

    steps: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        """'all' first, then the groups of ``by`` in the order of ``steps``."""
        return list(dict.fromkeys(self.steps["group"]))

    def group_label(self, value, lang: str = "zh") -> str:
        return group_label(self.params.get("by"), value, lang)

    def step_label(self, step: str, lang: str = "zh") -> str:
        return step_label(step, lang, retained_within_days=self.params["retained_within_days"])

    def summary(self, lang: str = "zh") -> str:
        i18n.check_lang(lang)
        p = self.params
        lines = [
            i18n.t(
                "funnel.summary.head",
                lang,
                from_day=_day_text(p["joined_from"]),
                to_day=_day_text(p["joined_to"]),
                window=p["window_days"],
                as_of=p["as_of"].isoformat(),
            )
        ]
        if self.steps.empty:
            lines.append(i18n.t("funnel.summary.empty", lang))
        for group in self.groups:
            rows = self.steps[self.steps["group"] == group].set_index("step")
            acquired = int(rows.loc["acquired", "members"])
            lines.append(
                i18n.t(
                    "funnel.summary.group",
                    lang,
                    group=self.group_label(group, lang),
                    acquired=f"{acquired:,}",
                )
            )
            for step in STEPS[1:]:
                r = rows.loc[step]
                lines.append(
                    i18n.t(
                        "funnel.summary.step",
                        lang,
                        step=self.step_label(step, lang),
                        members=f"{int(r['members']):,}",
                        share=_pct(r["share_of_acquired"]),
                        low=_pct(r["ci_low"]),
                        high=_pct(r["ci_high"]),
                        conv=_pct(r["conversion_from_previous"]),
                    )
                )
            per = rows.loc["acquired", "revenue_per_acquired"]
            lines.append(
                i18n.t(
                    "funnel.summary.revenue",
                    lang,
                    per="-" if pd.isna(per) else f"{per:,.1f}",
                    currency=_currency(p["currency"], lang),
                )
            )
        if p.get("immature_members"):
            lines.append(
                i18n.t(
                    "funnel.summary.immature", lang, n=f"{p['immature_members']:,}", window=p["window_days"]
                )
            )
        return "\n".join(lines)


def step_label(
    step: str, lang: str = "zh", *, retained_within_days: int = DEFAULT_RETAINED_WITHIN_DAYS
) -> str:
    """Display name of a funnel step ('retained' names its horizon)."""
    return i18n.t(f"funnel.step.{step}", lang, n=retained_within_days)


def group_label(by, value, lang: str = "zh") -> str:
    """Display name of a group value: 'all' / 'unknown' in words, join channels by name, else the value."""
    text = str(value)
    if text in (TOTAL, UNKNOWN):
        return i18n.t(text, lang)
    if by == "join_channel":
        return i18n.value_label("join_channel", text, lang)
    return text


# ---------------------------------------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------------------------------------


def acquisition_funnel(
    db,
    *,
    as_of=None,
    by: str | None = "join_channel",
    retained_within_days: int = DEFAULT_RETAINED_WITHIN_DAYS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    joined_from=None,
    joined_to=None,
) -> Funnel:
    """Acquired -> activated -> revenue -> retained -> referral, per group, for mature joining cohorts.

    Parameters (keyword-only):
      as_of                 analysis day (default: the data's last complete day); visits after it are ignored
      by                    'join_channel', 'join_store_id', 'city' (of the join store) or None (total only)
      retained_within_days  N: the second visit within N days of the first counts as retained (1..window_days)
      window_days           W: the conversion window after the day of joining, in days (>= 1)
      joined_from           first joining day counted (default: the first local day of the order data, since
                            the first visits of earlier members may not be in the data)
      joined_to             last joining day counted (default and latest: as_of - window_days, the last
                            mature day; a later day is moved back to it)

    Step definitions: see the module docstring. Members whose join day is after as_of - window_days are
    left out (``params["immature_members"]`` counts those who joined from joined_from to as_of).

    Returns a :class:`Funnel` whose ``steps`` has one row per group and step, the group 'all' (every
    acquired member) first and then the groups of ``by`` (by acquired members, most first), steps in
    ``STEPS`` order:
      group                      group value (text; 'all', a join channel, a store id, a city or 'unknown')
      step                       acquired, activated, revenue, retained or referral
      members                    members who reached this step and every earlier one (int)
      share_of_acquired          members / acquired members of the group (share 0-1; NaN for an empty group)
      ci_low, ci_high            95% Wilson interval of share_of_acquired (share 0-1)
      conversion_from_previous   members / members of the previous step (share 0-1; NaN for 'acquired' and
                                 when the previous step has nobody)
      conversion_ci_low, conversion_ci_high   its 95% Wilson interval (share 0-1)
      members_any                members who reached this step whatever the earlier ones (int; differs from
                                 members for referral, whose referrers need not have come back)
      revenue                    amount paid in the window by the step's members (currency, e.g. CNY)
      repeat_revenue             of that, paid after their first visit (currency)
      revenue_per_acquired       revenue / acquired members of the group (currency per acquired member)

    ``params``: as_of, by, window_days, retained_within_days, joined_from, joined_to (resolved dates),
    immature_members, currency.

    Raises ParameterError on a bad ``by``, window, retention horizon or joining range. No mature member in
    range gives an empty ``steps`` and a ThinDataWarning.
    """
    db = connect(db)
    params = _resolve_params(
        db, as_of=as_of, by=by, retained_within_days=retained_within_days, window_days=window_days,
        joined_from=joined_from, joined_to=joined_to,
    )  # fmt: skip
    if params["joined_from"] is None or params["joined_to"] < params["joined_from"]:
        _warn_empty(params)
        return Funnel(steps=_empty_steps(), params=params)
    per_member = _member_table(db, params)
    steps = _steps_frame(_group_counts(per_member).to_pandas())
    if steps.empty:
        _warn_empty(params)
    return Funnel(steps=steps, params=params)


def funnel_members(
    db,
    *,
    as_of=None,
    by: str | None = "join_channel",
    retained_within_days: int = DEFAULT_RETAINED_WITHIN_DAYS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    joined_from=None,
    joined_to=None,
) -> pd.DataFrame:
    """One row per acquired member of :func:`acquisition_funnel` (same parameters): who is behind each step.

    Columns (ordered by member_id):
      member_id                  as stored (opaque)
      group                      the member's group (text; 'all' when by is None)
      join_day                   local day of joining (datetime64)
      first_day, second_day      local days of the first and second visit in the window (NaT: none)
      visits                     visits in the window (int)
      revenue, repeat_revenue    paid in the window, and after the first visit (currency)
      referred_members           new members who joined within the window naming this member as referrer (int)
      activated, revenue_step, retained, referral   bool: reached that step and every earlier one
    """
    db = connect(db)
    params = _resolve_params(
        db, as_of=as_of, by=by, retained_within_days=retained_within_days, window_days=window_days,
        joined_from=joined_from, joined_to=joined_to,
    )  # fmt: skip
    if params["joined_from"] is None or params["joined_to"] < params["joined_from"]:
        _warn_empty(params)
        return pd.DataFrame({c: pd.Series(dtype="object") for c in MEMBER_COLUMNS})
    t = _member_table(db, params).to_pandas()
    t = t.rename(columns={"repeat": "revenue_step"})
    for flag in ("activated", "revenue_step", "retained", "referral"):
        t[flag] = t[flag].astype(bool)
    for column in ("join_day", "first_day", "second_day"):
        t[column] = pd.to_datetime(t[column])
    t["visits"] = t["visits"].astype("int64")
    t["referred_members"] = t["referred_members"].astype("int64")
    return t.sort_values("member_id", ignore_index=True)[list(MEMBER_COLUMNS)]


# ---------------------------------------------------------------------------------------------------------
# Engine side
# ---------------------------------------------------------------------------------------------------------


def funnel_member_table(
    db: Store, *, as_of, by, window_days: int, retained_within_days: int, joined_from, joined_to
) -> ibis.Table:
    """Ibis: one row per acquired member with the step flags (nested: each implies the previous ones).

    Columns: member_id, group, join_day, first_day, second_day, visits, revenue, repeat_revenue,
    referred_members, activated, repeat, retained, referral (see :func:`funnel_members`).
    """
    w_days = int(window_days)
    m = db.members
    m = m.mutate(join_day=calendar.local_day(m.joined_at))
    acq = m.filter(
        (m.join_day >= calendar.date_literal(joined_from)) & (m.join_day <= calendar.date_literal(joined_to))
    )
    if by == "city":
        stores = db.stores.select(s_store="store_id", s_city="city")  # store_id is the key: one row each
        acq = acq.left_join(stores, acq.join_store_id == stores.s_store)
        acq = acq.select("member_id", "join_day", group=acq.s_city.cast("string").fill_null(UNKNOWN))
    else:
        acq = acq.select("member_id", "join_day", group=_group_expr(acq, by))
    acq = acq.select("member_id", "group", "join_day")

    v = member_visits(db, as_of=as_of).select(v_member="member_id", day="day", amount="amount")
    vj = v.inner_join(acq, v.v_member == acq.member_id)
    since = vj.day.delta(vj.join_day, unit="day")
    vj = vj.filter((since >= 0) & (since <= w_days))
    w = ibis.window(group_by=vj.member_id, order_by=vj.day)
    vj = vj.mutate(rn=ibis.row_number().over(w))
    per = vj.group_by("member_id").aggregate(
        first_day=vj.day.min(),
        second_day=vj.day.min(where=vj.rn == 1),
        visits=vj.count(),
        revenue=vj.amount.sum(),
        repeat_revenue=vj.amount.sum(where=vj.rn >= 1),
    )
    per = per.rename(p_member="member_id")

    # Referees: members naming an acquired member as referrer, joining within that member's window.
    r = db.members
    r = r.filter(r.referrer_id.notnull()).select(
        referrer="referrer_id", r_day=calendar.local_day(r.joined_at)
    )
    referrers = acq.select(a_member="member_id", a_day="join_day")
    rj = r.inner_join(referrers, r.referrer == referrers.a_member)
    lag = rj.r_day.delta(rj.a_day, unit="day")
    rj = rj.filter((lag >= 0) & (lag <= w_days))
    refs = rj.group_by(ref_member=rj.referrer).aggregate(referred_members=rj.count())

    t = acq.left_join(per, acq.member_id == per.p_member).drop("p_member")
    t = t.left_join(refs, t.member_id == refs.ref_member).drop("ref_member")
    activated = t.first_day.notnull()
    repeat = activated & (t.repeat_revenue.fill_null(0.0) > 0)
    quick = t.second_day.notnull() & (
        t.second_day.delta(t.first_day, unit="day") <= int(retained_within_days)
    )
    retained = repeat & quick
    referred = t.referred_members.fill_null(0) > 0
    return t.select(
        "member_id",
        "group",
        "join_day",
        "first_day",
        "second_day",
        visits=t.visits.fill_null(0).cast("int64"),
        revenue=t.revenue.fill_null(0.0).cast("float64"),
        repeat_revenue=t.repeat_revenue.fill_null(0.0).cast("float64"),
        referred_members=t.referred_members.fill_null(0).cast("int64"),
        activated=activated,
        repeat=repeat,
        retained=retained,
        referral=retained & referred,
        quick=quick,
        referred=referred,
    )


def _group_expr(m: ibis.Table, by):
    """The group column of join channel / join store / the total (city is joined from stores)."""
    if by == "join_channel":
        return m.join_channel.cast("string").fill_null(UNKNOWN)
    if by == "join_store_id":
        return m.join_store_id.cast("string").fill_null(UNKNOWN)
    return ibis.literal(TOTAL)


def _group_counts(t: ibis.Table) -> ibis.Table:
    """Per group: acquired and the members / revenue of each step (nested and 'any')."""
    flags = {
        "acquired": t.member_id.notnull(),
        "activated": t.activated,
        "revenue": t.repeat,
        "retained": t.retained,
        "referral": t.referral,
    }
    any_flags = {
        "acquired": t.member_id.notnull(),
        "activated": t.activated,
        "revenue": t.repeat,
        "retained": t.activated & t.quick,
        "referral": t.referred,
    }
    aggs = {}
    for step, flag in flags.items():
        aggs[f"n_{step}"] = flag.cast("int64").sum()
        aggs[f"any_{step}"] = any_flags[step].cast("int64").sum()
        aggs[f"rev_{step}"] = ibis.ifelse(flag, t.revenue, 0.0).sum()
        aggs[f"rep_{step}"] = ibis.ifelse(flag, t.repeat_revenue, 0.0).sum()
    return t.group_by("group").aggregate(**aggs)


# ---------------------------------------------------------------------------------------------------------
# pandas side
# ---------------------------------------------------------------------------------------------------------


def _steps_frame(counts: pd.DataFrame) -> pd.DataFrame:
    if counts.empty:
        return _empty_steps()
    counts = counts.assign(group=counts["group"].astype(str))
    counts = counts.sort_values(["n_acquired", "group"], ascending=[False, True], ignore_index=True)
    numeric = [c for c in counts.columns if c != "group"]
    total = counts[numeric].sum().to_frame().T.assign(group=TOTAL)
    groups = total if (counts["group"] == TOTAL).all() else pd.concat([total, counts], ignore_index=True)
    rows = []
    for _, g in groups.iterrows():
        acquired = float(g["n_acquired"])
        previous = np.nan
        for step in STEPS:
            n = float(g[f"n_{step}"])
            rows.append(
                {
                    "group": g["group"],
                    "step": step,
                    "members": n,
                    "acquired": acquired,
                    "previous": previous,
                    "members_any": float(g[f"any_{step}"]),
                    "revenue": float(g[f"rev_{step}"]),
                    "repeat_revenue": float(g[f"rep_{step}"]),
                }
            )
            previous = n
    s = pd.DataFrame(rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        s["share_of_acquired"] = np.where(s["acquired"] > 0, s["members"] / s["acquired"], np.nan)
        s["conversion_from_previous"] = np.where(s["previous"] > 0, s["members"] / s["previous"], np.nan)
        s["revenue_per_acquired"] = np.where(s["acquired"] > 0, s["revenue"] / s["acquired"], np.nan)
    s["ci_low"], s["ci_high"] = wilson_interval(s["members"], s["acquired"], confidence=CONFIDENCE)
    conv_low, conv_high = wilson_interval(
        s["members"].where(s["previous"].notna()), s["previous"], confidence=CONFIDENCE
    )
    s["conversion_ci_low"], s["conversion_ci_high"] = conv_low, conv_high
    for column in ("members", "members_any"):
        s[column] = s[column].astype("int64")
    return s[list(STEP_COLUMNS)]


def _empty_steps() -> pd.DataFrame:
    dtypes = {"group": "object", "step": "object", "members": "int64", "members_any": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in STEP_COLUMNS})


# ---------------------------------------------------------------------------------------------------------
# Parameters and helpers
# ---------------------------------------------------------------------------------------------------------


def _resolve_params(
    db: Store, *, as_of, by, retained_within_days, window_days, joined_from, joined_to
) -> dict:
    """Check the parameters and resolve as_of and the mature joining range (see acquisition_funnel)."""
    if by is not None and by not in BY_CHOICES:
        raise ParameterError(choices_message("by", by, (*BY_CHOICES, None)))
    _check_days("window_days", window_days)
    _check_days("retained_within_days", retained_within_days)
    if retained_within_days > window_days:
        raise ParameterError(
            f"retained_within_days={retained_within_days} is longer than window_days={window_days}; expected at "
            "most the window, since every step must happen inside it."
        )
    given = joined_from is not None and joined_to is not None
    if given and calendar.as_date(joined_to) < calendar.as_date(joined_from):
        raise ParameterError(
            f"joined_to={joined_to!r} is before joined_from={joined_from!r}; expected joined_from <= joined_to."
        )
    day = scope.resolve_as_of(db, as_of)
    mature_to = day - dt.timedelta(days=int(window_days))
    start = scope.order_day_range(db)[0] if joined_from is None else calendar.as_date(joined_from)
    end = mature_to if joined_to is None else min(calendar.as_date(joined_to), mature_to)
    immature = 0
    if start is not None:
        immature = _immature(db, start=max(start, mature_to + dt.timedelta(days=1)), as_of=day)
    return {
        "as_of": day,
        "by": by,
        "window_days": int(window_days),
        "retained_within_days": int(retained_within_days),
        "joined_from": start,
        "joined_to": end,
        "immature_members": immature,
        "currency": db.settings.currency,
    }


def _member_table(db: Store, params: dict) -> ibis.Table:
    p = params
    return funnel_member_table(
        db, as_of=p["as_of"], by=p["by"], window_days=p["window_days"],
        retained_within_days=p["retained_within_days"], joined_from=p["joined_from"], joined_to=p["joined_to"],
    )  # fmt: skip


def _warn_empty(params: dict) -> None:
    p = params
    warnings.warn(
        f"acquisition funnel: nobody joined from {_day_text(p['joined_from'])} to {p['joined_to'].isoformat()} "
        f"(the last day whose {p['window_days']}-day window has passed by as_of={p['as_of'].isoformat()}); "
        "the result is empty.",
        ThinDataWarning,
        stacklevel=3,
    )


def _immature(db: Store, *, start: dt.date, as_of: dt.date) -> int:
    m = db.members
    day = calendar.local_day(m.joined_at)
    keep = (day >= calendar.date_literal(start)) & (day <= calendar.date_literal(as_of))
    return int(m.filter(keep).count().to_pandas())


def _check_days(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number of days >= 1.")


def _day_text(day) -> str:
    return "-" if day is None else day.isoformat()


# Shares below this are printed with one decimal (0.5%, not 0%): referral shares live there.
SMALL_SHARE = 0.1


def _pct(x) -> str:
    if pd.isna(x):
        return "-"
    return f"{x:.1%}" if x < SMALL_SHARE else f"{x:.0%}"


def _currency(currency: str, lang: str) -> str:
    return i18n.t("currency_cny", lang) if currency == "CNY" else currency
