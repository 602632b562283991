"""Order lines: member visits become tickets at a store, coupons are applied, walk-in trade is added.

Each visit-day gives one order (a second one the same day with SAME_DAY_DOUBLE_SHARE), at the member's
home store or, otherwise, another store of the same city that is open. Each caused campaign visit is an
order of its own that redeems the coupon. Tickets = cuisine mean x member spend factor x channel factor x
lognormal noise, rounded to 0.10 CNY; a coupon order is topped up to the coupon's minimum spend and pays
ticket - face value. Non-member orders are Poisson per store and day with the same seasonality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.data.contract import JOIN_CHANNELS, ORDER_CHANNELS
from workbench.data.simulate import params as P
from workbench.data.simulate.chain import CUISINE_NAMES, Stores
from workbench.data.simulate.population import Population, meal_shares
from workbench.data.simulate.process import BaseVisits, CampaignRun, Keys
from workbench.data.simulate.timeline import Timeline, categorical_rows, meal_hours

# A second order the same day comes this many hours after the first, no later than LAST_ORDER_HOUR.
SECOND_ORDER_AFTER_HOURS = (0.5, 5.0)
LAST_ORDER_HOUR = 23.9
VIP_AFTER_ORDER_MINUTES = (1, 5)  # a VIP card is bought at the till, minutes after the order
VIP_HOURS_WITHOUT_ORDER = (11.0, 21.0)
# The order placed while joining goes through the channel of the join: a table QR code is a dine-in order.
JOINING_ORDER_CHANNEL = {"store_qr": "dine_in", "mini_program": "mini_program"}


@dataclass
class Orders:
    """All orders, sorted by time; position + 1 is the order number.

    member / coupon are -1 where null; money in cents.
    """

    utc: np.ndarray
    store: np.ndarray
    member: np.ndarray
    channel: np.ndarray
    ticket: np.ndarray
    discount: np.ndarray
    amount: np.ndarray
    coupon: np.ndarray


@dataclass
class OrderLinks:
    """Where things landed: the order of each coupon's redemption, and derived member instants.

    coupon_order    per coupon number: order position (-1: not redeemed)
    coupon_effect   per coupon number: revenue with the coupon minus revenue without it (cents)
    coupon_caused   per coupon number: redeemed on a visit the coupon caused
    coupon_face     per coupon number: face value (cents)
    joined_utc      members.joined_at in UTC microseconds
    vip_utc         members.vip_since in UTC microseconds (-1: not VIP)
    member_orders   number of member orders (before walk-in trade)
    """

    coupon_order: np.ndarray
    coupon_effect: np.ndarray
    coupon_caused: np.ndarray
    coupon_face: np.ndarray
    joined_utc: np.ndarray
    vip_utc: np.ndarray
    member_orders: int


def coupon_numbers(runs: list[CampaignRun]) -> list[np.ndarray]:
    """Coupon number (0-based, over all campaigns) of each eligible member of each run (-1: control)."""
    out, offset = [], 0
    for run in runs:
        num = np.full(len(run.member), -1, dtype=np.int64)
        t = np.flatnonzero(run.treated)
        num[t] = offset + np.arange(len(t))
        offset += len(t)
        out.append(num)
    return out


class _CityStores:
    """Draw a store of a given city in proportion to popularity."""

    def __init__(self, stores: Stores):
        self.order = np.argsort(stores.city, kind="stable")
        city = stores.city[self.order]
        pop = stores.popularity[self.order]
        cum = np.zeros(len(pop))
        for c in np.unique(city):
            seg = city == c
            cum[seg] = np.cumsum(pop[seg]) / pop[seg].sum()
        self.table = city + cum

    def draw(self, city: np.ndarray, u: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(self.table, city + u, side="right"), len(self.table) - 1)
        return self.order[pos]


def _channel(rng, cuisine: np.ndarray, takeout_heavy: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Order channel codes: the cuisine's mix, or (where ``takeout_heavy``) that mix blended with the
    takeout-heavy mix by ``weight``."""
    mix = np.array([P.ORDER_CHANNEL_MIX[c] for c in CUISINE_NAMES])
    heavy = mix * (1 - weight) + np.array(P.TAKEOUT_HEAVY_MIX)[None, :] * weight
    table = np.concatenate([mix, heavy])  # rows: cuisine, then takeout-heavy cuisine
    row = cuisine + len(CUISINE_NAMES) * np.asarray(takeout_heavy, dtype=np.int64)
    return categorical_rows(rng, table, row).astype(np.int8)


