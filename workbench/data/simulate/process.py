"""Visits: the organic renewal process with dropout, and the extra visits touches and campaigns cause.

Organic visits (per member, on the operational clock of :mod:`timeline`):

- the first visit is the activation instant; each later interval is gamma (shape INTERVAL_SHAPE) with mean
  = cycle x GROUP_CYCLE_FACTOR (if in a group when the interval starts) / VIP_RATE_MULTIPLIER (if VIP);
- dropout: a latent exponential lifetime whose hazard (baseline x HR(in group) x HR(VIP)) is held from one
  visit to the next; no organic visit follows the dropout instant; trial customers (``one_off``) drop out
  at their first visit;
- at each organic visit a non-VIP member buys a VIP card with probability ``vip_prob``.

Caused visits come on top and never restart the organic process: a touch (private chat, moments, SMS,
group message) brings the member in on one of the next 7 days with its medium's probability, a treated
campaign member comes once more inside the outcome window with the campaign's probability for the segment.
Both reach members after their dropout too: that is how a coupon wakes someone up.

Visits are handled as integer keys ``member * K + (day + pre)``: sorting them sorts by member, then day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from workbench.data.contract import TOUCH_MEDIA
from workbench.data.simulate import params as P
from workbench.data.simulate.chain import Groups
from workbench.data.simulate.population import Population
from workbench.data.simulate.timeline import Timeline

MEDIUM = {m: i for i, m in enumerate(TOUCH_MEDIA)}
# Local hours at which one-to-one touches are sent.
TOUCH_HOURS = {"private_chat": (10.0, 21.0), "moments": (8.0, 22.0), "sms": (10.0, 20.0)}
GROUP_MESSAGE_HOURS = (9.0, 22.0)
CAMPAIGN_SEND_HOURS = (10.0, 20.0)
CAMPAIGN_ASSIGN_SPREAD_DAYS = 3  # coupons of one campaign go out over its first three days
CAMPAIGN_START_JITTER_DAYS = 3  # campaigns start up to this many days either side of their even slot
BIRTHDAY_ASSIGN_DAYS_BEFORE = 3
# Caused campaign visits come early in the window: delay = window x Beta(1, CAMPAIGN_DELAY_BETA).
CAMPAIGN_DELAY_BETA = 2.0
# Per-campaign jitter of the planted extra-visit probabilities (x uniform in this range).
CAMPAIGN_EFFECT_JITTER = (0.85, 1.15)


@dataclass
class Keys:
    """Helpers for member-day keys."""

    pre: int
    width: int  # K: a power of two above every grid day

    def make(self, member: np.ndarray, day: np.ndarray) -> np.ndarray:
        return member.astype(np.int64) * self.width + (day.astype(np.int64) + self.pre)

    def member(self, key: np.ndarray) -> np.ndarray:
        return key // self.width

    def day(self, key: np.ndarray) -> np.ndarray:
        return key % self.width - self.pre


def keys_for(tl: Timeline) -> Keys:
    span = tl.pre + tl.days + tl.post + 1
    return Keys(tl.pre, 1 << int(np.ceil(np.log2(span))))


# -- organic visits -----------------------------------------------------------------------------------


@dataclass
class Organic:
    """Organic visits and the latent outcomes of the organic process.

    member, day   one row per organic visit event (may repeat a member-day; see base visits)
    first         row is the member's first visit
    vip_day       day of the VIP purchase (nan: none before the horizon)
    dropout_t     calendar instant of dropout (nan: not before the horizon or never active)
    """

    member: np.ndarray
    day: np.ndarray
    first: np.ndarray
    vip_day: np.ndarray
    dropout_t: np.ndarray


def organic_visits(
    pop: Population,
    tl: Timeline,
    horizon_day: int,
    rng: np.random.Generator,
    *,
    max_visits: int | None = None,
) -> Organic:
    """Organic visits before ``horizon_day``; with ``max_visits``, each member's first ones only."""
    n = pop.n
    horizon = tl.cum[horizon_day + tl.pre]
    vip_tau = np.full(n, np.nan)
    drop_tau = np.full(n, np.nan)
    start = np.flatnonzero(pop.activated)
    tau = tl.op_time(pop.first_t[start])
    keep = tau < horizon
    idx, tau = start[keep], tau[keep]
    budget = rng.exponential(1.0, len(idx))
    budget[pop.one_off[idx]] = 0.0  # trial customers drop out at their first visit
    vip = np.zeros(len(idx), dtype=bool)
    out_m, out_tau, out_first = [], [], []
    first = True
    while len(idx):
        out_m.append(idx.astype(np.int32))
        out_tau.append(tau)
        out_first.append(np.full(len(idx), first))
        first = False
        buy = ~vip & (rng.random(len(idx)) < pop.vip_prob[idx]) & ~pop.one_off[idx]
        vip_tau[idx[buy]] = tau[buy]
        vip |= buy
        in_group = pop.in_group(tl.calendar_time(tau), idx)
        cycle = pop.cycle[idx] * np.where(in_group, P.GROUP_CYCLE_FACTOR, 1.0)
        cycle /= np.where(vip, P.VIP_RATE_MULTIPLIER, 1.0)
        hazard = pop.hazard[idx] * np.where(in_group, P.DROPOUT_HR_IN_GROUP, 1.0)
        hazard *= np.where(vip, P.DROPOUT_HR_VIP, 1.0)
        gap = cycle * rng.gamma(P.INTERVAL_SHAPE, 1.0 / P.INTERVAL_SHAPE, len(idx))
        used = hazard * gap
        drop = budget < used
        drop_tau[idx[drop]] = tau[drop] + budget[drop] / hazard[drop]
        tau = tau + gap
        alive = ~drop & (tau < horizon)
        if max_visits is not None and len(out_m) >= max_visits:
            alive[:] = False
        idx, tau, budget, vip = idx[alive], tau[alive], (budget - used)[alive], vip[alive]
    member = np.concatenate(out_m) if out_m else np.zeros(0, np.int32)
    taus = np.concatenate(out_tau) if out_tau else np.zeros(0)
    day = np.floor(tl.calendar_time(taus)).astype(np.int32)
    vip_day = np.floor(tl.calendar_time(vip_tau))
    drop_t = np.maximum(tl.calendar_time(drop_tau), pop.first_t)  # nan stays nan; no rounding below the start
    drop_t[drop_t >= horizon_day] = np.nan
    return Organic(
        member, day, np.concatenate(out_first) if out_first else np.zeros(0, bool), vip_day, drop_t
    )


