"""Acquisition quality: which stores and channels bring in members who come back and spend, not just many.

Members acquired in a window of joining days, old enough at ``as_of`` to have lived every horizon, are
followed from their joining day: do they visit again one and two months later, and what do they spend in
their first 90 days? Groups (join store, join channel or city) are ranked by retention, with 95% intervals,
and small groups are flagged rather than ranked on noise.

The engine computes one row per acquired member (visited in each window, early revenue) and sums them per
group (counts, sums, sums of squares); pandas receives one row per group and adds the intervals
(``workbench.stats``).

    q = acquisition_quality(db, by="join_channel")
    q.table                     # one row per channel, ranked by quality
    print(q.summary(lang="en"))
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar
from workbench.data.store import connect
from workbench.data.visits import visits as member_visits
from workbench.errors import ParameterError, choices_message
from workbench.stats import mean_interval, wilson_interval

BY = ("join_store_id", "join_channel", "city")
DEFAULT_HORIZONS = (60, 90)
# Retention at horizon h counts a visit on days h-29 .. h after the joining day (day 0): one month, the
# repurchase cycle of a typical member, so "retained at 60 days" = came back in the second month.
RETENTION_WINDOW_DAYS = 30
# Early revenue: everything the member paid on days 0 .. 89 after joining (the first quarter).
EARLY_REVENUE_DAYS = 90
# Default acquisition window: the quarter of joining days that ends as late as every horizon allows.
DEFAULT_WINDOW_DAYS = 91
# Groups with fewer acquired members than this are flagged ``small`` and ranked after the others: with 30
# members a retention of 30% has a 95% interval of about ±16 points.
DEFAULT_MIN_MEMBERS = 30
CONFIDENCE = 0.95
# Members whose join store is missing (joined online) form this group under by='join_store_id'.
NO_STORE = "none"

i18n.register(
    {
        "acquisition.title": (
            "获客质量（{start} 至 {end} 入会，截至 {as_of}）",
            "Acquisition quality (joined {start} to {end}, as of {as_of})",
        ),
        "acquisition.by.join_store_id": ("入会门店", "Join store"),
        "acquisition.by.join_channel": ("入会渠道", "Join channel"),
        "acquisition.by.city": ("城市", "City"),
        "acquisition.members": ("新会员数", "Members acquired"),
        "acquisition.retention": (
            "{h}天留存（第{lo}–{h}天到店）",
            "{h}-day retention (a visit on days {lo}-{h})",
        ),
        "acquisition.early_revenue": (
            "前{days}天人均消费",
            "Revenue per member, first {days} days",
        ),
        "acquisition.small": ("样本少", "small"),
        "acquisition.rank": ("质量排名", "Quality rank"),
        "acquisition.no_store": ("无门店（线上入会）", "No store (joined online)"),
        "acquisition.empty": ("窗口内没有新会员", "No members joined in the window"),
        "acquisition.definition": (
            "排名依据：{h}天留存（不看人数）；样本少于 {n} 人的分组排在最后。",
            "Ranked by {h}-day retention (not by count); groups with fewer than {n} members come last.",
        ),
    }
)


@dataclass(frozen=True, eq=False)
class AcquisitionQuality:
    """The result of :func:`acquisition_quality`.

    table   one row per group, ranked (see :func:`acquisition_quality` for the columns)
    params  as_of, by, horizons, joined_from, joined_to, min_members, filters, currency
    """

    table: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def horizons(self) -> tuple[int, ...]:
        return self.params["horizons"]

    def group_label(self, row, lang: str = "zh") -> str:
        """Display name of a group: store name (city), channel name, or city."""
        by = self.params["by"]
        if by == "join_store_id":
            if row["group"] == NO_STORE:
                return i18n.t("acquisition.no_store", lang)
            name = row.get("store_name")
            return str(name) if isinstance(name, str) and name else str(row["group"])
        if by == "join_channel":
            return i18n.value_label("join_channel", row["group"], lang)
        return str(row["group"])

    def summary(self, lang: str = "zh") -> str:
        i18n.check_lang(lang)
        t = i18n.t
        p = self.params
        lines = [
            t(
                "acquisition.title",
                lang,
                start=p["joined_from"].isoformat(),
                end=p["joined_to"].isoformat(),
                as_of=p["as_of"].isoformat(),
            ),
            t("acquisition.definition", lang, h=p["horizons"][-1], n=p["min_members"]),
        ]
        if self.table.empty:
            return "\n".join([*lines, t("acquisition.empty", lang)])
        rows = []
        for _, r in self.table.iterrows():
            row = {
                t("acquisition.rank", lang): int(r["quality_rank"]),
                t(f"acquisition.by.{p['by']}", lang): self.group_label(r, lang)
                + (f" ({t('acquisition.small', lang)})" if r["small"] else ""),
                t("acquisition.members", lang): int(r["members"]),
            }
            for h in p["horizons"]:
                row[t("acquisition.retention", lang, h=h, lo=h - RETENTION_WINDOW_DAYS + 1)] = (
                    f"{r[f'retention_{h}d']:.0%} [{r[f'retention_{h}d_ci_low']:.0%}, "
                    f"{r[f'retention_{h}d_ci_high']:.0%}]"
                )
            row[t("acquisition.early_revenue", lang, days=EARLY_REVENUE_DAYS)] = (
                f"{_fmt(r['early_revenue_per_member'])} [{_fmt(r['early_revenue_ci_low'])}, "
                f"{_fmt(r['early_revenue_ci_high'])}]"
            )
            rows.append(row)
        return "\n".join([*lines, pd.DataFrame(rows).to_string(index=False)])

    def __repr__(self) -> str:
        p = self.params
        return (
            f"AcquisitionQuality(by={p['by']}, joined {p['joined_from']}..{p['joined_to']}, "
            f"groups={len(self.table)}, members={int(self.table['members'].sum()) if len(self.table) else 0})"
        )


def acquisition_quality(
    db,
    *,
    as_of=None,
    by: str = "join_channel",
    horizons=DEFAULT_HORIZONS,
    joined_from=None,
    joined_to=None,
    min_members: int = DEFAULT_MIN_MEMBERS,
    stores=None,
    cities=None,
    join_channels=None,
) -> AcquisitionQuality:
    """Retention and early revenue of the members each store / channel / city acquired, ranked by quality.

    Parameters (keyword-only)
      as_of          the analysis day (default the data's last complete day)
      by             'join_store_id' (the store where the member joined; 'none' when joined online),
                     'join_channel', or 'city' (of the home store: join store, else first-visit store)
      horizons       days after joining at which retention is measured (whole numbers >= 30), default (60, 90)
      joined_from, joined_to   the acquisition window (local days, inclusive). Default: the quarter
                     (DEFAULT_WINDOW_DAYS) ending max(horizons, EARLY_REVENUE_DAYS - 1) days before as_of,
                     so every member has lived every horizon. A window whose members are not that old at
                     as_of raises ParameterError.
      min_members    groups with fewer members are flagged ``small`` and ranked after the others
      stores, cities, join_channels   keep members by home store / its city / join channel (as in scope)

    Definitions (day 0 = the local day of joining; visits = a member's orders on one local day)
      retention_{h}d        share of acquired members with at least one visit on days h-29 .. h
                            (RETENTION_WINDOW_DAYS): with the default horizons, in the second (31-60) and
                            third (61-90) month after joining. The joining visit itself never counts.
      early_revenue_per_member   mean over acquired members (those who never came count as 0) of the amount
                            paid on days 0 .. 89 (currency)

    Returns an :class:`AcquisitionQuality` whose ``table`` has one row per group, ranked:
      group                       store id, join channel, or city
      store_name, city            of the join store (by='join_store_id'; NaN otherwise, city also for 'city')
      members                     members acquired in the window (int)
      first_visit_share           share who visited at all on days 0 .. max horizon (share 0-1)
      retained_{h}d               members with a visit in the horizon's window (int), per horizon
      retention_{h}d, retention_{h}d_ci_low, retention_{h}d_ci_high   share 0-1 with its 95% Wilson interval
      early_revenue_per_member, early_revenue_ci_low, early_revenue_ci_high   currency per member, 95% t
                                  interval (NaN bounds with fewer than 2 members)
      small                       bool: members < min_members
      quality_rank                1 = best: by retention at the longest horizon, then early revenue; small
                                  groups after all others
    """
    db = connect(db)
    if by not in BY:
        raise ParameterError(choices_message("by", by, BY))
    horizons = _check_horizons(horizons)
    if isinstance(min_members, bool) or not isinstance(min_members, int | np.integer) or min_members < 1:
        raise ParameterError(f"min_members={min_members!r} is not valid; expected a whole number >= 1.")
    day = scope.resolve_as_of(db, as_of)
    follow = max(horizons[-1], EARLY_REVENUE_DAYS - 1)
    latest = day - dt.timedelta(days=follow)
    joined_to = calendar.as_date(joined_to) if joined_to is not None else latest
    joined_from = (
        calendar.as_date(joined_from)
        if joined_from is not None
        else joined_to - dt.timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    )
    if joined_to > latest:
        raise ParameterError(
            f"joined_to={joined_to.isoformat()} is too recent: members must be followed {follow} days, so "
            f"with as_of={day.isoformat()} expected joined_to on or before {latest.isoformat()}."
        )
    if joined_from > joined_to:
        raise ParameterError(
            f"joined_from={joined_from.isoformat()} is after joined_to={joined_to.isoformat()}; expected "
            "joined_from <= joined_to."
        )

    members = scope.scoped_members(db, as_of=day, stores=stores, cities=cities, join_channels=join_channels)
    members = members.filter(
        (members.join_day >= calendar.date_literal(joined_from))
        & (members.join_day <= calendar.date_literal(joined_to))
    )
    join_store = db.members.select(js_member="member_id", join_store_id="join_store_id")
    members = members.left_join(join_store, members.member_id == join_store.js_member)
    group = {
        "join_store_id": members.join_store_id.fill_null(NO_STORE),
        "join_channel": members.join_channel,
        "city": members.city,
    }[by]
    members = members.select("member_id", "join_day", group=group.cast("string"))

    v = member_visits(db, as_of=day)
    v = v.join(members, v.member_id == members.member_id).select(
        "member_id", "day", "amount", age=v.day.delta(members.join_day, unit="day")
    )
    v = v.filter((v.age >= 0) & (v.age <= follow))
    flags = {
        f"r{h}": ((v.age >= h - RETENTION_WINDOW_DAYS + 1) & (v.age <= h)).cast("int64").max()
        for h in horizons
    }
    per_member = v.group_by("member_id").aggregate(
        visited=(v.age <= horizons[-1]).cast("int64").max(),
        early=v.amount.sum(where=v.age < EARLY_REVENUE_DAYS),
        **flags,
    )
    m = members.left_join(per_member, members.member_id == per_member.member_id)
    early = m.early.fill_null(0.0)
    sums = m.group_by("group").aggregate(
        members=m.count(),
        visited=m.visited.fill_null(0).sum(),
        early_sum=early.sum(),
        early_sq=(early * early).sum(),
        **{f"r{h}": m[f"r{h}"].fill_null(0).sum() for h in horizons},
    )
    counts = sums.to_pandas()
    table = _quality_table(db, counts, by=by, horizons=horizons, min_members=int(min_members))
    params = {
        "as_of": day,
        "by": by,
        "horizons": horizons,
        "joined_from": joined_from,
        "joined_to": joined_to,
        "min_members": int(min_members),
        "stores": stores,
        "cities": cities,
        "join_channels": join_channels,
        "retention_window_days": RETENTION_WINDOW_DAYS,
        "early_revenue_days": EARLY_REVENUE_DAYS,
        "currency": db.settings.currency,
    }
    return AcquisitionQuality(table=table, params=params)


def _quality_table(db, counts: pd.DataFrame, *, by: str, horizons, min_members: int) -> pd.DataFrame:
    columns = _columns(horizons)
    if counts.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    counts = counts.sort_values("group", ignore_index=True)
    n = counts["members"].astype("int64")
    out = pd.DataFrame({"group": counts["group"].astype(str), "members": n})
    if by == "join_store_id":
        info = db.stores.select("store_id", "name", "city").to_pandas().astype(str).set_index("store_id")
        out["store_name"] = out["group"].map(info["name"])
        out["city"] = out["group"].map(info["city"])
    else:
        out["store_name"] = np.nan
        out["city"] = out["group"] if by == "city" else np.nan
    out["first_visit_share"] = counts["visited"].astype(float) / n
    for h in horizons:
        k = counts[f"r{h}"].astype("int64")
        low, high = wilson_interval(k, n, confidence=CONFIDENCE)
        out[f"retained_{h}d"] = k
        out[f"retention_{h}d"] = k / n
        out[f"retention_{h}d_ci_low"] = np.asarray(low, dtype=float)
        out[f"retention_{h}d_ci_high"] = np.asarray(high, dtype=float)
    mean, low, high = mean_interval(n, counts["early_sum"], counts["early_sq"], confidence=CONFIDENCE)
    out["early_revenue_per_member"] = np.asarray(mean, dtype=float)
    out["early_revenue_ci_low"] = np.asarray(low, dtype=float)
    out["early_revenue_ci_high"] = np.asarray(high, dtype=float)
    out["small"] = n < min_members
    last = f"retention_{horizons[-1]}d"
    out = out.sort_values(
        ["small", last, "early_revenue_per_member", "group"], ascending=[True, False, False, True]
    )
    out["quality_rank"] = np.arange(1, len(out) + 1, dtype="int64")
    return out[columns].reset_index(drop=True)


def _columns(horizons) -> list[str]:
    cols = ["group", "store_name", "city", "members", "first_visit_share"]
    for h in horizons:
        cols += [f"retained_{h}d", f"retention_{h}d", f"retention_{h}d_ci_low", f"retention_{h}d_ci_high"]
    return [
        *cols,
        "early_revenue_per_member",
        "early_revenue_ci_low",
        "early_revenue_ci_high",
        "small",
        "quality_rank",
    ]


def _check_horizons(horizons) -> tuple[int, ...]:
    if isinstance(horizons, int | np.integer) and not isinstance(horizons, bool):
        horizons = (horizons,)
    try:
        values = list(horizons)
    except TypeError:
        values = []
    ok = bool(values) and all(
        isinstance(h, int | np.integer) and not isinstance(h, bool) and h >= RETENTION_WINDOW_DAYS
        for h in values
    )
    if not ok:
        raise ParameterError(
            f"horizons={horizons!r} is not valid; expected whole numbers of days >= {RETENTION_WINDOW_DAYS}, "
            "e.g. (60, 90)."
        )
    return tuple(sorted({int(h) for h in values}))


def _fmt(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.1f}"