def _tickets(rng, stores: Stores, store: np.ndarray, spend: np.ndarray, channel: np.ndarray) -> np.ndarray:
    s = P.TICKET_SIGMA
    factor = np.array([P.CHANNEL_TICKET_FACTOR[c] for c in ORDER_CHANNELS])[channel]
    raw = stores.mean_ticket_cents()[store] * spend * factor * rng.lognormal(-s * s / 2, s, len(store))
    cents = np.round(raw / P.TICKET_ROUND_CENTS).astype(np.int64) * P.TICKET_ROUND_CENTS
    return np.maximum(cents, P.MIN_TICKET_CENTS)


def build_orders(
    pop: Population,
    vip_day: np.ndarray,
    stores: Stores,
    base: BaseVisits,
    runs: list[CampaignRun],
    keys: Keys,
    tl: Timeline,
    rng: np.random.Generator,
    rng_walk_in: np.random.Generator,
) -> tuple[Orders, OrderLinks]:
    numbers = coupon_numbers(runs)
    n_coupons = sum(int(r.treated.sum()) for r in runs)
    face = np.zeros(n_coupons, dtype=np.int64)
    for run, num in zip(runs, numbers, strict=True):
        face[num[num >= 0]] = run.plan.value_cents

    # Visit rows: base visit-days, then caused campaign visits.
    b_member = keys.member(base.key)
    b_day = keys.day(base.key)
    c_member = np.concatenate([r.member[r.caused] for r in runs]) if runs else np.zeros(0, np.int64)
    c_day = np.concatenate([r.caused_day[r.caused] for r in runs]) if runs else np.zeros(0, np.int64)
    c_coupon = np.concatenate([n[r.caused] for r, n in zip(runs, numbers, strict=True)]) if runs else c_day
    member = np.concatenate([b_member, c_member]).astype(np.int64)
    day = np.concatenate([b_day, c_day]).astype(np.int64)
    n_base, n_visits = len(b_member), len(member)

    # The order placed when joining (scanning the store's QR code, or in the mini-program) is at the join
    # store, at the instant drawn with the join.
    at_join_first = np.zeros(n_visits, dtype=bool)
    at_join_first[:n_base] = base.first & pop.at_join[b_member]
    home = pop.home_store[member]
    elsewhere = (rng.random(n_visits) >= P.HOME_STORE_SHARE) & ~at_join_first
    other = _CityStores(stores).draw(stores.city[home], rng.random(n_visits))
    store = np.where(elsewhere & (stores.opened_day[other] <= day), other, home)
    cuisine = stores.cuisine[store]
    hours = meal_hours(rng, cuisine, shares=meal_shares())
    m = member[at_join_first]
    hours[at_join_first] = (pop.first_t[m] - np.floor(pop.first_t[m])) * 24

    # Same-day second orders.
    double = np.flatnonzero(rng.random(n_base) < P.SAME_DAY_DOUBLE_SHARE)
    o_visit = np.concatenate([np.arange(n_visits), double])
    o_hours = np.concatenate(
        [
            hours,
            np.minimum(hours[double] + rng.uniform(*SECOND_ORDER_AFTER_HOURS, len(double)), LAST_ORDER_HOUR),
        ]
    )
    o_member, o_store, o_day = member[o_visit], store[o_visit], day[o_visit]
    takeout_card = pop.channel[o_member] == JOIN_CHANNELS.index("takeout_card")
    channel = _channel(rng, stores.cuisine[o_store], takeout_card)
    joining_order = np.zeros(len(o_visit), dtype=bool)
    joining_order[:n_visits] = at_join_first
    for join_channel, order_channel in JOINING_ORDER_CHANNEL.items():
        hit = joining_order & (pop.channel[o_member] == JOIN_CHANNELS.index(join_channel))
        channel[hit] = ORDER_CHANNELS.index(order_channel)
    ticket = _tickets(rng, stores, o_store, pop.spend[o_member], channel)

    # Coupons: caused visits redeem on their own order; others on the first order of a base visit-day.
    coupon = np.full(len(o_visit), -1, dtype=np.int64)
    coupon[n_base:n_visits] = c_coupon
    for run, num in zip(runs, numbers, strict=True):
        r = run.redeemed_key >= 0
        coupon[np.searchsorted(base.key, run.redeemed_key[r])] = num[r]
    has = coupon >= 0
    before = ticket.copy()
    min_spend = np.round(face[coupon[has]] * P.COUPON_MIN_SPEND_MULTIPLE).astype(np.int64)
    ticket[has] = np.maximum(ticket[has], min_spend)
    discount = np.zeros(len(o_visit), dtype=np.int64)
    discount[has] = face[coupon[has]]
    amount = ticket - discount

    # Each coupon's effect on revenue against no coupon (exact): a caused order's whole amount, or the change
    # in amount of the order that would have happened anyway (top-up to the minimum spend less the discount).
    is_caused = np.zeros(len(o_visit), dtype=bool)
    is_caused[n_base:n_visits] = True
    coupon_effect = np.zeros(n_coupons, dtype=np.int64)
    coupon_caused = np.zeros(n_coupons, dtype=bool)
    coupon_effect[coupon[has]] = np.where(is_caused[has], amount[has], amount[has] - before[has])
    coupon_caused[coupon[has]] = is_caused[has]

    utc = tl.to_utc_us(o_day, o_hours)

    # Member instants: joined_at and vip_since.
    joined_day = np.floor(pop.joined_t).astype(np.int64)
    joined_utc = tl.to_utc_us(joined_day, (pop.joined_t - joined_day) * 24)

    # Walk-in (non-member) trade.
    w = _walk_in(stores, tl, rng_walk_in, member_orders=len(o_visit))
    n_member_orders = len(o_visit)
    all_utc = np.concatenate([utc, w.utc])
    order = np.argsort(all_utc, kind="stable")
    orders = Orders(
        utc=all_utc[order],
        store=np.concatenate([o_store, w.store])[order].astype(np.int32),
        member=np.concatenate([o_member, w.member])[order].astype(np.int32),
        channel=np.concatenate([channel, w.channel])[order],
        ticket=np.concatenate([ticket, w.ticket])[order],
        discount=np.concatenate([discount, w.discount])[order],
        amount=np.concatenate([amount, w.amount])[order],
        coupon=np.concatenate([coupon, w.coupon])[order].astype(np.int32),
    )
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    coupon_order = np.full(n_coupons, -1, dtype=np.int64)
    coupon_order[coupon[has]] = position[:n_member_orders][has]

    vip_utc = _vip_instants(vip_day, base, keys, tl, utc[:n_base], rng)
    # a card bought on the joining day before the period comes after the joining instant
    vip_utc = np.where(
        vip_utc >= 0, np.maximum(vip_utc, joined_utc + VIP_AFTER_ORDER_MINUTES[1] * 60_000_000), -1
    )
    links = OrderLinks(coupon_order, coupon_effect, coupon_caused, face, joined_utc, vip_utc, n_member_orders)
    return orders, links