# -- touches --------------------------------------------------------------------------------------------


@dataclass
class Touches:
    """One-to-one touches (member set) and group messages (group set), plus the visits they cause."""

    member: np.ndarray  # -1 for group messages
    group: np.ndarray  # -1 for one-to-one touches
    medium: np.ndarray
    day: np.ndarray
    hours: np.ndarray
    caused_member: np.ndarray
    caused_day: np.ndarray
    caused_medium: np.ndarray


def _spread(rng, lo: np.ndarray, hi: np.ndarray, every: float):
    """Poisson(len / every) events per row on whole days in [lo, hi): (row, day)."""
    length = np.maximum(hi - lo, 0)
    count = rng.poisson(length / every)
    row = np.repeat(np.arange(len(lo)), count)
    day = lo[row] + np.floor(rng.random(len(row)) * length[row]).astype(np.int64)
    return row, day


def touches(
    pop: Population,
    groups: Groups,
    tl: Timeline,
    horizon_day: int,
    rng: np.random.Generator,
    *,
    keep_rows: bool = True,
) -> Touches:
    """Touches sent on days [0, horizon) and their caused visits (days 1..7 after the touch).

    With ``keep_rows=False`` (the Monte Carlo) only the caused visits are returned.
    """
    n = pop.n
    members, media, days, hours = [], [], [], []
    c_member, c_day, c_medium = [], [], []
    all_members = np.arange(n)
    for medium in ("private_chat", "moments", "sms"):
        since = pop.joined_t if medium == "sms" else pop.friend_since
        reach = np.isfinite(since)
        lo = np.maximum(np.floor(since[reach]).astype(np.int64) + 1, 0)
        hi = np.full(len(lo), horizon_day, dtype=np.int64)
        row, day = _spread(rng, lo, hi, P.TOUCH_EVERY_DAYS[medium])
        who = all_members[reach][row]
        if keep_rows:
            members.append(who)
            media.append(np.full(len(who), MEDIUM[medium], np.int8))
            days.append(day)
            hours.append(rng.uniform(*TOUCH_HOURS[medium], len(who)))
        hit = rng.random(len(who)) < P.TOUCH_RESPONSE[medium]
        c_member.append(who[hit])
        c_day.append(day[hit] + rng.integers(1, P.TOUCH_RESPONSE_DAYS + 1, int(hit.sum())))
        c_medium.append(np.full(int(hit.sum()), MEDIUM[medium], np.int8))

    # Group messages: Poisson(intensity) per group per day from its creation.
    g_days = horizon_day
    alive = np.arange(g_days)[None, :] >= groups.created_day[:, None]
    counts = rng.poisson(groups.intensity[:, None] * alive)
    flat_cum = np.concatenate([[0], np.cumsum(counts.ravel())])
    if keep_rows:
        g_row = np.repeat(np.arange(groups.n * g_days), counts.ravel())
        members.append(np.full(len(g_row), -1, np.int64))
        media.append(np.full(len(g_row), MEDIUM["group"], np.int8))
        days.append(g_row % g_days)
        hours.append(rng.uniform(*GROUP_MESSAGE_HOURS, len(g_row)))
        msg_group = g_row // g_days
    # Each message a member receives while in the group causes a visit with the group response.
    for a, b in ((pop.s1a, pop.s1b), (pop.s2a, pop.s2b)):
        inside = np.flatnonzero(np.isfinite(a) & (a < horizon_day))
        g = pop.group[inside]
        lo = np.clip(np.floor(a[inside]).astype(np.int64) + 1, 0, g_days)
        hi = np.clip(np.floor(np.minimum(b[inside], horizon_day)).astype(np.int64), 0, g_days)
        hi = np.maximum(hi, lo)
        first, last = flat_cum[g * g_days + lo], flat_cum[g * g_days + hi]
        received = last - first
        n_caused = rng.binomial(received, P.TOUCH_RESPONSE["group"])
        row = np.repeat(np.arange(len(inside)), n_caused)
        which = first[row] + np.floor(rng.random(len(row)) * received[row]).astype(np.int64)
        flat = np.searchsorted(flat_cum, which, side="right") - 1
        c_member.append(inside[row])
        c_day.append(flat % g_days + rng.integers(1, P.TOUCH_RESPONSE_DAYS + 1, len(row)))
        c_medium.append(np.full(len(row), MEDIUM["group"], np.int8))

    cm, cd, cmed = np.concatenate(c_member), np.concatenate(c_day), np.concatenate(c_medium)
    ok = cd < horizon_day
    if not keep_rows:
        e = np.zeros(0, np.int64)
        return Touches(e, e, e.astype(np.int8), e, e.astype(float), cm[ok], cd[ok], cmed[ok])
    member = np.concatenate(members)
    group = np.concatenate([np.full(len(member) - len(msg_group), -1, np.int64), msg_group])
    return Touches(
        member=member,
        group=group,
        medium=np.concatenate(media),
        day=np.concatenate(days),
        hours=np.concatenate(hours),
        caused_member=cm[ok],
        caused_day=cd[ok],
        caused_medium=cmed[ok],
    )


