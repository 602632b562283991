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
#
# A unit's covariates and outcome come from the member's visits on either side of its day d: the last visit
# before d is v_i (v_i < d <= v_(i+1)); recency is d - v_i, the frequency counts v_i .. v_(i-4) on or after
# d - FREQUENCY_DAYS (its last band is 5+), and the outcome counts v_(i+1) .. v_(i+response_days+1) within
# d+1 .. d+response_days (visits are member-days, so no more fit). Each member's visits carry those
# neighbours (lag and lead over the member's visits, one sort of the visits), with a visit 'before the
# first' at _NO_VISIT so every day has a v_i. The weekly control days are generated from the gaps between
# visits (the Mondays in (v_i, v_(i+1)]), so no window runs over the member x Monday grid.

_MONDAY = 4  # day number of Monday 1970-01-05
_NO_VISIT = -1_000_000  # day number of the visit before every member's first: recency beyond any cap
_FREQUENCY_LAGS = FREQUENCY_BANDS[-1]  # v_i and the 4 before it decide the frequency band (5+ is the last)


def _dayno(day):
    return day.delta(ibis.literal(_EPOCH, type="date"), unit="day").cast("int32")


def _cells(
    db: Store, *, start: dt.date, until: dt.date, response_days: int, media: tuple[str, ...]
) -> pd.DataFrame:
    mondays = _mondays(start, until)
    first_monday = _day_number(mondays[0]) if mondays else _day_number(until) + 1
    last_day = _day_number(until)
    start_lit, until_lit = calendar.date_literal(start), calendar.date_literal(until)
    m = db.members
    m = m.select(
        member_id=m.member_id.cast("string"),  # nullable, as the touches' and visits' ids it meets
        join_dn=_dayno(calendar.local_day(m.joined_at)),
        friend=m.link_mode.isin(list(FRIEND_LINK_MODES)).fill_null(False).cast("int8"),
    )
    t = db.touches
    tz = db.settings.timezone  # instants first: the engine skips the rest without a local day of each
    t = t.filter(
        (t.sent_at >= ibis.literal(pd.Timestamp(start, tz=tz)))
        & (t.sent_at < ibis.literal(pd.Timestamp(until + dt.timedelta(days=1), tz=tz)))
    )
    t = t.filter(t.member_id.notnull() & t.campaign_id.isnull() & t.medium.isin(list(MEMBER_MEDIA)))
    t = t.mutate(day=calendar.local_day(t.sent_at))
    t = t.filter((t.day >= start_lit) & (t.day <= until_lit))
    touched = t.group_by(["member_id", "day"]).aggregate(
        **{f"n_{md}": (t.medium == md).cast("int64").sum() for md in MEMBER_MEDIA}
    )
    touched = touched.select("member_id", *[f"n_{md}" for md in MEMBER_MEDIA], d=_dayno(touched.day))

    # Every member once at _NO_VISIT (touched members missing from the members table too), then the visits.
    lo = start - dt.timedelta(days=RECENCY_CAP_DAYS + 1)
    hi = until + dt.timedelta(days=response_days)
    v = member_visits(db, as_of=hi)
    v = v.filter(v.day >= calendar.date_literal(lo))
    strangers = touched.select("member_id").distinct()
    strangers = strangers.anti_join(m, strangers.member_id == m.member_id).mutate(
        join_dn=ibis.null("int32"), friend=ibis.null("int8")
    )
    before_first = m.union(strangers).mutate(dn=ibis.literal(_NO_VISIT, type="int32"))
    rows = before_first.union(
        v.select("member_id", join_dn=ibis.null("int32"), friend=ibis.null("int8"), dn=_dayno(v.day))
    )
    w = ibis.window(group_by=rows.member_id, order_by=rows.dn)
    rows = rows.mutate(
        join_dn=rows.join_dn.first().over(w),
        friend=rows.friend.first().over(w),
        **{f"lag{k}": rows.dn.lag(k).over(w) for k in range(1, _FREQUENCY_LAGS)},
        **{f"lead{k}": rows.dn.lead(k).over(w) for k in range(1, response_days + 2)},
    )
    parts = []
    if any(md in MEMBER_MEDIA for md in media):
        with db.computed_once(rows) as gaps:  # read by the weekly days and by the touched units
            grid = _grid_units(gaps, first_monday, last_day, response_days)
            grid = grid.group_by(["week", "rcode", "fcode", "friend"]).aggregate(**_outcome_sums(grid))
            tu = _touched_units(gaps, touched, first_monday, last_day, response_days)
            keys = ["week", "rcode", "fcode", "friend", "is_grid", *[f"has_{md}" for md in MEMBER_MEDIA]]
            tu = tu.group_by(keys).aggregate(
                **_outcome_sums(tu), **{f"n_{md}": tu[f"n_{md}"].sum() for md in MEMBER_MEDIA}
            )
            grid_cells, touched_cells = grid.to_pandas(), tu.to_pandas()
        parts = [_member_medium_cells(grid_cells, touched_cells, md) for md in media if md in MEMBER_MEDIA]
    if "group" in media:
        parts.append(_group_cells(db, v, m, mondays, response_days).to_pandas())
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(CELL_COLUMNS))
    for column in ("units", "touches", "visited", "visits", "visits_sq"):
        cells[column] = cells[column].fillna(0).astype("int64")
    return cells.sort_values(list(CELL_COLUMNS[:6])).reset_index(drop=True)[list(CELL_COLUMNS)]


