"""Revenue concentration (Pareto): how much of member revenue the top x% of members bring.

Members are ranked by their revenue over the window (largest first). The Lorenz-style curve runs from
(0, 0) to (1, 1): after the top ``member_share`` of paying members comes ``revenue_share`` of their revenue.
The engine ranks the members and keeps a running sum; pandas receives at most ``MAX_CURVE_POINTS`` rows (the
running sum at evenly spaced ranks) and three totals, never one row per member.

    pareto = revenue_pareto(db, window_days=365)
    pareto.points        # top 1 / 5 / 10 / 20 / 50 %: members, revenue, revenue_share
    pareto.gini          # 0 = everyone spends the same, towards 1 = a few members bring everything
    print(pareto.summary(lang="en"))   # "The top 10% of members bring 41% of member revenue ..."
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar
from workbench.data.store import Store
from workbench.data.visits import member_orders
from workbench.errors import ParameterError, ThinDataWarning

# The shares operators quote: top 1%, 5%, 10% (the headline), 20% (the 80/20 rule), half.
TOP_SHARES = (0.01, 0.05, 0.10, 0.20, 0.50)
# The share the summary sentence and the figure's annotation quote.
HEADLINE_TOP_SHARE = 0.10
# The curve is sampled at this many evenly spaced ranks (plus the origin): smooth at any screen width,
# small enough to pull from a warehouse whatever the number of members.
MAX_CURVE_POINTS = 200
# Ranks are computed as ceil(share x members); this tolerance keeps 0.1 x 30 = 3.0000000000000004 at 3.
_RANK_TOLERANCE = 1e-9

CURVE_COLUMNS = ("member_share", "revenue_share", "members", "revenue")
POINT_COLUMNS = ("top_share", "members", "member_share", "revenue", "revenue_share")

i18n.register(
    {
        "pareto.title": ("会员营收集中度（帕累托）", "Member revenue concentration (Pareto)"),
        "pareto.as_of": ("截至 {day}", "as of {day}"),
        "pareto.window_all": ("全部历史", "all history"),
        "pareto.window_days": ("近 {days} 天", "last {days} days"),
        "pareto.headline": (
            "前 {top:.0%} 的会员贡献了 {share:.0%} 的会员营收",
            "The top {top:.0%} of members bring {share:.0%} of member revenue",
        ),
        "pareto.base": (
            "（{members:,} 名有消费会员，营收 {revenue:,.0f} {currency}；基尼系数 {gini:.2f}）",
            " ({members:,} paying members, revenue {revenue:,.0f} {currency}; Gini {gini:.2f})",
        ),
        "pareto.top_row": ("前 {top:.0%}", "Top {top:.0%}"),
        "pareto.empty": ("所选条件下没有有消费的会员", "No paying members for the selected filters"),
        "pareto.col.top": ("会员分层", "Members"),
        "pareto.col.members": ("人数", "Count"),
        "pareto.col.revenue": ("营收", "Revenue"),
        "pareto.col.share": ("营收占比", "Revenue share"),
    }
)


@dataclass(frozen=True)
class Pareto:
    """The result of :func:`revenue_pareto` (see its docstring for the columns).

    curve      member_share, revenue_share (0-1), members, revenue: the concentration curve, (0, 0) first
    points     top_share, members, member_share, revenue, revenue_share: the quoted top shares
    gini       Gini coefficient of member revenue (0-1; NaN without paying members)
    members    paying members ranked; revenue: their total revenue (currency)
    params     as_of, window_days, stores, cities, currency
    """

    curve: pd.DataFrame
    points: pd.DataFrame
    gini: float
    members: int
    revenue: float
    params: dict[str, Any] = field(default_factory=dict)

    def share_of_top(self, top_share: float = HEADLINE_TOP_SHARE) -> float:
        """Revenue share (0-1) of the top ``top_share`` of members (one of ``TOP_SHARES``)."""
        rows = self.points[np.isclose(self.points["top_share"], top_share)]
        if rows.empty:
            raise ParameterError(
                f"top_share={top_share!r} is not valid; expected one of: {', '.join(map(str, TOP_SHARES))}."
            )
        return float(rows["revenue_share"].iloc[0])

    def summary(self, lang: str = "zh") -> str:
        """The headline sentence and the table of top shares, in zh or en."""
        return _summary_text(self, lang)


def revenue_pareto(db: Store, *, as_of=None, window_days=None, stores=None, cities=None) -> Pareto:
    """Share of member revenue brought by the top x% of members, the concentration curve and the Gini.

    Revenue = amount paid on member orders on local days in the window: the ``window_days`` days ending on
    ``as_of`` (None: all history up to ``as_of``). Members are those of :func:`scope.scoped_members`
    (``stores`` / ``cities`` filter by home store) with revenue > 0 in the window ("paying members");
    members who did not buy are not ranked. Ties in revenue are broken by member_id (the shares do not
    depend on it).

    Returns a :class:`Pareto` with:
      curve    one row per sampled rank (at most MAX_CURVE_POINTS + 1, the origin first):
               member_share (0-1), revenue_share (0-1, cumulative), members (rank), revenue (cumulative,
               currency)
      points   one row per share in TOP_SHARES: top_share (0-1, nominal), members (= ceil(top_share x paying
               members), at least 1), member_share (members / paying members), revenue (currency),
               revenue_share (0-1)
      gini     (n + 1) / n - 2 * sum(rank_i * revenue_i) / (n * total), rank 1 = largest: 0 when every
               member spends the same, (n - 1) / n when one member brings everything
    A window without paying members gives empty frames, NaN and a ThinDataWarning.
    """
    day = scope.resolve_as_of(db, as_of)
    window = _check_window(window_days)
    o = member_orders(db, as_of=day)
    if window is not None:
        o = o.filter(o.day > calendar.date_literal(day - dt.timedelta(days=window)))
    per_member = o.group_by("member_id").aggregate(revenue=o.amount.sum())
    per_member = per_member.join(_members_in_scope(db, day, stores, cities), "member_id")
    per_member = per_member.filter(per_member.revenue > 0)
    order = [ibis.desc(per_member.revenue), per_member.member_id]
    everyone = ibis.window()
    ranked = per_member.mutate(
        rank=ibis.row_number().over(ibis.window(order_by=order)) + 1,
        cum_revenue=per_member.revenue.sum().over(ibis.cumulative_window(order_by=order)),
    )
    ranked = ranked.mutate(
        n=ranked.count().over(everyone),
        total=ranked.revenue.sum().over(everyone),
        rank_weighted=(ranked.rank.cast("float64") * ranked.revenue).sum().over(everyone),
    )
    # One query: the ranks the curve samples (see curve_ranks) and the ranks of TOP_SHARES, with the totals.
    r, n_expr = ranked.rank, ranked.n
    on_curve = (n_expr <= MAX_CURVE_POINTS) | (
        (r * MAX_CURVE_POINTS) // n_expr > ((r - 1) * MAX_CURVE_POINTS) // n_expr
    )
    is_top = ibis.or_(
        *[r == ibis.greatest((n_expr.cast("float64") * s - _RANK_TOLERANCE).ceil().cast("int64"), 1)
          for s in TOP_SHARES]
    )  # fmt: skip
    at_ranks = (
        ranked.filter(on_curve | is_top)
        .select("rank", "cum_revenue", "n", "total", "rank_weighted")
        .to_pandas()
        .astype({"rank": "int64", "cum_revenue": "float64"})
        .sort_values("rank")
    )
    params = {
        "as_of": day,
        "window_days": window,
        "stores": _tuple_or_none(stores),
        "cities": _tuple_or_none(cities),
        "currency": db.settings.currency,
    }
    if at_ranks.empty:
        warnings.warn("no paying members in the window; nothing to rank.", ThinDataWarning, stacklevel=2)
        empty_curve = pd.DataFrame({c: pd.Series(dtype="float64") for c in CURVE_COLUMNS})
        empty_points = pd.DataFrame({c: pd.Series(dtype="float64") for c in POINT_COLUMNS})
        return Pareto(empty_curve, empty_points, math.nan, 0, 0.0, params)
    n, total = int(at_ranks["n"].iloc[0]), float(at_ranks["total"].iloc[0])
    rank_weighted = float(at_ranks["rank_weighted"].iloc[0])
    at_ranks = at_ranks.set_index("rank")["cum_revenue"]
    top_ranks = [_top_rank(share, n) for share in TOP_SHARES]
    curve_at = at_ranks.reindex(curve_ranks(n))
    curve = pd.DataFrame(
        {
            "member_share": np.concatenate([[0.0], curve_at.index.to_numpy() / n]),
            "revenue_share": np.concatenate([[0.0], curve_at.to_numpy() / total]),
            "members": np.concatenate([[0], curve_at.index.to_numpy()]).astype("int64"),
            "revenue": np.concatenate([[0.0], curve_at.to_numpy()]),
        }
    )
    top_revenue = at_ranks.reindex(top_ranks).to_numpy()
    points = pd.DataFrame(
        {
            "top_share": list(TOP_SHARES),
            "members": np.array(top_ranks, dtype="int64"),
            "member_share": np.array(top_ranks) / n,
            "revenue": top_revenue,
            "revenue_share": top_revenue / total,
        }
    )
    gini = (n + 1) / n - 2 * rank_weighted / (n * total)
    return Pareto(curve, points, float(gini), n, total, params)


def _members_in_scope(db: Store, day: dt.date, stores, cities) -> ibis.Table:
    """member_id of the members in scope: all who joined by ``day``, or scope.scoped_members' home-store
    filter when stores / cities are given (the lighter query when they are not)."""
    if stores or cities:
        return scope.scoped_members(db, as_of=day, stores=stores, cities=cities).select("member_id")
    m = db.members
    return m.filter(calendar.local_day(m.joined_at) <= calendar.date_literal(day)).select("member_id")


def curve_ranks(n: int) -> list[int]:
    """Ranks at which the curve is sampled: every rank up to MAX_CURVE_POINTS members, else evenly spaced
    ranks ceil(j * n / MAX_CURVE_POINTS) for j = 1 .. MAX_CURVE_POINTS (the last is n)."""
    if n <= MAX_CURVE_POINTS:
        return list(range(1, n + 1))
    return sorted(
        {math.ceil(j * n / MAX_CURVE_POINTS - _RANK_TOLERANCE) for j in range(1, MAX_CURVE_POINTS + 1)}
    )


def _top_rank(share: float, n: int) -> int:
    return max(1, math.ceil(share * n - _RANK_TOLERANCE))


def _check_window(window_days) -> int | None:
    if window_days is None:
        return None
    if isinstance(window_days, bool) or not isinstance(window_days, int | np.integer) or window_days < 1:
        raise ParameterError(
            f"window_days={window_days!r} is not valid; expected a whole number of days >= 1, "
            "or None for all history."
        )
    return int(window_days)


def _tuple_or_none(values):
    if values is None:
        return None
    return (values,) if isinstance(values, str | int) else tuple(values)


def window_label(window_days: int | None, lang: str) -> str:
    """'全部历史' / 'last 365 days' for a window length."""
    if window_days is None:
        return i18n.t("pareto.window_all", lang)
    return i18n.t("pareto.window_days", lang, days=window_days)


def _summary_text(result: Pareto, lang: str) -> str:
    t = i18n.t
    p = result.params
    head = (
        f"{t('pareto.title', lang)} · {t('pareto.as_of', lang, day=p['as_of'].isoformat())} · "
        f"{window_label(p['window_days'], lang)}"
    )
    if result.members == 0:
        return f"{head}\n{t('pareto.empty', lang)}"
    currency = t("currency_cny", lang) if p["currency"] == "CNY" else p["currency"]
    sentence = t(
        "pareto.headline", lang, top=HEADLINE_TOP_SHARE, share=result.share_of_top(HEADLINE_TOP_SHARE)
    ) + t("pareto.base", lang, members=result.members, revenue=result.revenue, currency=currency,
          gini=result.gini)  # fmt: skip
    table = pd.DataFrame(
        {
            t("pareto.col.top", lang): [t("pareto.top_row", lang, top=s) for s in result.points["top_share"]],
            t("pareto.col.members", lang): result.points["members"].map("{:,}".format),
            t("pareto.col.revenue", lang): result.points["revenue"].map("{:,.0f}".format),
            t("pareto.col.share", lang): result.points["revenue_share"].map("{:.1%}".format),
        }
    )
    return "\n".join([head, sentence, "", table.to_string(index=False)])
