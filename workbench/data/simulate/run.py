"""simulate_chain: the whole simulation, from stores to the ground-truth files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.config import Settings
from workbench.data import calendar, derived
from workbench.data.contract import (
    ARMS,
    GROUP_KINDS,
    JOIN_CHANNELS,
    LINK_MODES,
    ORDER_CHANNELS,
    STORE_FORMATS,
    TOUCH_MEDIA,
)
from workbench.data.simulate import params as P
from workbench.data.simulate import truth as T
from workbench.data.simulate.chain import (
    CITY_NAMES,
    CUISINE_NAMES,
    make_groups,
    make_stores,
    store_count,
    stream,
)
from workbench.data.simulate.orders import build_orders, coupon_numbers
from workbench.data.simulate.population import group_member_rows, make_population
from workbench.data.simulate.process import (
    MEDIUM,
    base_visits,
    keys_for,
    organic_visits,
    plan_campaigns,
    run_campaigns,
    touches,
)
from workbench.data.simulate.timeline import Timeline
from workbench.data.simulate.writer import categories, id_sql, ints, money, phone_hashes, timestamps
from workbench.data.simulate.writer import insert as insert_rows
from workbench.data.store import open_for_write, set_meta
from workbench.errors import ParameterError

TRUTH_SUFFIX = ".truth.json"
TRUTH_MEMBERS_SUFFIX = ".truth_members.parquet"
# Calendar kept before the period: the initial stock's year and the brand groups' creation two years back.
PRE_DAYS = 731
GROUP_CREATED_HOUR = 10.0


def truth_path(out) -> Path:
    """Path of the ground-truth JSON written beside the store at ``out`` (<stem>.truth.json)."""
    out = Path(out)
    return out.with_name(out.stem + TRUTH_SUFFIX)


def truth_members_path(out) -> Path:
    """Path of the per-member latent attributes (<stem>.truth_members.parquet)."""
    out = Path(out)
    return out.with_name(out.stem + TRUTH_MEMBERS_SUFFIX)


@dataclass(frozen=True)
class SimulationSummary:
    """What simulate_chain wrote.

    path        the DuckDB store
    rows        rows per contract table
    first_day, last_day   the simulated period (local dates)
    revenue     sum of order amounts (currency)
    member_revenue_share  share 0-1 of revenue from member orders
    campaigns   number of campaigns
    seconds     wall time of the simulation
    """

    path: str
    rows: dict[str, int]
    first_day: dt.date
    last_day: dt.date
    revenue: float
    member_revenue_share: float
    campaigns: int
    seconds: float
    seed: int
    currency: str = "CNY"
    truth: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def stores(self) -> int:
        return self.rows.get("stores", 0)

    @property
    def members(self) -> int:
        return self.rows.get("members", 0)

    @property
    def orders(self) -> int:
        return self.rows.get("orders", 0)

    def format(self) -> str:
        lines = [
            f"Simulated chain: {self.path} (seed {self.seed}, {self.seconds:.1f} s)",
            f"  period     {self.first_day} .. {self.last_day}",
            f"  stores     {self.stores:>12,}",
            f"  members    {self.members:>12,}",
            f"  orders     {self.orders:>12,}",
            f"  revenue    {self.revenue:>15,.2f} {self.currency}   (members {self.member_revenue_share:.0%})",
            f"  campaigns  {self.campaigns:>12,}",
            "  tables: " + ", ".join(f"{k} {v:,}" for k, v in self.rows.items()),
        ]
        return "\n".join(lines)


class _Progress:
    """Stage timings on stderr: wall seconds since the start, and wall / CPU seconds of the stage."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.t0 = self.last = time.perf_counter()
        self.cpu = time.process_time()

    def __call__(self, stage: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if self.enabled:
            print(
                f"  [{now - self.t0:6.1f} s] {stage} (+{now - self.last:.1f} s, cpu {cpu - self.cpu:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        self.last, self.cpu = now, cpu


def simulate_chain(
    out,
    *,
    members: int = 30_000,
    weeks: int = 104,
    seed: int = 7,
    end="2026-11-22",
    settings: Settings | None = None,
    progress: bool = False,
    derive: bool = True,
) -> SimulationSummary:
    """Simulate a restaurant chain's private domain into a new DuckDB store at ``out``, with ground truth.

    ``weeks`` ISO weeks ending on ``end`` (a Sunday; the last day is complete) in the settings' time zone.
    Replaces ``out`` and its truth files. Same arguments, same tables. Returns a SimulationSummary.
    ``derive`` also builds the derived tables weekly runs extend (:mod:`workbench.data.derived`).
    """
    if members < 1:
        raise ParameterError(f"members={members} is not valid; expected a positive number of members.")
    if weeks < 1:
        raise ParameterError(f"weeks={weeks} is not valid; expected at least 1 week of history.")
    settings = settings or Settings()
    end_day = calendar.as_date(end)
    step = _Progress(progress)
    t_start = time.perf_counter()
    out = Path(out)
    for p in (out, out.with_name(out.name + ".wal"), truth_path(out), truth_members_path(out)):
        p.unlink(missing_ok=True)

    tl = Timeline.build(end_day, weeks, settings.timezone, pre=PRE_DAYS, post=P.MONTE_CARLO_EXTRA_DAYS)
    keys = keys_for(tl)
    stores = make_stores(store_count(members), tl, stream(seed, "stores"))
    groups = make_groups(stores, stream(seed, "groups"))
    pop = make_population(
        members, stock_share=P.STOCK_SHARE, stores=stores, groups=groups, tl=tl, rng=stream(seed, "members")
    )
    step("members")
    org = organic_visits(pop, tl, tl.days, stream(seed, "organic"))
    step(f"organic visits ({len(org.member):,})")
    tch = touches(pop, groups, tl, tl.days, stream(seed, "touches"))
    base = base_visits(org, tch, keys, 0, tl.days)
    plans = plan_campaigns(tl, stream(seed, "campaign plan"))
    runs = run_campaigns(plans, pop, base, keys, tl, tl.days, lambda name: stream(seed, name))
    step(f"touches ({len(tch.member):,}) and campaigns ({len(runs)})")
    orders, links = build_orders(
        pop, org.vip_day, stores, base, runs, keys, tl, stream(seed, "orders"), stream(seed, "walk-in")
    )
    step(f"orders ({len(orders.utc):,})")

    salt = hashlib.sha256(f"workbench-simulated-chain-{seed}".encode()).hexdigest()[:32]
    con = open_for_write(out, settings=settings)
    con.execute("SET enable_progress_bar = false")
    try:
        rows = _write_tables(con, tl, stores, groups, pop, org, tch, runs, orders, links, salt, seed, step)
        step("written to DuckDB")
        revenue, member_revenue = con.execute(
            "SELECT CAST(sum(amount) AS DOUBLE), CAST(sum(amount) FILTER (WHERE member_id IS NOT NULL) AS DOUBLE) "
            "FROM orders"
        ).fetchone()
        set_meta(
            con,
            data_through=tl.end.isoformat(),
            simulated_seed=seed,
            simulated_members=members,
            simulated_weeks=weeks,
            simulated_start=tl.start.isoformat(),
            truth_file=truth_path(out).name,
        )
    finally:
        con.close()
    if derive:
        derived.refresh(out)
        step("derived tables")

    mc = T.monte_carlo_returns(seed, stores, groups, tl, keys, plans)
    step("Monte Carlo truth")
    truth = T.build_truth(
        seed=seed,
        settings=settings,
        tl=tl,
        stores=stores,
        groups=groups,
        pop=pop,
        org=org,
        tch=tch,
        base=base,
        runs=runs,
        orders=orders,
        links=links,
        rows=rows,
        monte_carlo=mc,
    )
    truth_path(out).write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    pq.write_table(T.members_table(pop, org, stores, groups, tl, links.vip_utc), truth_members_path(out))
    step("truth files")
    total = revenue or 0.0
    return SimulationSummary(
        path=str(out),
        rows=rows,
        first_day=tl.start,
        last_day=tl.end,
        revenue=float(total),
        member_revenue_share=float(member_revenue or 0.0) / total if total else float("nan"),
        campaigns=len(runs),
        seconds=time.perf_counter() - t_start,
        seed=seed,
        currency=settings.currency,
        truth=truth,
    )


def _write_tables(
    con, tl: Timeline, stores, groups, pop, org, tch, runs, orders, links, salt, seed, step
) -> dict:
    n_m = pop.n
    rows = {}

    # stores
    opened = np.datetime64(tl.start) + stores.opened_day
    data = pa.table(
        {
            "i": ints(np.arange(stores.n)),
            "name": pa.array(stores.names),
            "city": categories(stores.city, CITY_NAMES),
            "region": categories(stores.city, [P.CITIES[c][0] for c in CITY_NAMES]),
            "opened_on": pa.array(opened.astype("datetime64[D]"), type=pa.date32()),
            "format": categories(np.where(stores.direct, 0, 1), STORE_FORMATS),
            "cuisine": categories(stores.cuisine, CUISINE_NAMES),
        }
    )
    sel = {c: f'"{c}"' for c in data.column_names}
    insert_rows(con, "stores", data, {**sel, "store_id": id_sql("i", "store", stores.n)})
    rows["stores"] = stores.n

    # members
    vip_null = links.vip_utc < 0
    data = pa.table(
        {
            "i": ints(np.arange(n_m)),
            "joined_at": timestamps(links.joined_utc),
            "join_channel": categories(pop.channel, JOIN_CHANNELS),
            "join_store": ints(pop.join_store, pop.join_store < 0),
            "link_mode": categories(pop.link, LINK_MODES),
            "vip_since": timestamps(links.vip_utc, vip_null),
            "referrer": ints(pop.referrer, pop.referrer < 0),
            "doy": ints(pop.birthday_doy, type_=pa.int32()),
            "phone_hash": phone_hashes(pop.phone, salt),
        }
    )
    insert_rows(
        con,
        "members",
        data,
        {
            "member_id": id_sql("i", "member", n_m),
            "joined_at": "joined_at",
            "join_channel": "join_channel",
            "join_store_id": id_sql("join_store", "store", stores.n),
            "link_mode": "link_mode",
            "vip_since": "vip_since",
            "referrer_id": id_sql("referrer", "member", n_m),
            "birthday_md": "strftime(DATE '2001-01-01' + doy, '%m-%d')",
            "phone_hash": "phone_hash",
        },
    )
    rows["members"] = n_m
    step("members written")

    # campaigns
    start_utc = tl.to_utc_us(np.array([r.plan.start_day for r in runs]), np.zeros(len(runs)))
    end_utc = tl.to_utc_us(np.array([r.plan.end_day + 1 for r in runs]), np.zeros(len(runs))) - 1_000_000
    data = pa.table(
        {
            "i": ints(np.arange(len(runs))),
            "name": pa.array([r.plan.name for r in runs], type=pa.string()),
            "kind": pa.array([r.plan.kind for r in runs], type=pa.string()),
            "starts_at": timestamps(start_utc),
            "ends_at": timestamps(end_utc),
            "holdout_share": pa.array([r.plan.holdout for r in runs], type=pa.float64()),
            "coupon_value": money(np.array([r.plan.value_cents for r in runs], dtype=np.int64)),
            "outcome_window_days": ints(np.array([r.plan.window for r in runs])),
        }
    )
    sel = {c: f'"{c}"' for c in data.column_names}
    insert_rows(con, "campaigns", data, {**sel, "campaign_id": id_sql("i", "campaign", len(runs))})
    rows["campaigns"] = len(runs)

    # assignments and coupons
    numbers = coupon_numbers(runs)
    n_coupons = len(links.coupon_order)
    none = np.zeros(0, dtype=np.int64)
    camp = np.concatenate([np.full(len(r.member), r.plan.index) for r in runs]) if runs else none
    member = np.concatenate([r.member for r in runs]) if runs else none
    treated = np.concatenate([r.treated for r in runs]) if runs else np.zeros(0, bool)
    assigned = np.concatenate([tl.to_utc_us(r.assign_day, r.assign_hours) for r in runs]) if runs else none
    number = np.concatenate(numbers) if runs else none
    data = pa.table(
        {
            "c": ints(camp),
            "m": ints(member),
            "arm": categories(np.where(treated, 0, 1), ARMS),
            "assigned_at": timestamps(assigned),
        }
    )
    insert_rows(
        con,
        "assignments",
        data,
        {
            "campaign_id": id_sql("c", "campaign", len(runs)),
            "member_id": id_sql("m", "member", n_m),
            "arm": "arm",
            "assigned_at": "assigned_at",
        },
    )
    rows["assignments"] = len(member)
    t = treated.astype(bool)
    coupon_no = number[t].astype(np.int64)
    redeemed = links.coupon_order[coupon_no]
    red_null = redeemed < 0
    data = pa.table(
        {
            "k": ints(coupon_no),
            "c": ints(camp[t]),
            "m": ints(member[t]),
            "issued_at": timestamps(assigned[t]),
            "redeemed_at": timestamps(orders.utc[np.maximum(redeemed, 0)], red_null),
            "o": ints(redeemed, red_null),
            "face_value": money(links.coupon_face[coupon_no]),
        }
    )
    insert_rows(
        con,
        "coupons",
        data,
        {
            "coupon_id": id_sql("k", "coupon", n_coupons),
            "campaign_id": id_sql("c", "campaign", len(runs)),
            "member_id": id_sql("m", "member", n_m),
            "issued_at": "issued_at",
            "redeemed_at": "redeemed_at",
            "order_id": id_sql("o", "order", len(orders.utc)),
            "face_value": "face_value",
        },
    )
    rows["coupons"] = n_coupons
    step("campaigns, assignments, coupons written")

    # orders
    n_o = len(orders.utc)
    no_member = orders.member < 0
    no_coupon = orders.coupon < 0
    data = pa.table(
        {
            "i": ints(np.arange(n_o)),
            "s": ints(orders.store, type_=pa.int32()),
            "ordered_at": timestamps(orders.utc),
            "amount": money(orders.amount),
            "m": ints(orders.member, no_member, pa.int32()),
            "channel": categories(orders.channel, ORDER_CHANNELS),
            "discount": money(orders.discount),
            "k": ints(orders.coupon, no_coupon, pa.int32()),
        }
    )
    del no_member, no_coupon
    insert_rows(
        con,
        "orders",
        data,
        {
            "order_id": id_sql("i", "order", n_o),
            "store_id": id_sql("s", "store", stores.n),
            "ordered_at": "ordered_at",
            "amount": "amount",
            "member_id": id_sql("m", "member", n_m),
            "channel": "channel",
            "discount": "discount",
            "coupon_id": id_sql("k", "coupon", n_coupons),
        },
    )
    del data
    rows["orders"] = n_o
    step("orders written")

    # groups and group members
    created = tl.to_utc_us(groups.created_day, np.full(groups.n, GROUP_CREATED_HOUR))
    data = pa.table(
        {
            "i": ints(np.arange(groups.n)),
            "kind": categories(groups.kind, GROUP_KINDS),
            "s": ints(groups.store, groups.store < 0),
            "created_at": timestamps(created),
        }
    )
    insert_rows(
        con,
        "groups",
        data,
        {
            "group_id": id_sql("i", "group", groups.n),
            "kind": "kind",
            "store_id": id_sql("s", "store", stores.n),
            "created_at": "created_at",
        },
    )
    rows["groups"] = groups.n
    gm = group_member_rows(pop, org.vip_day, groups, stores, tl, stream(seed, "vip groups"))
    data = pa.table(
        {
            "g": ints(gm["group"]),
            "m": ints(gm["member"]),
            "joined_at": timestamps(_instant_utc(tl, gm["joined"])),
            "left_at": timestamps(
                _instant_utc(tl, np.nan_to_num(gm["left"], posinf=0.0)), ~np.isfinite(gm["left"])
            ),
        }
    )
    insert_rows(
        con,
        "group_members",
        data,
        {
            "group_id": id_sql("g", "group", groups.n),
            "member_id": id_sql("m", "member", n_m),
            "joined_at": "joined_at",
            "left_at": "left_at",
        },
    )
    rows["group_members"] = len(gm["member"])
    step("groups written")

    # touches: one-to-one and group messages, then the campaigns' coupon messages; ids in time order
    c_medium = [
        np.where(
            pop.is_friend(r.assign_day[r.treated] + r.assign_hours[r.treated] / 24, r.member[r.treated]),
            MEDIUM["private_chat"],
            MEDIUM["sms"],
        ).astype(np.int8)
        for r in runs
    ]
    sent = np.concatenate([tl.to_utc_us(tch.day, tch.hours)] + [assigned[t]])
    t_member = np.concatenate([tch.member, member[t]])
    t_group = np.concatenate([tch.group, np.full(int(t.sum()), -1)])
    t_medium = np.concatenate([tch.medium] + c_medium)
    t_campaign = np.concatenate([np.full(len(tch.member), -1), camp[t]])
    order = np.argsort(sent, kind="stable")
    data = pa.table(
        {
            "i": ints(np.arange(len(order))),
            "sent_at": timestamps(sent[order]),
            "medium": categories(t_medium[order], TOUCH_MEDIA),
            "m": ints(t_member[order], t_member[order] < 0),
            "g": ints(t_group[order], t_group[order] < 0),
            "c": ints(t_campaign[order], t_campaign[order] < 0),
        }
    )
    insert_rows(
        con,
        "touches",
        data,
        {
            "touch_id": id_sql("i", "touch", len(order)),
            "sent_at": "sent_at",
            "medium": "medium",
            "member_id": id_sql("m", "member", n_m),
            "group_id": id_sql("g", "group", groups.n),
            "campaign_id": id_sql("c", "campaign", len(runs)),
        },
    )
    rows["touches"] = len(order)
    return rows


def _instant_utc(tl: Timeline, t: np.ndarray) -> np.ndarray:
    """Calendar instants (days since day 0, local) -> UTC microseconds."""
    day = np.floor(t).astype(np.int64)
    return tl.to_utc_us(day, (t - day) * 24)


__all__ = ["SimulationSummary", "simulate_chain", "truth_members_path", "truth_path"]