def _day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


def _next_monday(dayno):
    """The first Monday on or after a day number (an integer expression)."""
    return dayno + ((_MONDAY - dayno) % 7 + 7) % 7


def _features(g: ibis.Table, d, response_days: int) -> dict[str, Any]:
    """rcode (recency band code), fcode (frequency band code) and post (visits on d+1 .. d+response_days)
    of units on day ``d`` whose last visit before d is the row of ``g``: dn (v_i), lag<k> (v_(i-k)),
    lead<k> (v_(i+k)); visits are in day order, so most units stop at the first comparison."""
    since, end = d - FREQUENCY_DAYS, d + response_days
    prior = ibis.cases(
        (g.dn < since, 0),
        else_=1
        + sum((g[f"lag{k}"] >= since).fill_null(False).cast("int8") for k in range(1, _FREQUENCY_LAGS)),
    )
    post = ibis.cases(
        (g.lead1.isnull() | (g.lead1 > end), 0),  # v_(i+1) >= d; later ones are after d
        else_=(g.lead1 > d).cast("int16")
        + sum((g[f"lead{k}"] <= end).fill_null(False).cast("int16") for k in range(2, response_days + 2)),
    )
    return {
        "rcode": _band_code(d - g.dn, RECENCY_BANDS, cap=RECENCY_CAP_DAYS),
        "fcode": _band_code(prior, FREQUENCY_BANDS, cap=None),
        "post": post,
    }


def _outcome_sums(x: ibis.Table) -> dict[str, Any]:
    post = x.post.cast("int64")
    return {
        "units": x.count(),
        "visited": (post > 0).cast("int64").sum(),
        "visits": post.sum(),
        "visits_sq": (post * post).sum(),
    }


def _grid_units(gaps: ibis.Table, first_monday: int, last_day: int, response_days: int) -> ibis.Table:
    """The weekly control days: every member (once joined) on every Monday from first_monday to last_day,
    each generated from the gap between visits (v_i, v_(i+1)] that holds it: week, friend, rcode, fcode,
    post."""
    g = gaps.filter(gaps.join_dn.notnull())
    low = ibis.greatest(first_monday, _next_monday(g.dn + 1), _next_monday(g.join_dn))
    high = ibis.least(last_day, g.lead1.fill_null(last_day))
    g = g.mutate(d=ibis.range(low, high + 1, 7).unnest())
    return g.select(week=g.d, friend=g.friend, **_features(g, g.d, response_days))


def _touched_units(
    gaps: ibis.Table, touched: ibis.Table, first_monday: int, last_day: int, response_days: int
) -> ibis.Table:
    """The touched (member, day) units with their gap's features: week (its Monday), friend, is_grid (also
    a weekly control day), has_<medium>, n_<medium>, rcode, fcode, post."""
    g = gaps.rename(g_member="member_id")
    j = touched.join(
        g, [touched.member_id == g.g_member, g.dn < touched.d, touched.d <= g.lead1.fill_null(last_day + 1)]
    )
    d = j.d
    is_grid = (
        (d >= first_monday)
        & (d <= last_day)
        & ((d - _MONDAY) % 7 == 0)
        & j.join_dn.notnull()
        & (j.join_dn <= d)
    )
    return j.select(
        week=d - (d - _MONDAY) % 7,
        friend=j.friend,
        is_grid=is_grid,
        **{f"has_{md}": j[f"n_{md}"] > 0 for md in MEMBER_MEDIA},
        **{f"n_{md}": j[f"n_{md}"] for md in MEMBER_MEDIA},
        **_features(j, d, response_days),
    )


