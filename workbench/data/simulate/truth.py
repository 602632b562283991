"""Ground truth: every planted effect as plain JSON, and one row of latent attributes per member.

The Monte Carlo part re-runs the generating process on an independent population of new members (its own
random streams, nothing read from the written tables) and follows each member far past the end of the
period, so its shares returning within 7 .. 90 days are what a Kaplan-Meier curve on the data estimates
when calendar censoring is handled correctly.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from workbench.data.contract import GROUP_KINDS, JOIN_CHANNELS, LINK_MODES, TOUCH_MEDIA
from workbench.data.simulate import params as P
from workbench.data.simulate.chain import CITY_NAMES, CUISINE_NAMES, GROUP_KIND_CODES, Groups, Stores, stream
from workbench.data.simulate.population import Population, make_population
from workbench.data.simulate.process import (
    MEDIUM,
    BaseVisits,
    CampaignPlan,
    CampaignRun,
    Keys,
    Organic,
    Touches,
    base_visits,
    organic_visits,
    run_campaigns,
    touches,
)
from workbench.data.simulate.timeline import Timeline
from workbench.data.simulate.writer import format_id

TRUTH_VERSION = 1
# Top-level keys of the truth JSON (documented in workbench.data.simulate).
TRUTH_KEYS = (
    "version",
    "seed",
    "timezone",
    "period",
    "counts",
    "stores",
    "members",
    "segments",
    "repurchase",
    "churn",
    "vip",
    "groups",
    "touches",
    "seasonality",
    "orders",
    "campaigns",
)
MONTE_CARLO_SEED_OFFSET = 1_000_003  # the Monte Carlo's streams are keyed apart from the data's


def _r(x, digits: int = 6):
    """A JSON-safe rounded float (None for nan / inf)."""
    x = float(x)
    return round(x, digits) if np.isfinite(x) else None


# -- Monte Carlo: time to second visit ------------------------------------------------------------------


def monte_carlo_returns(
    seed: int, stores: Stores, groups: Groups, tl: Timeline, keys: Keys, plans: list[CampaignPlan]
) -> dict:
    """Time from the first to the second visit (local days) of new members, uncensored.

    The same generating process (organic visits, touches, group messages, the same campaigns) on
    MONTE_CARLO_MEMBERS members who all join inside the period, followed MONTE_CARLO_EXTRA_DAYS past its
    end. Population: members whose first visit (any kind) falls inside the period. Each member's organic
    process stops after two visits: later events cannot move the second visit (campaign eligibility only
    looks back), so the result is the same as from full histories, at a fraction of the cost.
    """
    mc_seed = seed + MONTE_CARLO_SEED_OFFSET
    horizon = tl.days + tl.post
    pop = make_population(
        P.MONTE_CARLO_MEMBERS,
        stock_share=0.0,
        stores=stores,
        groups=groups,
        tl=tl,
        rng=stream(mc_seed, "members"),
    )
    # Nothing after a member's second visit can change the time to it, so two organic visits suffice.
    org = organic_visits(pop, tl, horizon, stream(mc_seed, "organic"), max_visits=2)
    tch = touches(pop, groups, tl, horizon, stream(mc_seed, "touches"), keep_rows=False)
    base = base_visits(org, tch, keys, 0, horizon)
    runs = run_campaigns(plans, pop, base, keys, tl, horizon, lambda name: stream(mc_seed, name))
    caused = [keys.make(r.member[r.caused], r.caused_day[r.caused]) for r in runs]
    all_keys = np.unique(np.concatenate([base.key, *caused]))
    member, day = keys.member(all_keys), keys.day(all_keys)
    starts = np.flatnonzero(np.r_[True, member[1:] != member[:-1]])
    first_member, first_day = member[starts], day[starts]
    nxt = np.minimum(starts + 1, len(all_keys) - 1)
    has_second = (starts + 1 < len(all_keys)) & (member[nxt] == first_member)
    gap = np.where(has_second, day[nxt] - first_day, np.inf)
    inside = (first_day >= 0) & (first_day < tl.days)
    first_member, gap = first_member[inside], gap[inside]

    def summary(mask: np.ndarray) -> dict:
        g = np.sort(gap[mask])
        n = len(g)
        out = {"first_time_visitors": n}
        out["returned_within_days"] = {
            str(d): _r((g <= d).mean()) if n else None for d in P.RETURN_WITHIN_DAYS
        }
        median = g[int(np.ceil(n / 2)) - 1] if n else np.inf
        out["median_days_to_second_visit"] = int(median) if np.isfinite(median) else None
        return out

    result = {
        "members_simulated": P.MONTE_CARLO_MEMBERS,
        "follow_up_days_after_period": tl.post,
        "population": "members whose first visit falls inside the period (new members joining in it)",
        "all": summary(np.ones(len(gap), dtype=bool)),
        "by_join_channel": {c: summary(pop.channel[first_member] == i) for i, c in enumerate(JOIN_CHANNELS)},
        "by_link_mode": {m: summary(pop.link[first_member] == i) for i, m in enumerate(LINK_MODES)},
    }
    return result


# -- the truth file -------------------------------------------------------------------------------------


def _segment_stats(mask_by_value: dict[str, np.ndarray], pop: Population, extra=None) -> dict:
    out = {}
    for value, mask in mask_by_value.items():
        c = pop.cycle[mask]
        row = {
            "members": int(mask.sum()),
            "mean_cycle_days": _r(c.mean(), 3) if len(c) else None,
            "median_cycle_days": _r(np.median(c), 3) if len(c) else None,
            "mean_visit_rate_per_day": _r((1 / c).mean(), 5) if len(c) else None,
            "mean_baseline_dropout_hazard_per_day": _r(pop.hazard[mask].mean(), 6) if len(c) else None,
        }
        if extra:
            row.update(extra.get(value, {}))
        out[value] = row
    return out


def _campaign_truth(run: CampaignRun, links, pop: Population, tl: Timeline, numbers: np.ndarray) -> dict:
    plan = run.plan
    treated = run.treated
    ps = pop.price_sensitive[run.member]
    out = {
        "campaign_id": format_id("campaign", plan.index, 0),
        "name": plan.name,
        "kind": plan.kind,
        "eligibility": plan.eligible,
        "randomised": plan.holdout > 0,
        "holdout_share": plan.holdout,
        "coupon_value": plan.value_cents / 100,
        "outcome_window_days": plan.window,
        "starts_on": tl.date_of(plan.start_day).isoformat(),
        "assigned": {"treatment": int(treated.sum()), "control": int((~treated).sum())},
        "redemption_prob_on_visit_anyway": {
            "price_sensitive": plan.q_ps,
            "not_price_sensitive": plan.q_other,
        },
    }
    if plan.kind == "birthday":
        out["birthday_month"] = plan.birthday_month
    segments = {}
    for label, mask in (
        ("price_sensitive", ps),
        ("not_price_sensitive", ~ps),
        ("all", np.ones(len(ps), bool)),
    ):
        t = treated & mask
        n_t = int(t.sum())
        nums = numbers[t]
        red = links.coupon_order[nums] >= 0
        caused_red = links.coupon_caused[nums] & red
        p = np.where(ps[t], plan.p_ps, plan.p_other)
        cost = int((links.coupon_face[nums] * red).sum())

        def per(x, n_t=n_t):
            return _r(x / n_t, 6) if n_t else None

        segments[label] = {
            "treated": n_t,
            "control": int((~treated & mask).sum()),
            "extra_visit_prob": _r(p.mean(), 6) if n_t else None,
            "expected_incremental_visits_per_treated": _r(p.mean(), 6) if n_t else None,
            "realised_caused_visits_per_treated": per(run.caused[t].sum()),
            "realised_incremental_visit_days_per_treated": per(run.new_day[t].sum()),
            "incremental_revenue_per_treated": per(links.coupon_effect[nums].sum() / 100),
            "coupon_cost_per_treated": per(cost / 100),
            "coupon_cost": _r(cost / 100, 2),
            "redemptions": int(red.sum()),
            "redemptions_on_caused_visits": int(caused_red.sum()),
            "non_incremental_redemption_share": _r((red & ~caused_red).sum() / red.sum(), 6)
            if red.any()
            else None,
        }
    out["segments"] = segments
    return out


def build_truth(
    *,
    seed: int,
    settings,
    tl: Timeline,
    stores: Stores,
    groups: Groups,
    pop: Population,
    org: Organic,
    tch: Touches,
    base: BaseVisits,
    runs: list[CampaignRun],
    orders,
    links,
    rows: dict,
    monte_carlo: dict,
) -> dict:
    from workbench.data.simulate.orders import coupon_numbers

    end = tl.days
    vip = links.vip_utc >= 0
    in_group = pop.s1a < end
    numbers = coupon_numbers(runs)

    members_truth = {
        "stock_share": P.STOCK_SHARE,
        "stock_joined_within_days_before_start": P.STOCK_YEARS_BACK_DAYS,
        "join_growth_over_period": P.JOIN_GROWTH_OVER_PERIOD,
        "join_channel_share": {c: _r((pop.channel == i).mean(), 4) for i, c in enumerate(JOIN_CHANNELS)},
        "link_mode_share": {m: _r((pop.link == i).mean(), 4) for i, m in enumerate(LINK_MODES)},
        "activation": {
            c: {"first_order_at_join": a[0], "later_order_share_of_rest": a[1], "mean_delay_days": a[2]}
            for c, a in P.ACTIVATION.items()
        },
        "activated_share": _r(pop.activated.mean(), 4),
        "price_sensitive_share": _r(pop.price_sensitive.mean(), 4),
        "price_sensitive_spend_factor": P.PRICE_SENSITIVE_SPEND_FACTOR,
        "spend_sigma": P.SPEND_SIGMA,
    }

    link_hr = {m: P.DROPOUT_HR_LINK_MODE[m] for m in LINK_MODES}
    chan_hr = {c: P.DROPOUT_HR_JOIN_CHANNEL[c] for c in JOIN_CHANNELS}
    segments = {
        "join_channel": _segment_stats(
            {c: pop.channel == i for i, c in enumerate(JOIN_CHANNELS)},
            pop,
            {
                c: {"base_cycle_days": P.BASE_CYCLE_DAYS[c], "dropout_hazard_ratio": chan_hr[c]}
                for c in JOIN_CHANNELS
            },
        ),
        "link_mode": _segment_stats(
            {m: pop.link == i for i, m in enumerate(LINK_MODES)},
            pop,
            {m: {"dropout_hazard_ratio": link_hr[m]} for m in LINK_MODES},
        ),
        "vip": _segment_stats(
            {"true": vip, "false": ~vip},
            pop,
            {
                "true": {
                    "cycle_multiplier_after_purchase": _r(1 / P.VIP_RATE_MULTIPLIER, 6),
                    "dropout_hazard_ratio": P.DROPOUT_HR_VIP,
                },
                "false": {"cycle_multiplier_after_purchase": 1.0, "dropout_hazard_ratio": 1.0},
            },
        ),
        "in_group": _segment_stats(
            {"true": in_group, "false": ~in_group},
            pop,
            {
                "true": {
                    "cycle_multiplier_while_in_group": P.GROUP_CYCLE_FACTOR,
                    "dropout_hazard_ratio": P.DROPOUT_HR_IN_GROUP,
                },
                "false": {"cycle_multiplier_while_in_group": 1.0, "dropout_hazard_ratio": 1.0},
            },
        ),
        "price_sensitive": _segment_stats({"true": pop.price_sensitive, "false": ~pop.price_sensitive}, pop),
    }

    mc_all = monte_carlo["all"]
    repurchase = {
        "interval_distribution": "gamma",
        "interval_shape": P.INTERVAL_SHAPE,
        "base_cycle_days_by_join_channel": dict(P.BASE_CYCLE_DAYS),
        "cuisine_cycle_factor": {c: v[1] for c, v in P.CUISINES.items()},
        "cycle_heterogeneity_sigma": P.CYCLE_HETEROGENEITY_SIGMA,
        "group_cycle_factor": P.GROUP_CYCLE_FACTOR,
        "vip_rate_multiplier": P.VIP_RATE_MULTIPLIER,
        "mean_cycle_days": {
            k: {v: s["mean_cycle_days"] for v, s in seg.items()} for k, seg in segments.items()
        },
        "time_to_second_visit": monte_carlo,
        "second_visit_within_90_days_share": mc_all["returned_within_days"]["90"],
    }

    dropped = np.isfinite(org.dropout_t)
    churn = {
        "lifetime_distribution": "exponential from the first visit; hazard held between visits",
        "base_hazard_per_day": _r(P.BASE_DROPOUT_HAZARD, 8),
        "reference": {"join_channel": "store_qr", "link_mode": "none", "in_group": False, "vip": False},
        "hazard_ratio": {
            "in_group": P.DROPOUT_HR_IN_GROUP,
            "vip": P.DROPOUT_HR_VIP,
            "link_mode": link_hr,
            "join_channel": chan_hr,
        },
        "hazard_ratio_note": (
            "multiplicative: hazard = base x join_channel x link_mode x (in_group while in a group) x "
            "(vip after buying); link_mode ratios hold group membership fixed"
        ),
        "one_off_share_by_join_channel": dict(P.ONE_OFF_SHARE),
        "one_off_note": "share of activated members who drop out at their first visit (trial customers)",
        "one_off_realised_share_of_activated": _r(pop.one_off.sum() / max(pop.activated.sum(), 1), 4),
        "dropped_by_end_share_of_activated": _r(dropped.sum() / max(pop.activated.sum(), 1), 4),
    }

    vip_truth = {
        "target_share": P.VIP_TARGET_SHARE,
        "realised_share": _r(vip.mean(), 5),
        "members": int(vip.sum()),
        "rate_multiplier": P.VIP_RATE_MULTIPLIER,
        "dropout_hazard_ratio": P.DROPOUT_HR_VIP,
        "selection": {
            "purchase_prob_per_visit": P.VIP_BUY_PROB,
            "reference_cycle_days": P.VIP_REFERENCE_CYCLE_DAYS,
            "elasticity": P.VIP_SELECTION_ELASTICITY,
            "cap": P.VIP_BUY_PROB_CAP,
            "formula": "p = min(cap, purchase_prob_per_visit * (reference_cycle_days / cycle) ** elasticity)",
            "mean_cycle_days_vip": segments["vip"]["true"]["mean_cycle_days"],
            "mean_cycle_days_non_vip": segments["vip"]["false"]["mean_cycle_days"],
        },
    }

    kinds = {k: int((groups.kind == GROUP_KIND_CODES[k]).sum()) for k in GROUP_KINDS}
    groups_truth = {
        "groups_by_kind": kinds,
        "intensity": {
            "unit": "messages per member per day",
            "median": P.GROUP_INTENSITY_MEDIAN,
            "sigma": P.GROUP_INTENSITY_SIGMA,
            "range": list(P.GROUP_INTENSITY_RANGE),
            "realised_mean": _r(groups.intensity.mean(), 4),
        },
        "leave_hazard_per_day": {
            "intercept": P.GROUP_LEAVE_INTERCEPT,
            "slope_per_message_per_member_day": P.GROUP_LEAVE_SLOPE,
            "formula": "hazard = intercept + slope * intensity",
        },
        "cycle_factor": P.GROUP_CYCLE_FACTOR,
        "dropout_hazard_ratio": P.DROPOUT_HR_IN_GROUP,
        "friend_then_group_delay_days_mean": P.FRIEND_THEN_GROUP_DELAY_DAYS,
        "rejoin_share": P.REJOIN_SHARE,
        "choice": dict(P.GROUP_CHOICE),
        "members_in_a_group_during_period": int(in_group.sum()),
    }

    in_period = (tch.caused_day >= 0) & (tch.caused_day < end)
    touch_rows = {m: int((tch.medium == MEDIUM[m]).sum()) for m in TOUCH_MEDIA}
    touches_truth = {
        "response_within_7_days": dict(P.TOUCH_RESPONSE),
        "response_days": f"1..{P.TOUCH_RESPONSE_DAYS} after the touch",
        "mean_days_between_touches": dict(P.TOUCH_EVERY_DAYS),
        "campaign_touches_have_no_own_response": True,
        "rows_without_campaign_by_medium": touch_rows,
        "caused_visits_by_medium": {
            m: int(((tch.caused_medium == MEDIUM[m]) & in_period).sum()) for m in TOUCH_MEDIA
        },
        "caused_visit_days_by_medium": {m: int((base.medium == MEDIUM[m]).sum()) for m in TOUCH_MEDIA},
        "induced_visits_continue_after_dropout": True,
    }

    festivals = tl.festivals_in_period()
    seasonality = {
        "weekend_multiplier": P.WEEKEND_MULTIPLIER,
        "weekday_level": _r(7 / (5 + 2 * P.WEEKEND_MULTIPLIER), 6),
        "spring_festival": {
            "holiday_week_multiplier": P.SPRING_FESTIVAL_WEEK_MULTIPLIER,
            "week_before_multiplier": P.SPRING_FESTIVAL_WEEK_BEFORE_MULTIPLIER,
            "in_period": [
                {
                    "new_year_day": sf.isoformat(),
                    "holiday_week": [
                        (sf - dt.timedelta(days=1)).isoformat(),
                        (sf + dt.timedelta(days=5)).isoformat(),
                    ],
                    "week_before": [
                        (sf - dt.timedelta(days=8)).isoformat(),
                        (sf - dt.timedelta(days=2)).isoformat(),
                    ],
                }
                for sf in festivals
            ],
        },
        "lunch_window": list(P.LUNCH_WINDOW),
        "dinner_window": list(P.DINNER_WINDOW),
        "meal_share_by_cuisine": {c: list(v) for c, v in P.MEAL_SHARE.items()},
    }

    member_orders = orders.member >= 0
    orders_truth = {
        "same_day_double_order_share": P.SAME_DAY_DOUBLE_SHARE,
        "home_store_share": P.HOME_STORE_SHARE,
        "mean_ticket_by_cuisine": {c: v[0] for c, v in P.CUISINES.items()},
        "ticket_sigma": P.TICKET_SIGMA,
        "channel_ticket_factor": dict(P.CHANNEL_TICKET_FACTOR),
        "non_member_to_member_orders": P.NON_MEMBER_TO_MEMBER_ORDERS,
        "member_orders": int(member_orders.sum()),
        "non_member_orders": int((~member_orders).sum()),
        "coupon_min_spend_multiple": P.COUPON_MIN_SPEND_MULTIPLE,
    }

    return {
        "version": TRUTH_VERSION,
        "seed": seed,
        "timezone": settings.timezone,
        "period": {
            "start": tl.start.isoformat(),
            "end": tl.end.isoformat(),
            "days": tl.days,
            "weeks": tl.days // 7,
        },
        "counts": dict(rows),
        "stores": {
            "stores": stores.n,
            "cities": sorted({CITY_NAMES[c] for c in stores.city.tolist()}),
            "opened_in_period": [
                format_id("store", int(s), stores.n) for s in np.flatnonzero(stores.opened_day >= 0)
            ],
            "cuisines": {c: {"mean_ticket": v[0], "cycle_factor": v[1]} for c, v in P.CUISINES.items()},
        },
        "members": members_truth,
        "segments": segments,
        "repurchase": repurchase,
        "churn": churn,
        "vip": vip_truth,
        "groups": groups_truth,
        "touches": touches_truth,
        "seasonality": seasonality,
        "orders": orders_truth,
        "campaigns": [_campaign_truth(r, links, pop, tl, n) for r, n in zip(runs, numbers, strict=True)],
    }


def members_table(
    pop: Population, org: Organic, stores: Stores, groups: Groups, tl: Timeline, vip_utc: np.ndarray
) -> pa.Table:
    """One row per member with the latent attributes the data was generated from."""
    n = pop.n
    ids = [format_id("member", i, n) for i in range(n)]
    home = [format_id("store", i, stores.n) for i in range(stores.n)]
    drop = org.dropout_t
    drop_null = ~np.isfinite(drop)
    d = np.floor(np.nan_to_num(drop)).astype(np.int64)
    drop_utc = tl.to_utc_us(d, (np.nan_to_num(drop) - d) * 24)
    first = pop.first_t
    f_null = ~np.isfinite(first)
    fd = np.floor(np.nan_to_num(first)).astype(np.int64)
    first_utc = tl.to_utc_us(fd, (np.nan_to_num(first) - fd) * 24)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "member_id": pa.array(ids),
            "join_channel": pa.array(np.array(JOIN_CHANNELS)[pop.channel]),
            "link_mode": pa.array(np.array(LINK_MODES)[pop.link]),
            "home_store_id": pa.array(np.array(home)[pop.home_store]),
            "city": pa.array(np.array(CITY_NAMES)[stores.city[pop.home_store]]),
            "cuisine": pa.array(np.array(CUISINE_NAMES)[stores.cuisine[pop.home_store]]),
            "joined_before_period": pa.array(pop.stock),
            "activated": pa.array(pop.activated),
            "one_off": pa.array(pop.one_off),
            "first_visit_at": pa.array(first_utc, type=ts, mask=f_null),
            "price_sensitive": pa.array(pop.price_sensitive),
            "spend_factor": pa.array(pop.spend),
            "mean_cycle_days": pa.array(pop.cycle),
            "visit_rate_per_day": pa.array(1 / pop.cycle),
            "dropout_hazard_per_day": pa.array(pop.hazard),
            "dropout_at": pa.array(drop_utc, type=ts, mask=drop_null),
            "vip": pa.array(vip_utc >= 0),
            "vip_buy_prob_per_visit": pa.array(pop.vip_prob),
            "in_group": pa.array(pop.s1a < tl.days),
            "group_id": pa.array(
                [format_id("group", int(g), groups.n) if g >= 0 else None for g in pop.group.tolist()],
                type=pa.string(),
            ),
        }
    )
