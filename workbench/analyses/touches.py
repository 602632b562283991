"""Touch response: do members come in after a private chat, a group message, a Moments post or an SMS?

Observational by construction (nobody was held out at random), so the comparison is against comparable
untouched members at the same time:

- a unit is a member on a reference day r; its outcome is what happens on days r+1 .. r+response_days
  (visited at all; number of visits), its covariates what happened before r (days since the last visit,
  visits in the FREQUENCY_DAYS days before r);
- touched units: every (member, day) with a touch of the medium that belongs to no campaign (campaign
  messages carry a coupon; ``campaign_lift`` measures those). Group messages touch every member in the group
  on the message's day; for them the units are taken on the control days below, touched when the member's
  groups sent at least one message that day;
- control units: the same members' and everyone else's pseudo touch days, one per ISO week (Mondays), with
  no touch of that medium that day, among members the medium can reach (private chat and Moments: members
  linked as WeCom friends; SMS: every member; group messages: members in a group that day);
- strata: ISO week x recency band x frequency band; the touched-minus-control difference is averaged over
  strata weighted by touched units (controls re-weighted to the touched units' mix). Touched units in a
  stratum without controls are left out and counted. Group messages are compared within the group instead
  of within the week (group x recency x frequency): a busy group's members also carry the response to the
  messages of the days around the unit's day, so comparing members of busy groups with members of quiet
  ones would credit the group's whole messaging to one day's messages.

The interval is a normal 95% interval from the per-stratum variances; units of one member are treated as
independent, which understates it a little when a member is touched often. ``extra_visits_per_touch`` (the
difference in visits divided by touches per touched unit) is the number comparable to a planted or
experimental response per touch.

    r = wb.touch_response(db)               # r.table: one row per medium; r.cells: the strata
    print(r.summary(lang="en"))
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from scipy import stats as sps

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar, contract
from workbench.data.store import Store
from workbench.data.visits import visits as member_visits
from workbench.errors import ParameterError, choices_message

MEDIA = contract.TOUCH_MEDIA
MEMBER_MEDIA = ("private_chat", "moments", "sms")
# Media that reach only members linked as WeCom friends.
FRIEND_MEDIA = ("private_chat", "moments")
FRIEND_LINK_MODES = ("friend_only", "friend_then_group", "group_then_friend")
DEFAULT_RESPONSE_DAYS = 7
# Touches of the last half year by default: recent enough to matter, enough units for a 95% interval.
DEFAULT_LOOKBACK_DAYS = 182
# Frequency covariate: visits in this many days before the reference day (a quarter).
FREQUENCY_DAYS = 90
# Recency bands: days since the last visit before the reference day (lower bounds; then 'none in a year').
RECENCY_BANDS = (1, 8, 15, 31, 61, 91, 181)
RECENCY_CAP_DAYS = 365
# Frequency bands: visits in the FREQUENCY_DAYS before the reference day (lower bounds; last open).
FREQUENCY_BANDS = (0, 1, 2, 3, 5)
CONFIDENCE = 0.95
LABEL = "observational"
_EPOCH = dt.date(1970, 1, 1)

TABLE_COLUMNS = (
    "medium",
    "label",
    "touched_units",
    "touches",
    "matched_units",
    "unmatched_units",
    "control_units",
    "share_touched",
    "share_control",
    "difference",
    "ci_low",
    "ci_high",
    "visits_touched",
    "visits_control",
    "extra_visits_per_unit",
    "extra_ci_low",
    "extra_ci_high",
    "touches_per_unit",
    "extra_visits_per_touch",
    "per_touch_ci_low",
    "per_touch_ci_high",
    "note",
)
CELL_COLUMNS = (
    "medium",
    "role",
    "stratum",
    "recency_band",
    "frequency_band",
    "cluster",
    "units",
    "touches",
    "visited",
    "visits",
    "visits_sq",
)

i18n.register(
    {
        "touches.summary.head": (
            "触达后 {days} 天内到店（{since} 至 {until} 的触达，截至 {as_of}）",
            "Visits within {days} days of a touch (touches {since} to {until}, as of {as_of})",
        ),
        "touches.summary.line": (
            "{medium}：触达 {units} 人次，{days} 天内到店 {touched}，可比未触达会员 {control}，"
            "差 {diff}（95% 置信区间 {low}–{high}）；每次触达多带来 {per_touch} 次到店",
            "{medium}: {units} touched, {touched} visited within {days} days against {control} of "
            "comparable untouched members, a difference of {diff} (95% CI {low}–{high}); "
            "{per_touch} extra visits per touch",
        ),
        "touches.summary.none": ("{medium}：没有可比较的触达", "{medium}: no touches to compare"),
        "touches.note": (
            "观察性结果：与同周、相同最近到店与到店频次的未触达会员比较，非随机对照，不能视为因果",
            "Observational: compared with untouched members of the same week, recency and frequency; "
            "not randomised, not causal",
        ),
    }
)


@dataclass(frozen=True)
class TouchResponse:
    """The result of :func:`touch_response`: ``table`` (one row per medium), ``cells`` and ``params``."""

    table: pd.DataFrame
    cells: pd.DataFrame
    params: dict[str, Any]

    def summary(self, lang: str = "zh") -> str:
        i18n.check_lang(lang)
        p = self.params
        days = p["response_days"]
        lines = [
            i18n.t(
                "touches.summary.head",
                lang,
                days=days,
                since=p["since"].isoformat(),
                until=p["until"].isoformat(),
                as_of=p["as_of"].isoformat(),
            )
        ]
        for row in self.table.itertuples():
            medium = i18n.value_label("medium", row.medium, lang)
            if not (row.matched_units > 0) or not math.isfinite(row.difference):
                lines.append(i18n.t("touches.summary.none", lang, medium=medium))
                continue
            lines.append(
                i18n.t(
                    "touches.summary.line",
                    lang,
                    medium=medium,
                    units=f"{row.touched_units:,}",
                    days=days,
                    touched=f"{row.share_touched:.1%}",
                    control=f"{row.share_control:.1%}",
                    diff=f"{row.difference:+.1%}",
                    low=f"{row.ci_low:+.1%}",
                    high=f"{row.ci_high:+.1%}",
                    per_touch=f"{row.extra_visits_per_touch:.3f}",
                )
            )
        lines.append(i18n.t("touches.note", lang))
        return "\n".join(lines)


def touch_response(
    db: Store,
    *,
    as_of=None,
    response_days: int = DEFAULT_RESPONSE_DAYS,
    mediums=None,
    since=None,
) -> TouchResponse:
    """Share of touched members visiting within ``response_days`` days, against comparable untouched members.

    Touches sent on days ``since`` .. ``as_of - response_days`` (so every outcome window is complete);
    ``since`` defaults to DEFAULT_LOOKBACK_DAYS days before that last day. ``mediums``: a subset of
    private_chat, group, moments, sms (default all). Needs the touches table (and group_members for group
    messages). Observational: see the module docstring for the design.

    Returns a TouchResponse with:
      table  one row per medium (TABLE_COLUMNS):
        medium, label ('observational')
        touched_units      (member, day) units touched by the medium (group: on the weekly control days)
        touches            touches (group: messages received) over those units
        matched_units      touched units in a stratum with controls; unmatched_units the rest
        control_units      untouched units in the matched strata
        share_touched      share (0-1) of matched touched units with a visit on days 1..response_days
        share_control      the same for controls, weighted to the touched units' strata
        difference, ci_low, ci_high            share_touched - share_control, 95% normal interval
        visits_touched, visits_control         visits per unit on days 1..response_days
        extra_visits_per_unit, extra_ci_low, extra_ci_high   their difference, 95% interval
        touches_per_unit                       touches per matched touched unit
        extra_visits_per_touch, per_touch_ci_low, per_touch_ci_high
                                               extra visits per unit / touches per unit (visits per touch)
        note               the sentence saying the result is observational (en)
      cells  the strata as the engine counted them (CELL_COLUMNS): medium, role ('touched' / 'control'),
             stratum (the ISO week's Monday as text; for group messages the group_id), recency_band,
             frequency_band ('all' for group messages), cluster (group messages: the day, as text, since
             every member of a group shares that day's messages; '' otherwise), units, touches, visited,
             visits, visits_sq
    """
    db.require("touches", needed_by="touch_response")
    as_of = scope.resolve_as_of(db, as_of)
    response_days = _check_response_days(response_days)
    media = _check_mediums(mediums)
    if "group" in media:
        db.require("group_members", needed_by="touch_response (group messages)")
    until = as_of - dt.timedelta(days=response_days)
    start = until - dt.timedelta(days=DEFAULT_LOOKBACK_DAYS - 1) if since is None else calendar.as_date(since)
    if start > until:
        raise ParameterError(
            f"since={start.isoformat()} is after the last touch day with a complete outcome window "
            f"({until.isoformat()} = as_of - response_days); expected an earlier day."
        )
    cells = _cells(db, start=start, until=until, response_days=response_days, media=media)
    table = pd.DataFrame(
        [_estimate(cells[cells["medium"] == m], m) for m in media], columns=list(TABLE_COLUMNS)
    )
    params = {
        "as_of": as_of,
        "since": start,
        "until": until,
        "response_days": response_days,
        "mediums": media,
    }
    return TouchResponse(table, cells, params)


# -- engine ---------------------------------------------------------------------------------------------


def _dayno(day):
    return day.delta(ibis.literal(_EPOCH, type="date"), unit="day")


def _cells(
    db: Store, *, start: dt.date, until: dt.date, response_days: int, media: tuple[str, ...]
) -> pd.DataFrame:
    start_lit, until_lit = calendar.date_literal(start), calendar.date_literal(until)
    mondays = _mondays(start, until)
    grid_days = ibis.memtable(pd.DataFrame({"g_day": pd.to_datetime(mondays)})).select(
        g_day=lambda t: t.g_day.cast("date")
    )
    m = db.members
    m = m.select(
        "member_id",
        join_day=calendar.local_day(m.joined_at),
        friend=m.link_mode.isin(list(FRIEND_LINK_MODES)).fill_null(False),
    )
    grid = m.cross_join(grid_days)
    grid = grid.filter(grid.join_day <= grid.g_day).select("member_id", day=grid.g_day)

    t = db.touches
    t = t.filter(t.member_id.notnull() & t.campaign_id.isnull() & t.medium.isin(list(MEMBER_MEDIA)))
    t = t.mutate(day=calendar.local_day(t.sent_at))
    t = t.filter((t.day >= start_lit) & (t.day <= until_lit))
    touched = t.group_by(["member_id", "day"]).aggregate(
        **{f"n_{md}": (t.medium == md).cast("int64").sum() for md in MEMBER_MEDIA}
    )
    units = grid.select("member_id", "day").union(touched.select("member_id", "day"), distinct=True)

    # Outcome and covariates from the member's visits around each unit (range windows on day numbers).
    lo = start - dt.timedelta(days=RECENCY_CAP_DAYS + 1)
    hi = until + dt.timedelta(days=response_days)
    v = member_visits(db, as_of=hi)
    v = v.filter(v.day >= calendar.date_literal(lo)).select("member_id", "day")
    rows = units.mutate(is_visit=ibis.literal(0, type="int64")).union(
        v.mutate(is_visit=ibis.literal(1, type="int64"))
    )
    rows = rows.mutate(dayno=_dayno(rows.day))
    before = ibis.window(group_by=rows.member_id, order_by=rows.dayno, range=(-FREQUENCY_DAYS, -1))
    after = ibis.window(group_by=rows.member_id, order_by=rows.dayno, range=(1, response_days))
    past = ibis.window(group_by=rows.member_id, order_by=rows.dayno, range=(None, -1))
    rows = rows.mutate(
        prior=rows.is_visit.sum().over(before),
        post=rows.is_visit.sum().over(after),
        last=ibis.cases((rows.is_visit == 1, rows.dayno)).max().over(past),
    )
    u = rows.filter(rows.is_visit == 0)
    recency = u.dayno - u.last
    u = u.select(
        "member_id",
        "day",
        post=u.post.fill_null(0).cast("int64"),
        recency_band=_band_expr(recency, RECENCY_BANDS, cap=RECENCY_CAP_DAYS, none_label="none"),
        frequency_band=_band_expr(u.prior.fill_null(0), FREQUENCY_BANDS, cap=None, none_label=None),
    )
    tc = touched.rename(t_member="member_id", t_day="day")
    u = u.left_join(tc, [u.member_id == tc.t_member, u.day == tc.t_day]).drop("t_member", "t_day")
    fr = m.select(f_member="member_id", friend="friend")
    u = u.left_join(fr, u.member_id == fr.f_member).drop("f_member")
    is_grid = u.day.isin(mondays) if mondays else ibis.literal(False)
    u = u.mutate(is_grid=is_grid, week=calendar.period_start(u.day, "week"))
    # Every medium reads the units (windows over each member's units and visits): worked out once.
    with db.computed_once(u) as u:
        cells = _medium_cells(db, u, mondays, media).to_pandas()
    for column in ("units", "touches", "visited", "visits", "visits_sq"):
        cells[column] = cells[column].fillna(0).astype("int64")
    return cells.sort_values(list(CELL_COLUMNS[:6])).reset_index(drop=True)[list(CELL_COLUMNS)]


def _medium_cells(db: Store, u: ibis.Table, mondays: list[dt.date], media: tuple[str, ...]) -> ibis.Table:
    """The cells of every medium (CELL_COLUMNS) from the units ``u``: member_id, day, post, recency_band,
    frequency_band, n_<medium> touches, friend, is_grid (a weekly control day), week."""
    parts = []
    for md in media:
        if md == "group":  # within the group; all members of a group-day share their status: a cluster
            g = _group_units(db, u, mondays)
            role = ibis.ifelse(g.messages > 0, "touched", "control")
            parts.append(
                g.select(
                    medium=ibis.literal(md),
                    role=role,
                    stratum=g.group_id.cast("string"),
                    recency_band=ibis.literal("all"),
                    frequency_band=ibis.literal("all"),
                    cluster=g.day.strftime("%Y-%m-%d"),
                    n=g.messages,
                    post=g.post,
                )  # fmt: skip
            )
            continue
        n = u[f"n_{md}"].fill_null(0)
        reach = u.is_grid & (u.friend.fill_null(False) if md in FRIEND_MEDIA else ibis.literal(True))
        role = ibis.cases((n > 0, "touched"), (reach & (n == 0), "control"), else_=ibis.null("string"))
        part = u.mutate(role=role, n=n.cast("int64")).filter(lambda x: x.role.notnull())
        parts.append(
            part.select(
                medium=ibis.literal(md),
                role=part.role,
                stratum=part.week.cast("date").strftime("%Y-%m-%d"),
                recency_band=part.recency_band,
                frequency_band=part.frequency_band,
                cluster=ibis.literal(""),
                n=part.n,
                post=part.post,
            )  # fmt: skip
        )
    allp = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    out = allp.group_by(["medium", "role", "stratum", "recency_band", "frequency_band", "cluster"]).aggregate(
        units=allp.count(),
        touches=allp.n.sum(),
        visited=(allp.post > 0).cast("int64").sum(),
        visits=allp.post.sum(),
        visits_sq=(allp.post * allp.post).sum(),
    )
    return out


def _group_units(db: Store, u: ibis.Table, mondays: list[dt.date]) -> ibis.Table:
    """Group-message units: one row per (member, group, weekly control day) with the member in the group
    that day: member_id, group_id, day, messages (the group sent that day), post (visits in the window)."""
    gm = db.group_members
    s = gm.select(
        "group_id",
        "member_id",
        join_day=calendar.local_day(gm.joined_at),
        leave_day=calendar.local_day(gm.left_at),
    )
    days = ibis.memtable(pd.DataFrame({"g_day": pd.to_datetime(mondays)})).select(
        g_day=lambda t: t.g_day.cast("date")
    )
    present = s.cross_join(days)
    present = present.filter(
        (present.join_day <= present.g_day)
        & (present.leave_day.isnull() | (present.leave_day > present.g_day))
    )
    t = db.touches
    t = t.filter(t.group_id.notnull()).mutate(day=calendar.local_day(t.sent_at))
    t = t.filter(t.day.isin(mondays)) if mondays else t.filter(ibis.literal(False))
    msgs = (
        t.group_by(["group_id", "day"]).aggregate(messages=t.count()).rename(m_group="group_id", m_day="day")
    )
    j = present.left_join(msgs, [present.group_id == msgs.m_group, present.g_day == msgs.m_day])
    j = j.select("member_id", "group_id", day=j.g_day, messages=j.messages.fill_null(0).cast("int64"))
    outcome = u.filter(u.is_grid).select(o_member="member_id", o_day="day", post="post")
    j = j.join(outcome, [j.member_id == outcome.o_member, j.day == outcome.o_day])
    return j.drop("o_member", "o_day")


def _band_expr(value, lows: tuple[int, ...], *, cap, none_label):
    """Text band of an integer expression: 'a-b' for [a, b), 'a+' for the last band; nulls (no visit) and
    values above ``cap`` get ``none_label``."""
    cases = []
    if none_label is not None:
        cases.append((value.isnull(), none_label))
        if cap is not None:
            cases.append((value > cap, none_label))
    for a, b in zip(lows, lows[1:], strict=False):
        cases.append((value < b, f"{a}-{b - 1}" if b - 1 != a else f"{a}"))
    last = f"{lows[-1]}-{cap}" if cap is not None else f"{lows[-1]}+"
    return ibis.cases(*cases, else_=last)


# -- pandas: the stratified comparison ------------------------------------------------------------------


def _estimate(cells: pd.DataFrame, medium: str) -> dict[str, Any]:
    row: dict[str, Any] = {c: math.nan for c in TABLE_COLUMNS}
    row.update(medium=medium, label=LABEL, note=i18n.t("touches.note", "en"))
    tr = _arm(cells[cells["role"] == "touched"])
    co = _arm(cells[cells["role"] == "control"])
    row["touched_units"] = int(tr["units"].sum())
    row["touches"] = int(tr["touches"].sum())
    both = tr.join(co, lsuffix="_t", rsuffix="_c", how="inner")
    row["matched_units"] = int(both["units_t"].sum()) if len(both) else 0
    row["unmatched_units"] = row["touched_units"] - row["matched_units"]
    row["control_units"] = int(both["units_c"].sum()) if len(both) else 0
    if row["matched_units"] == 0:
        return row
    z = sps.norm.ppf(0.5 + CONFIDENCE / 2)
    w = both["units_t"].to_numpy(dtype="float64")
    w = w / w.sum()
    out = {}
    for name in ("visited", "visits"):
        mt, mc = both[f"{name}_mean_t"].to_numpy(), both[f"{name}_mean_c"].to_numpy()
        vt, vc = both[f"{name}_var_t"].to_numpy(), both[f"{name}_var_c"].to_numpy()
        diff = float((w * (mt - mc)).sum())
        se = math.sqrt(float((w**2 * (vt + vc)).sum()))
        out[name] = (float((w * mt).sum()), float((w * mc).sum()), diff, diff - z * se, diff + z * se)
    row["share_touched"], row["share_control"], row["difference"], row["ci_low"], row["ci_high"] = out[
        "visited"
    ]
    (row["visits_touched"], row["visits_control"], row["extra_visits_per_unit"], row["extra_ci_low"],
     row["extra_ci_high"]) = out["visits"]  # fmt: skip
    per_unit = float(both["touches_t"].sum()) / row["matched_units"]
    row["touches_per_unit"] = per_unit
    row["extra_visits_per_touch"] = row["extra_visits_per_unit"] / per_unit
    row["per_touch_ci_low"] = row["extra_ci_low"] / per_unit
    row["per_touch_ci_high"] = row["extra_ci_high"] / per_unit
    return row


def _arm(cells: pd.DataFrame) -> pd.DataFrame:
    """Per stratum of one arm: units, touches, and for 'visited' and 'visits' the mean per unit and the
    variance of that mean.

    Without clusters: the unit-level sample variance / units (strata of one unit borrow the arm's pooled
    variance). With clusters (group messages): the cluster-robust variance of a ratio mean,
    k / (k - 1) * sum_c (y_c - mean * n_c)^2 / n^2 over the stratum's k clusters; a stratum with one
    cluster falls back to the unit-level variance.
    """
    key = ["stratum", "recency_band", "frequency_band"]
    cells = cells.assign(visited_sq=cells["visited"])
    agg = cells.groupby(key).agg(
        units=("units", "sum"),
        touches=("touches", "sum"),
        clusters=("cluster", "size"),
        visited=("visited", "sum"),
        visited_sq=("visited_sq", "sum"),
        visits=("visits", "sum"),
        visits_sq=("visits_sq", "sum"),
    )
    n = agg["units"].to_numpy(dtype="float64")
    clustered = bool((cells["cluster"] != "").any())
    for name in ("visited", "visits"):
        total = agg[name].to_numpy(dtype="float64")
        mean = total / n
        unit_var = _variance(n, total, agg[f"{name}_sq"].to_numpy(dtype="float64")) / n
        if clustered:
            c = cells.join(pd.Series(mean, index=agg.index, name="m"), on=key)
            c["r"] = (c[name] - c["m"] * c["units"]) ** 2
            ss = c.groupby(key)["r"].sum().reindex(agg.index).to_numpy(dtype="float64")
            k = agg["clusters"].to_numpy(dtype="float64")
            with np.errstate(divide="ignore", invalid="ignore"):
                robust = k / (k - 1) * ss / n**2
            var = np.where(k > 1, robust, unit_var)
        else:
            var = unit_var
        agg[f"{name}_mean"] = mean
        agg[f"{name}_var"] = var
    return agg[["units", "touches", "visited_mean", "visited_var", "visits_mean", "visits_var"]]


def _variance(n: np.ndarray, total: np.ndarray, square: np.ndarray) -> np.ndarray:
    """Per-stratum sample variance (ddof 1); strata of one unit borrow the arm's pooled variance."""
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (square - total**2 / n) / (n - 1)
        pooled_n, pooled_s, pooled_q = n.sum(), total.sum(), square.sum()
        pooled = (pooled_q - pooled_s**2 / pooled_n) / (pooled_n - 1) if pooled_n > 1 else 0.0
    return np.where(n > 1, np.maximum(var, 0.0), pooled)


# -- helpers --------------------------------------------------------------------------------------------


def _mondays(start: dt.date, until: dt.date) -> list[dt.date]:
    first = start + dt.timedelta(days=(7 - start.weekday()) % 7)
    out = []
    while first <= until:
        out.append(first)
        first += dt.timedelta(days=7)
    return out


def _check_response_days(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value <= FREQUENCY_DAYS:
        raise ParameterError(
            f"response_days={value!r} is not valid; expected a whole number of days from 1 to {FREQUENCY_DAYS}."
        )
    return int(value)


def _check_mediums(mediums) -> tuple[str, ...]:
    if mediums is None:
        return tuple(MEDIA)
    chosen = (mediums,) if isinstance(mediums, str) else tuple(mediums)
    if not chosen:
        raise ParameterError(choices_message("mediums", mediums, MEDIA))
    for md in chosen:
        if md not in MEDIA:
            raise ParameterError(choices_message("mediums", md, MEDIA))
    return tuple(dict.fromkeys(chosen))