# -- base visits ----------------------------------------------------------------------------------------


@dataclass
class BaseVisits:
    """Member-days with an organic or touch-caused visit, sorted by key (member, day), unique.

    organic     the day has an organic visit
    first       the day is the member's first organic visit
    medium      medium code of the touch that caused it (-1: organic)
    """

    key: np.ndarray
    organic: np.ndarray
    first: np.ndarray
    medium: np.ndarray


def base_visits(org: Organic, tch: Touches, keys: Keys, lo_day: int, hi_day: int) -> BaseVisits:
    in_org = (org.day >= lo_day) & (org.day < hi_day)
    in_tch = (tch.caused_day >= lo_day) & (tch.caused_day < hi_day)
    organic_keys = keys.make(org.member[in_org], org.day[in_org])
    k = np.concatenate([organic_keys, keys.make(tch.caused_member[in_tch], tch.caused_day[in_tch])])
    n_org = int(in_org.sum())
    uniq, first_pos = np.unique(k, return_index=True)  # organic rows come first, so they win
    organic = first_pos < n_org
    first = np.zeros(len(uniq), dtype=bool)
    first[organic] = org.first[in_org][first_pos[organic]]
    # a touch-caused day that coincides with an organic one counts as organic (it would have happened)
    medium = np.full(len(uniq), -1, np.int8)
    medium[~organic] = tch.caused_medium[in_tch][first_pos[~organic] - n_org]
    return BaseVisits(uniq, organic, first, medium)


