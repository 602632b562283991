"""The simulated chain: a realistic private domain (私域) with known, planted effects.

    from workbench.data.simulate import simulate_chain, truth_path
    summary = simulate_chain("data/demo.duckdb", members=30_000, weeks=104, seed=7)
    print(summary.format())

``simulate_chain`` writes every contract table into a new DuckDB store (``data_through`` = the last day,
``simulated_seed`` and friends in ``_meta``) and, beside it, the ground truth:

- ``<stem>.truth.json``: every planted effect, as plain JSON (below);
- ``<stem>.truth_members.parquet``: one row per member with the latent attributes the data came from:
  member_id, join_channel, link_mode, home_store_id, city, cuisine, joined_before_period, activated,
  one_off (trial customer who drops out at the first visit), first_visit_at, price_sensitive (bool),
  spend_factor, mean_cycle_days, visit_rate_per_day (= 1 / mean_cycle_days), dropout_hazard_per_day
  (baseline), dropout_at (UTC; null when not dropped out by the end or never active), vip, vip_buy_prob_per_visit,
  in_group (in a community group at some time before the end), group_id.

How the chain is generated (modules): ``params`` (every planted number), ``timeline`` (local days,
seasonality as an operational clock, UTC), ``chain`` (stores, groups), ``population`` (members, funnel,
latent cycles and hazards, group spells), ``process`` (organic visits with dropout and VIP purchase,
touches, campaigns and the visits they cause), ``orders`` (tickets, coupons, walk-in trade), ``writer``
(DuckDB via Arrow), ``truth`` (this file's contents). Same arguments, same tables: every component draws
from its own random stream keyed by name.

Visits caused by touches and coupons come on top of the organic process, never restart it, and can reach
members after their dropout (that is how a wake-up coupon works). Days are local calendar days of the
chain's zone; "within d days" means a later visit on a day at most d days after.

Truth JSON keys (money in the chain's currency, shares 0-1, rates per day):

- version, seed, timezone
- period: start, end (local dates, inclusive), days, weeks
- counts: rows per contract table
- stores: stores, cities, opened_in_period (store ids opening inside the period), cuisines (mean_ticket,
  cycle_factor)
- members: stock_share, join_growth_over_period, join_channel_share, link_mode_share, activation (per join
  channel: first_order_at_join, later_order_share_of_rest, mean_delay_days), activated_share,
  price_sensitive_share, price_sensitive_spend_factor, spend_sigma
- segments: for join_channel, link_mode, vip, in_group, price_sensitive -> value -> members,
  mean_cycle_days / median_cycle_days (latent organic cycle before group / VIP multipliers),
  mean_visit_rate_per_day, mean_baseline_dropout_hazard_per_day, and the planted multipliers
  (base_cycle_days, dropout_hazard_ratio, cycle_multiplier_while_in_group, cycle_multiplier_after_purchase)
- repurchase: interval_distribution, interval_shape, base_cycle_days_by_join_channel, cuisine_cycle_factor,
  cycle_heterogeneity_sigma, group_cycle_factor (within-member, intervals starting in a group),
  vip_rate_multiplier, mean_cycle_days (segment -> value -> days), time_to_second_visit (Monte Carlo from the
  generating process, uncensored: all / by_join_channel / by_link_mode -> first_time_visitors,
  returned_within_days {"7","14","30","60","90"}, median_days_to_second_visit), and
  second_visit_within_90_days_share
- churn: base_hazard_per_day, reference, hazard_ratio {in_group, vip, link_mode{...} (vs none),
  join_channel{...} (vs store_qr)}, one_off_share_by_join_channel, one_off_realised_share_of_activated,
  dropped_by_end_share_of_activated
- vip: target_share, realised_share, members, rate_multiplier (causal), dropout_hazard_ratio, selection
  (purchase probability per visit, its elasticity to the member's cycle, the mean cycles of VIP and
  non-VIP members)
- groups: groups_by_kind, intensity (messages per member per day), leave_hazard_per_day {intercept,
  slope_per_message_per_member_day}, cycle_factor, dropout_hazard_ratio, friend_then_group_delay_days_mean,
  rejoin_share, choice, members_in_a_group_during_period
- touches: response_within_7_days per medium (extra visit probability per touch), mean_days_between_touches,
  rows_without_campaign_by_medium, caused_visits_by_medium, caused_visit_days_by_medium
- seasonality: weekend_multiplier, weekday_level, spring_festival {holiday_week_multiplier,
  week_before_multiplier, in_period [{new_year_day, holiday_week [first, last], week_before [first, last]}]},
  lunch_window, dinner_window, meal_share_by_cuisine
- orders: same_day_double_order_share, home_store_share, mean_ticket_by_cuisine, ticket_sigma,
  channel_ticket_factor, non_member_to_member_orders, member_orders, non_member_orders,
  coupon_min_spend_multiple
- campaigns: one object per campaign: campaign_id, name, kind, eligibility, randomised (false: analyse as
  observational), holdout_share, coupon_value, outcome_window_days, starts_on, assigned {treatment,
  control}, redemption_prob_on_visit_anyway, birthday_month (birthday kind), segments {price_sensitive,
  not_price_sensitive, all} -> treated, control, extra_visit_prob (planted) =
  expected_incremental_visits_per_treated, realised_caused_visits_per_treated,
  realised_incremental_visit_days_per_treated (caused visits on days without another visit),
  incremental_revenue_per_treated (exact counterfactual: caused orders' amounts plus the change in amount of
  redeemed orders that would have happened anyway), coupon_cost_per_treated, coupon_cost, redemptions,
  redemptions_on_caused_visits, non_incremental_redemption_share
"""

from workbench.data.simulate.run import SimulationSummary, simulate_chain, truth_members_path, truth_path

__all__ = ["SimulationSummary", "simulate_chain", "truth_members_path", "truth_path"]
