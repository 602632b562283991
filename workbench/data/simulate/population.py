"""Members and their latent attributes: joining, the activation funnel, cycles, hazards, group spells.

Everything is drawn per member with vectorised numpy; member index = rank of the joining instant, so
member ids follow joining order and a referrer always has a smaller index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.data.contract import JOIN_CHANNELS, LINK_MODES
from workbench.data.simulate import params as P
from workbench.data.simulate.chain import CUISINE_NAMES, GROUP_KIND_CODES, Groups, Stores
from workbench.data.simulate.timeline import Timeline, categorical_rows, meal_hours

NEVER = np.inf
MINUTE = 1 / (24 * 60)
# Joins that are not a visit happen at a random moment of these local hours.
JOIN_HOURS = (8.0, 23.0)
# A member who joins by scanning the QR code does so this many minutes before placing the first order.
SCAN_BEFORE_ORDER_MINUTES = (1, 10)
# Phone numbers: mobile prefixes of mainland operators, then 8 digits.
PHONE_PREFIXES = np.array(
    [130, 131, 132, 135, 136, 137, 138, 139, 150, 151, 152, 158, 159, 186, 187, 188, 189]
)
PHONE_SUFFIX_SPACE = 10**8
PHONE_STRIDE = 48_271  # coprime with 10**8: i -> (stride * i + offset) mod 10**8 is a permutation


def meal_shares() -> np.ndarray:
    return np.array([P.MEAL_SHARE[c] for c in CUISINE_NAMES])


@dataclass
class Population:
    """Members as arrays, in joining order.

    joined_t      instant of joining (days since day 0, local)
    stock         joined before the period
    channel, link codes into JOIN_CHANNELS / LINK_MODES
    home_store    store index where the member joined / mostly visits
    join_store    home_store, or -1 where the channel records no store
    at_join       first order placed at the joining visit
    activated     ever places a first organic order
    one_off       a trial customer: drops out at the first visit (ONE_OFF_SHARE)
    first_t       instant of the first organic visit (nan if never)
    price_sensitive, spend, cycle (mean days between organic visits before group / VIP multipliers)
    hazard        baseline dropout hazard per day (join channel x link mode)
    vip_prob      probability of buying a VIP card at each organic visit
    friend_since  instant the member became a WeCom friend (inf: never)
    group, s1a, s1b, s2a, s2b   group index (-1: none) and the two spells in it (inf: none / not left)
    birthday_doy  day of a non-leap year (0 = 01-01)
    referrer      index of the referring member (-1: none)
    phone         synthetic 11-digit phone number (only ever hashed)
    """

    joined_t: np.ndarray
    stock: np.ndarray
    channel: np.ndarray
    link: np.ndarray
    home_store: np.ndarray
    join_store: np.ndarray
    at_join: np.ndarray
    activated: np.ndarray
    one_off: np.ndarray
    first_t: np.ndarray
    price_sensitive: np.ndarray
    spend: np.ndarray
    cycle: np.ndarray
    hazard: np.ndarray
    vip_prob: np.ndarray
    friend_since: np.ndarray
    group: np.ndarray
    s1a: np.ndarray
    s1b: np.ndarray
    s2a: np.ndarray
    s2b: np.ndarray
    birthday_doy: np.ndarray
    referrer: np.ndarray
    phone: np.ndarray

    @property
    def n(self) -> int:
        return len(self.joined_t)

    def in_group(self, t: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Whether each member (or ``idx``) is in a group at calendar instant ``t``."""
        sel = slice(None) if idx is None else idx
        return ((self.s1a[sel] <= t) & (t < self.s1b[sel])) | ((self.s2a[sel] <= t) & (t < self.s2b[sel]))

    def is_friend(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.friend_since[idx] <= t


def _join_days(n_stock, n_new, stores: Stores, tl: Timeline, rng) -> np.ndarray:
    """Join days: the stock spread over the year before day 0, the rest growing over the period."""
    pre = np.arange(-P.STOCK_YEARS_BACK_DAYS, 0)
    w_pre = tl.day_multiplier(pre)
    stock = rng.choice(pre, size=n_stock, p=w_pre / w_pre.sum())
    days = np.arange(tl.days)
    growth = np.exp(np.log(P.JOIN_GROWTH_OVER_PERIOD) * days / max(tl.days - 1, 1))
    open_weight = (stores.popularity[None, :] * (stores.opened_day[None, :] <= days[:, None])).sum(axis=1)
    w = growth * tl.day_multiplier(days) * open_weight
    new = rng.choice(days, size=n_new, p=w / w.sum())
    return np.sort(np.concatenate([stock, new]))


def _pick_home_store(join_day, stores: Stores, rng) -> np.ndarray:
    p = stores.popularity / stores.popularity.sum()
    home = rng.choice(stores.n, size=len(join_day), p=p)
    closed = stores.opened_day[home] > join_day
    old = np.flatnonzero(stores.opened_day <= -1)
    p_old = stores.popularity[old] / stores.popularity[old].sum()
    home[closed] = old[rng.choice(len(old), size=int(closed.sum()), p=p_old)]
    return home


def make_population(
    n: int, *, stock_share: float, stores: Stores, groups: Groups, tl: Timeline, rng: np.random.Generator
) -> Population:
    n_stock = round(n * stock_share)
    join_day = _join_days(n_stock, n - n_stock, stores, tl, rng)
    stock = join_day < 0

    shares = np.array([P.JOIN_CHANNEL_SHARE[c] for c in JOIN_CHANNELS])
    channel = rng.choice(len(JOIN_CHANNELS), size=n, p=shares / shares.sum())
    link_probs = np.array([P.LINK_MODE_SHARE[c] for c in JOIN_CHANNELS])
    link = categorical_rows(rng, link_probs, channel)
    home = _pick_home_store(join_day, stores, rng)
    no_store = np.isin(channel, [JOIN_CHANNELS.index(c) for c in P.NO_JOIN_STORE_CHANNELS])
    join_store = np.where(no_store, -1, home)

    # Activation funnel.
    act = np.array([P.ACTIVATION[c] for c in JOIN_CHANNELS])
    at_join = rng.random(n) < act[channel, 0]
    later = ~at_join & (rng.random(n) < act[channel, 1])
    first_hours = meal_hours(rng, stores.cuisine[home], shares=meal_shares())
    lo, hi = SCAN_BEFORE_ORDER_MINUTES
    scan_before = rng.uniform(lo, hi, n) * MINUTE
    other_hours = rng.uniform(*JOIN_HOURS, n)
    joined_t = np.where(at_join, join_day + first_hours / 24 - scan_before, join_day + other_hours / 24)
    # Keep joining order equal to member order (the scan can move a join a few minutes back).
    order = np.argsort(joined_t, kind="stable")
    (join_day, stock, channel, link, home, join_store, at_join, later, first_hours, joined_t) = (
        a[order]
        for a in (join_day, stock, channel, link, home, join_store, at_join, later, first_hours, joined_t)
    )
    delay = rng.gamma(2.0, act[channel, 2] / 2.0)
    later_day = np.floor(tl.calendar_time(tl.op_time(joined_t) + delay))
    later_day = np.maximum(later_day, join_day + 1)
    first_t = np.where(at_join, join_day + first_hours / 24, np.where(later, later_day + 0.5, np.nan))

    # Value, cycle, hazard.
    price_sensitive = rng.random(n) < P.PRICE_SENSITIVE_SHARE
    s = P.SPEND_SIGMA
    spend = rng.lognormal(-s * s / 2, s, n) * np.where(price_sensitive, P.PRICE_SENSITIVE_SPEND_FACTOR, 1.0)
    base_cycle = np.array([P.BASE_CYCLE_DAYS[c] for c in JOIN_CHANNELS])[channel]
    cuisine_factor = np.array([v[1] for v in P.CUISINES.values()])[stores.cuisine[home]]
    h = P.CYCLE_HETEROGENEITY_SIGMA
    cycle = np.clip(
        base_cycle * cuisine_factor * rng.lognormal(-h * h / 2, h, n), P.MIN_CYCLE_DAYS, P.MAX_CYCLE_DAYS
    )
    hr_channel = np.array([P.DROPOUT_HR_JOIN_CHANNEL[c] for c in JOIN_CHANNELS])[channel]
    hr_link = np.array([P.DROPOUT_HR_LINK_MODE[m] for m in LINK_MODES])[link]
    hazard = P.BASE_DROPOUT_HAZARD * hr_channel * hr_link
    one_off_share = np.array([P.ONE_OFF_SHARE[c] for c in JOIN_CHANNELS])[channel]
    one_off = (at_join | later) & (rng.random(n) < one_off_share)
    vip_prob = np.minimum(
        P.VIP_BUY_PROB * (P.VIP_REFERENCE_CYCLE_DAYS / cycle) ** P.VIP_SELECTION_ELASTICITY,
        P.VIP_BUY_PROB_CAP,
    )

    # WeCom friendship and community groups.
    mode = np.array(LINK_MODES)[link]
    friend_since = np.full(n, NEVER)
    friend_now = np.isin(mode, ["friend_only", "friend_then_group"])
    friend_since[friend_now] = joined_t[friend_now] + MINUTE
    gtf = mode == "group_then_friend"
    friend_since[gtf] = joined_t[gtf] + rng.gamma(2.0, P.GROUP_THEN_FRIEND_DELAY_DAYS / 2, int(gtf.sum()))
    group, s1a, s1b, s2a, s2b = _group_spells(mode, joined_t, home, stores, groups, rng)

    birthday_doy = rng.integers(0, 365, n)
    referrer = np.full(n, -1, dtype=np.int64)
    ref = np.flatnonzero(channel == JOIN_CHANNELS.index("referral"))
    earlier = np.searchsorted(joined_t, joined_t[ref], side="left")  # members who joined strictly before
    has = earlier > 0
    referrer[ref[has]] = np.floor(rng.random(int(has.sum())) * earlier[has]).astype(np.int64)

    prefix = PHONE_PREFIXES[rng.integers(0, len(PHONE_PREFIXES), n)]
    offset = int(rng.integers(0, PHONE_SUFFIX_SPACE))
    suffix = (PHONE_STRIDE * np.arange(n, dtype=np.int64) + offset) % PHONE_SUFFIX_SPACE
    phone = prefix.astype(np.int64) * PHONE_SUFFIX_SPACE + suffix

    return Population(
        joined_t=joined_t,
        stock=stock,
        channel=channel.astype(np.int8),
        link=link.astype(np.int8),
        home_store=home.astype(np.int64),
        join_store=join_store.astype(np.int64),
        at_join=at_join,
        activated=at_join | later,
        one_off=one_off,
        first_t=first_t,
        price_sensitive=price_sensitive,
        spend=spend,
        cycle=cycle,
        hazard=hazard,
        vip_prob=vip_prob,
        friend_since=friend_since,
        group=group,
        s1a=s1a,
        s1b=s1b,
        s2a=s2a,
        s2b=s2b,
        birthday_doy=birthday_doy,
        referrer=referrer,
        phone=phone,
    )


def _group_spells(mode, joined_t, home, stores: Stores, groups: Groups, rng):
    """The group each group-linked member joins, and up to two spells in it (joining, leaving, re-joining).

    group_only and group_then_friend members join at joining; friend_then_group members some weeks later.
    Leaving is exponential with the group's hazard, which rises with its messaging intensity.
    """
    n = len(mode)
    group = np.full(n, -1, dtype=np.int64)
    s1a, s1b, s2a, s2b = (np.full(n, NEVER) for _ in range(4))
    linked = np.flatnonzero(np.isin(mode, P.GROUP_LINK_MODES))
    if not len(linked):
        return group, s1a, s1b, s2a, s2b
    kinds = list(P.GROUP_CHOICE)
    probs = np.array([P.GROUP_CHOICE[k] for k in kinds])
    choice = rng.choice(len(kinds), size=len(linked), p=probs / probs.sum())
    city = stores.city[home[linked]]
    store_group = np.full(stores.n, -1, dtype=np.int64)
    sg = np.flatnonzero(groups.kind == GROUP_KIND_CODES["store"])
    store_group[groups.store[sg]] = sg
    chosen = store_group[home[linked]]  # default: the home store's group
    u = rng.random(len(linked))
    for k, kind in enumerate(kinds):
        if kind == "store":
            continue
        if kind == "interest":
            pool = [np.flatnonzero(groups.kind == GROUP_KIND_CODES["interest"])] * int(city.max() + 1)
        else:
            pool = groups.of_kind_in_city(kind)
        for c in np.unique(city):
            members = (choice == k) & (city == c)
            options = pool[c] if c < len(pool) else np.array([], dtype=np.int64)
            if members.any() and len(options):
                chosen[members] = options[np.floor(u[members] * len(options)).astype(np.int64)]
    group[linked] = chosen

    start = joined_t[linked] + 2 * MINUTE
    ftg = mode[linked] == "friend_then_group"
    start[ftg] = joined_t[linked][ftg] + rng.gamma(2.0, P.FRIEND_THEN_GROUP_DELAY_DAYS / 2, int(ftg.sum()))
    start = np.maximum(start, groups.created_day[chosen] + 0.5)
    rate = groups.leave_hazard()[chosen]
    s1a[linked] = start
    s1b[linked] = start + rng.exponential(1.0, len(linked)) / rate
    back = rng.random(len(linked)) < P.REJOIN_SHARE
    s2a_l = s1b[linked] + rng.exponential(P.REJOIN_DELAY_DAYS, len(linked))
    s2b_l = s2a_l + rng.exponential(1.0, len(linked)) / rate
    s2a[linked] = np.where(back, s2a_l, NEVER)
    s2b[linked] = np.where(back, s2b_l, NEVER)
    return group, s1a, s1b, s2a, s2b


# Buyers of a VIP card are added to their city's VIP group the day after buying, at this hour.
VIP_GROUP_JOIN_HOUR = 10.0


def group_member_rows(
    pop: Population, vip_day: np.ndarray, groups: Groups, stores: Stores, tl: Timeline, rng
):
    """group_members rows inside the data: the spells that start before the period ends.

    Also adds VIP-group spells: a VIP buyer who is in a group then joins the city's VIP group with
    VIP_GROUP_SHARE and leaves it with the spell that covered the purchase, so membership of *some* group
    (what drives the group effects) does not change. Returns arrays: group, member, joined, left (calendar
    instants; left is inf while still in the group at the end of the period).
    """
    end = tl.days
    g, m, a, b = [], [], [], []
    for s_a, s_b in ((pop.s1a, pop.s1b), (pop.s2a, pop.s2b)):
        rows = np.flatnonzero(s_a < end)
        g.append(pop.group[rows])
        m.append(rows)
        a.append(s_a[rows])
        b.append(np.where(s_b[rows] < end, s_b[rows], NEVER))
    buyers = np.flatnonzero(np.isfinite(vip_day) & (vip_day < end - 1))
    join = vip_day[buyers] + 1 + VIP_GROUP_JOIN_HOUR / 24
    cover_b = np.where(
        (pop.s1a[buyers] <= join) & (join < pop.s1b[buyers]),
        pop.s1b[buyers],
        np.where((pop.s2a[buyers] <= join) & (join < pop.s2b[buyers]), pop.s2b[buyers], np.nan),
    )
    vip_groups = groups.of_kind_in_city("vip")
    first_vip = np.array([v[0] if len(v) else -1 for v in vip_groups])
    city_group = first_vip[stores.city[pop.home_store[buyers]]]
    take = (
        np.isfinite(cover_b)
        & (city_group >= 0)
        & (join < end)
        & (rng.random(len(buyers)) < P.VIP_GROUP_SHARE)
    )
    g.append(city_group[take])
    m.append(buyers[take])
    a.append(join[take])
    b.append(np.where(cover_b[take] < end, cover_b[take], NEVER))
    return {
        "group": np.concatenate(g),
        "member": np.concatenate(m),
        "joined": np.concatenate(a),
        "left": np.concatenate(b),
    }