def _member_medium_cells(grid: pd.DataFrame, touched: pd.DataFrame, medium: str) -> pd.DataFrame:
    """The cells of a one-to-one medium from the engine's counts: touched units are those with a touch of
    the medium; controls are the reachable weekly control days less those touched by it."""
    key, sums = ["week", "rcode", "fcode"], ["units", "visited", "visits", "visits_sq"]
    mine = touched[touched[f"has_{medium}"].astype(bool)]
    hit = mine.groupby(key)[[*sums, f"n_{medium}"]].sum().rename(columns={f"n_{medium}": "touches"})
    reach_grid, reach_hit = grid, mine[mine["is_grid"].astype(bool)]
    if medium in FRIEND_MEDIA:
        reach_grid, reach_hit = grid[grid["friend"] == 1], reach_hit[reach_hit["friend"] == 1]
    control = reach_grid.groupby(key)[sums].sum().sub(reach_hit.groupby(key)[sums].sum(), fill_value=0)
    control = control[control["units"] > 0].assign(touches=0)
    out = pd.concat([hit.assign(role="touched"), control.assign(role="control")]).reset_index()
    return pd.DataFrame(
        {
            "medium": medium,
            "role": out["role"],
            "stratum": [(_EPOCH + dt.timedelta(days=int(w))).isoformat() for w in out["week"]],
            "recency_band": out["rcode"].map(dict(enumerate(_RECENCY_LABELS))),
            "frequency_band": out["fcode"].map(dict(enumerate(_FREQUENCY_LABELS))),
            "cluster": "",
            **{c: out[c] for c in ("units", "touches", "visited", "visits", "visits_sq")},
        }
    )


def _group_cells(
    db: Store, v: ibis.Table, m: ibis.Table, mondays: list[dt.date], response_days: int
) -> ibis.Table:
    """Group-message cells: one unit per (member, group, weekly control day) with the member in the group
    (and a member) that day; touched when the group sent a message that day. The group is the stratum,
    the day the cluster (every member of a group shares that day's messages)."""
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
    present = present.select("group_id", "member_id", day=present.g_day, g=_dayno(present.g_day))
    mm = m.select(m_member="member_id", m_join="join_dn")
    present = present.join(mm, [present.member_id == mm.m_member, mm.m_join <= present.g])
    t = db.touches
    t = t.filter(t.group_id.notnull()).mutate(day=calendar.local_day(t.sent_at))
    t = t.filter(t.day.isin(mondays)) if mondays else t.filter(ibis.literal(False))
    msgs = (
        t.group_by(["group_id", "day"]).aggregate(messages=t.count()).rename(m_group="group_id", m_day="day")
    )
    # Visits on days 1..response_days after each weekly control day: each visit counts for the Mondays
    # in the response_days before it.
    first, last = (_day_number(mondays[0]), _day_number(mondays[-1])) if mondays else (1, 0)
    pv = v.select("member_id", vd=_dayno(v.day))
    pv = pv.filter((pv.vd > first) & (pv.vd <= last + response_days))
    low = ibis.greatest(first, _next_monday(pv.vd - response_days))
    pv = pv.mutate(p_day=ibis.range(low, ibis.least(last, pv.vd - 1) + 1, 7).unnest())
    post = pv.group_by(p_member="member_id", p_day="p_day").aggregate(post=pv.count())
    j = present.left_join(msgs, [present.group_id == msgs.m_group, present.day == msgs.m_day])
    j = j.left_join(post, [j.member_id == post.p_member, j.g == post.p_day])
    j = j.mutate(messages=j.messages.fill_null(0).cast("int64"), post=j.post.fill_null(0))
    out = j.group_by(
        role=ibis.ifelse(j.messages > 0, "touched", "control"),
        stratum=j.group_id.cast("string"),
        cluster=j.day.strftime("%Y-%m-%d"),
    ).aggregate(touches=j.messages.sum(), **_outcome_sums(j))
    return out.mutate(medium=ibis.literal("group"), recency_band=ibis.literal("all"),
                      frequency_band=ibis.literal("all"))  # fmt: skip


def _band_labels(lows: tuple[int, ...], *, cap, none_label) -> list[str]:
    """The labels of the band codes of :func:`_band_code`: 'a-b' for [a, b), 'a+' for an open last band."""
    labels = [none_label] if none_label is not None else []
    labels += [f"{a}-{b - 1}" if b - 1 != a else f"{a}" for a, b in zip(lows, lows[1:], strict=False)]
    labels.append(f"{lows[-1]}-{cap}" if cap is not None else f"{lows[-1]}+")
    return labels


def _band_code(value, lows: tuple[int, ...], *, cap):
    """Band code of an integer expression, an index into :func:`_band_labels`; with a ``cap``, code 0 is
    'none' (values above the cap)."""
    cases, first = [], 0
    if cap is not None:
        cases.append((value > cap, 0))
        first = 1
    for i, b in enumerate(lows[1:]):
        cases.append((value < b, first + i))
    return ibis.cases(*cases, else_=first + len(lows) - 1).cast("int8")


_RECENCY_LABELS = _band_labels(RECENCY_BANDS, cap=RECENCY_CAP_DAYS, none_label="none")
_FREQUENCY_LABELS = _band_labels(FREQUENCY_BANDS, cap=None, none_label=None)


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