def _vip_instants(
    vip_day, base: BaseVisits, keys: Keys, tl: Timeline, base_utc: np.ndarray, rng
) -> np.ndarray:
    """vip_since: minutes after the first order of the purchase visit; before the period, a random hour."""
    out = np.full(len(vip_day), -1, dtype=np.int64)
    vip = np.flatnonzero(np.isfinite(vip_day) & (vip_day < tl.days))
    day = vip_day[vip].astype(np.int64)
    inside = day >= 0
    pos = np.searchsorted(base.key, keys.make(vip[inside], day[inside]))
    lo, hi = VIP_AFTER_ORDER_MINUTES
    out[vip[inside]] = base_utc[pos] + (rng.uniform(lo, hi, len(pos)) * 60_000_000).astype(np.int64)
    out[vip[~inside]] = tl.to_utc_us(
        day[~inside], rng.uniform(*VIP_HOURS_WITHOUT_ORDER, int((~inside).sum()))
    )
    return out


@dataclass
class _WalkIn:
    utc: np.ndarray
    store: np.ndarray
    member: np.ndarray
    channel: np.ndarray
    ticket: np.ndarray
    discount: np.ndarray
    amount: np.ndarray
    coupon: np.ndarray


def _walk_in(stores: Stores, tl: Timeline, rng, *, member_orders: int) -> _WalkIn:
    days = np.arange(tl.days)
    open_ = stores.opened_day[:, None] <= days[None, :]
    weight = stores.popularity[:, None] * tl.day_multiplier(days)[None, :] * open_
    rate = P.NON_MEMBER_TO_MEMBER_ORDERS * member_orders / weight.sum()
    counts = rng.poisson(rate * weight).ravel()
    cell = np.repeat(np.arange(len(counts)), counts)
    store, day = cell // tl.days, cell % tl.days
    cuisine = stores.cuisine[store]
    hours = meal_hours(rng, cuisine, shares=meal_shares())
    channel = _channel(rng, cuisine, np.ones(len(cuisine), dtype=bool), P.NON_MEMBER_TAKEOUT_BLEND)
    ticket = _tickets(rng, stores, store, np.ones(len(store)), channel)
    n = len(store)
    return _WalkIn(
        utc=tl.to_utc_us(day, hours),
        store=store,
        member=np.full(n, -1, dtype=np.int64),
        channel=channel,
        ticket=ticket,
        discount=np.zeros(n, dtype=np.int64),
        amount=ticket,
        coupon=np.full(n, -1, dtype=np.int64),
    )