# -- campaigns ------------------------------------------------------------------------------------------


@dataclass
class CampaignPlan:
    """One campaign as planned: dates (day indices) and planted parameters."""

    index: int
    name: str
    kind: str
    eligible: str
    start_day: int
    end_day: int  # last day coupons are issued (inclusive)
    holdout: float
    value_cents: int
    window: int
    p_ps: float
    p_other: float
    q_ps: float
    q_other: float
    birthday_month: int = 0


@dataclass
class CampaignRun:
    """What happened in one campaign (arrays over its eligible members)."""

    plan: CampaignPlan
    member: np.ndarray  # eligible members
    treated: np.ndarray  # arm
    assign_day: np.ndarray
    assign_hours: np.ndarray
    caused: np.ndarray  # treated member came once more because of the coupon
    caused_day: np.ndarray  # day of the caused visit (-1: none)
    redeemed_key: np.ndarray  # base-visit key the coupon was used on (-1: none / caused visit)
    new_day: np.ndarray  # the caused visit falls on a day without another visit of the member


def plan_campaigns(tl: Timeline, rng: np.random.Generator) -> list[CampaignPlan]:
    """Pick the campaigns for the period's length and place them in time."""
    weeks = tl.days // 7
    n = int(np.clip(round(weeks / P.WEEKS_PER_CAMPAIGN), P.MIN_CAMPAIGNS, P.MAX_CAMPAIGNS))
    templates = list(P.CAMPAIGN_TEMPLATES[:n])
    order = rng.permutation(n)
    first = min(P.ACTIVE_DAYS, tl.days // 4)
    longest = max(t["window"] for t in P.CAMPAIGN_TEMPLATES)
    last_start = tl.days - longest - 1 - CAMPAIGN_ASSIGN_SPREAD_DAYS  # every window ends inside the period
    if last_start < max(first, 1):  # too short a history for a campaign and its outcome window
        return []
    slots = np.linspace(first, last_start, n).round().astype(int)
    plans = []
    for slot, t_index in zip(slots, order, strict=True):
        t = templates[t_index]
        jitter = rng.uniform(*CAMPAIGN_EFFECT_JITTER)
        jitter_days = rng.integers(-CAMPAIGN_START_JITTER_DAYS, CAMPAIGN_START_JITTER_DAYS + 1)
        start = int(np.clip(slot + jitter_days, 1, last_start))
        end = start + CAMPAIGN_ASSIGN_SPREAD_DAYS - 1
        month = 0
        if t["kind"] == "birthday":  # the whole calendar month after the slot (or the slot's own month)
            d = tl.date_of(start)
            this_month = d.replace(day=1)
            next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
            after_next = (next_month + dt.timedelta(days=32)).replace(day=1)
            start, end = tl.day_of(next_month), tl.day_of(after_next) - 1
            if end + t["window"] >= tl.days:
                start, end = max(tl.day_of(this_month), 1), tl.day_of(next_month) - 1
            end = min(end, tl.days - t["window"] - 1)  # every outcome window ends inside the period
            month = tl.date_of(start).month
        plans.append(
            CampaignPlan(
                index=0,
                name=t["name"],
                kind=t["kind"],
                eligible=t["eligible"],
                start_day=start,
                end_day=end,
                holdout=float(t["holdout"]),
                value_cents=int(t["value"] * 100),
                window=int(t["window"]),
                p_ps=round(float(t["p_ps"] * jitter), 4),
                p_other=round(float(t["p_other"] * jitter), 4),
                q_ps=float(t["q_ps"]),
                q_other=float(t["q_other"]),
                birthday_month=month,
            )
        )
    plans.sort(key=lambda p: (p.start_day, p.name))
    for i, p in enumerate(plans):
        p.index = i
    return plans


class VisitIndex:
    """Sorted member-day keys of visits so far: the base visits plus campaign-caused days added later."""

    def __init__(self, base: np.ndarray, keys: Keys):
        self.base = base
        self.extra = np.zeros(0, np.int64)
        self.keys = keys

    def add(self, new: np.ndarray) -> None:
        self.extra = np.union1d(self.extra, new)

    def contains(self, key: np.ndarray) -> np.ndarray:
        return _contains(self.base, key) | _contains(self.extra, key)

    def last_before(self, members: np.ndarray, day: int) -> np.ndarray:
        """Day of each member's last visit before ``day`` (a large negative number when none)."""
        out = np.full(len(members), -(10**9), dtype=np.int64)
        target = self.keys.make(members, np.full(len(members), day))
        for arr in (self.base, self.extra):
            if not len(arr):
                continue
            pos = np.searchsorted(arr, target, side="left") - 1
            ok = pos >= 0
            k = arr[np.maximum(pos, 0)]
            ok &= self.keys.member(k) == members
            out = np.where(ok, np.maximum(out, self.keys.day(k)), out)
        return out

    def count_between(self, members: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Visit-days of each member in days [lo, hi)."""
        a = self.keys.make(members, np.full(len(members), lo))
        b = self.keys.make(members, np.full(len(members), hi))
        total = np.zeros(len(members), dtype=np.int64)
        for arr in (self.base, self.extra):
            total += np.searchsorted(arr, b) - np.searchsorted(arr, a)
        return total


def _contains(sorted_arr: np.ndarray, key: np.ndarray) -> np.ndarray:
    if not len(sorted_arr):
        return np.zeros(len(key), dtype=bool)
    pos = np.clip(np.searchsorted(sorted_arr, key), 0, len(sorted_arr) - 1)
    return sorted_arr[pos] == key


def _birthday_day(pop: Population, members: np.ndarray, tl: Timeline, plan: CampaignPlan) -> np.ndarray:
    """Day index of each member's birthday in the campaign's year (non-leap day of year)."""
    year = tl.date_of(plan.start_day).year
    jan1 = tl.day_of(dt.date(year, 1, 1))
    doy = pop.birthday_doy[members]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return jan1 + doy + np.where(leap & (doy >= 59), 1, 0)  # 59 = 03-01 in a non-leap year


def run_campaigns(
    plans: list[CampaignPlan],
    pop: Population,
    base: BaseVisits,
    keys: Keys,
    tl: Timeline,
    horizon_day: int,
    seed_stream,
) -> list[CampaignRun]:
    """Eligibility, randomisation, caused visits and redemptions, campaign after campaign."""
    index = VisitIndex(base.key, keys)
    used = np.zeros(0, np.int64)  # base-visit keys a coupon was already used on
    runs = []
    everyone = np.arange(pop.n)
    for plan in plans:
        rng = seed_stream(f"campaign/{plan.index}")
        s = plan.start_day
        joined = pop.joined_t < s
        last = index.last_before(everyone, s)
        if plan.eligible == "active_90d":
            ok = joined & (last >= s - P.ACTIVE_DAYS)
        elif plan.eligible == "frequent_60d":
            ok = joined & (index.count_between(everyone, s - P.FREQUENT_DAYS, s) >= P.FREQUENT_MIN_VISITS)
        elif plan.eligible == "lapsing":
            lo, hi = P.LAPSING_DAYS
            ok = joined & (last >= s - hi) & (last <= s - lo)
        elif plan.eligible == "new_30d":
            ok = joined & (pop.joined_t >= s - P.NEW_MEMBER_DAYS)
        elif plan.eligible == "birthday_month":
            bday = _birthday_day(pop, everyone, tl, plan)
            ok = joined & (last >= s - P.BIRTHDAY_ACTIVE_DAYS) & (bday >= s) & (bday <= plan.end_day)
        else:  # pragma: no cover - templates are fixed
            raise ValueError(plan.eligible)
        member = np.flatnonzero(ok)
        n = len(member)
        n_control = round(n * plan.holdout)
        treated = np.ones(n, dtype=bool)
        treated[rng.permutation(n)[:n_control]] = False
        if plan.kind == "birthday":
            bday = _birthday_day(pop, member, tl, plan)
            assign_day = np.maximum(s, bday - BIRTHDAY_ASSIGN_DAYS_BEFORE)
        else:
            assign_day = s + rng.integers(0, CAMPAIGN_ASSIGN_SPREAD_DAYS, n)
        assign_hours = rng.uniform(*CAMPAIGN_SEND_HOURS, n)
        ps = pop.price_sensitive[member]
        p = np.where(ps, plan.p_ps, plan.p_other)
        caused = treated & (rng.random(n) < p)
        w = plan.window
        if plan.kind == "birthday":
            target = bday + np.round(rng.normal(0.0, 1.0, n)).astype(np.int64)
        else:
            target = (
                assign_day + 1 + np.floor((w - 1) * rng.beta(1.0, CAMPAIGN_DELAY_BETA, n)).astype(np.int64)
            )
        target = np.clip(target, assign_day + 1, assign_day + w - 1)
        caused &= target < horizon_day
        caused_day = np.where(caused, target, -1)

        # Redemptions on visits that would have happened anyway (treated members without a caused visit):
        # each base visit in the window uses the coupon with probability q until it is used.
        redeemed_key = np.full(n, -1, dtype=np.int64)
        cand = np.flatnonzero(treated & ~caused)
        m = member[cand]
        lo = np.searchsorted(base.key, keys.make(m, assign_day[cand] + 1))
        hi = np.searchsorted(base.key, keys.make(m, assign_day[cand] + w))
        count = hi - lo
        row = np.repeat(np.arange(len(cand)), count)
        pos = lo[row] + (np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count))
        k = base.key[pos]
        q = np.where(ps[cand][row], plan.q_ps, plan.q_other)
        hit = (rng.random(len(row)) < q) & ~_contains(used, k)
        hit_rows = row[hit]
        first_hit = np.unique(hit_rows, return_index=True)
        redeemed_key[cand[first_hit[0]]] = k[hit][first_hit[1]]
        used = np.union1d(used, redeemed_key[redeemed_key >= 0])

        c_keys = keys.make(member[caused], caused_day[caused])
        new_day = np.zeros(n, dtype=bool)
        new_day[caused] = ~index.contains(c_keys)
        index.add(c_keys)
        runs.append(
            CampaignRun(
                plan, member, treated, assign_day, assign_hours, caused, caused_day, redeemed_key, new_day
            )
        )
    return runs
