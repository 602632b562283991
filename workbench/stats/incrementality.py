"""What a campaign added: incremental totals, return on coupon cost, and redemptions it did not cause.

These turn per-member lifts (``workbench.stats.lift``) into money and coupon counts for the treated arm.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from workbench.errors import ParameterError
from workbench.stats._common import NAN, warn_thin
from workbench.stats.lift import LiftResult


@dataclass(frozen=True)
class IncrementalTotal:
    """An outcome the campaign added over the whole treated arm.

    Fields:
      incremental      abs_lift × n_treatment (units of the outcome summed over members: CNY for revenue
                       or margin, visits for visits, members for conversion)
      low, high        the absolute lift's confidence interval scaled the same way
      n_treatment      treated members
    """

    incremental: float
    low: float
    high: float
    n_treatment: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
        return asdict(self)


def incremental_total(lift: LiftResult) -> IncrementalTotal:
    """Incremental outcome of the treated arm, e.g. incremental revenue = abs_lift × n_treatment (CNY).

    Returns an :class:`IncrementalTotal`. The interval scales the Welch interval of the per-member lift by
    n_treatment (the number of treated members is fixed by the design, not estimated). NaN when the lift is.
    """
    n = float(lift.n_treatment)
    return IncrementalTotal(lift.abs_lift * n, lift.abs_low * n, lift.abs_high * n, n)


@dataclass(frozen=True)
class CampaignRoi:
    """Return on the coupon cost.

    Fields (currency unless said otherwise):
      incremental_margin        margin the campaign added, before coupon cost
      coupon_cost               discount given on redeemed coupons
      net_return                incremental_margin − coupon_cost
      roi, roi_low, roi_high    net_return / coupon_cost (ratio: 0.5 = each unit of coupon cost returned 1.5)
                                and its interval from the margin's interval (the cost is observed, not
                                estimated)
    """

    incremental_margin: float
    coupon_cost: float
    net_return: float
    roi: float
    roi_low: float
    roi_high: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
        return asdict(self)


def campaign_roi(
    incremental_margin: IncrementalTotal | float,
    coupon_cost: float,
    *,
    margin_net_of_coupons: bool = False,
    label: str | None = None,
) -> CampaignRoi:
    """ROI = (incremental margin − coupon cost) / coupon cost.

    ``incremental_margin`` is the treated arm's incremental margin (an :class:`IncrementalTotal` from
    ``incremental_total(margin_lift)`` carries its interval; a bare number has none). When the margin was
    measured net of the coupons' discount (``margin_net_of_coupons=True``, as the per-member margin of
    ``workbench.analyses.lift_outcomes`` is), the coupon cost is already inside it and is not subtracted
    again: net return = incremental margin. Returns a :class:`CampaignRoi`; a coupon cost of 0 gives NaN
    ROI and a ThinDataWarning. A negative coupon cost raises ParameterError.
    """
    if isinstance(incremental_margin, IncrementalTotal):
        margin, low, high = incremental_margin.incremental, incremental_margin.low, incremental_margin.high
    else:
        margin, low, high = float(incremental_margin), NAN, NAN
    cost = float(coupon_cost)
    if not (math.isfinite(cost) and cost >= 0):
        raise ParameterError(f"coupon_cost={coupon_cost!r} is not valid; expected a finite amount >= 0.")
    deducted = 0.0 if margin_net_of_coupons else cost
    net = margin - deducted
    if cost == 0:
        warn_thin("no coupon cost (no redemptions), so the ROI is NaN.", label)
        return CampaignRoi(margin, cost, net, NAN, NAN, NAN)
    return CampaignRoi(
        incremental_margin=margin,
        coupon_cost=cost,
        net_return=net,
        roi=net / cost,
        roi_low=(low - deducted) / cost,
        roi_high=(high - deducted) / cost,
    )


@dataclass(frozen=True)
class RedemptionsAnyway:
    """Coupon redemptions the campaign did not cause (the member would have come anyway).

    Fields (per treated member unless said otherwise):
      redemptions            r, redemptions per treated member
      incremental_visits     v_t − v_c, visits per member the campaign added
      anyway                 r − (v_t − v_c) clipped to [0, r]: redemptions on visits that would have happened
      share                  anyway / r (0-1): share of redemptions that were not incremental
      share_low, share_high  the share at the upper / lower end of the visit lift's interval (NaN when no
                             interval is given)
    """

    redemptions: float
    incremental_visits: float
    anyway: float
    share: float
    share_low: float
    share_high: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
        return asdict(self)


def redemptions_anyway(
    redemptions_per_member: float,
    visits_treatment: float,
    visits_control: float,
    *,
    visit_lift_low: float | None = None,
    visit_lift_high: float | None = None,
    label: str | None = None,
) -> RedemptionsAnyway:
    """Share of coupon redemptions that would have happened without the campaign.

    With r = redemptions per treated member, v_t = visits per treated member and v_c = visits per control
    member in the outcome window, the redemptions the campaign did not cause are estimated as
    r − (v_t − v_c), clipped to [0, r]; the share is that divided by r.

    Assumption: every incremental visit redeems a coupon, so incremental visits account for incremental
    redemptions one for one and any redemption beyond them was used on a visit the member would have made
    anyway. When incremental visits come without a coupon the share is overstated; when one visit redeems
    several coupons it is understated.

    ``visit_lift_low`` / ``visit_lift_high`` (the visit lift's interval, e.g. a LiftResult's abs_low /
    abs_high) give the share's range. Returns a :class:`RedemptionsAnyway`; r = 0 gives NaN shares and a
    ThinDataWarning.
    """
    r = float(redemptions_per_member)
    if not (math.isfinite(r) and r >= 0):
        raise ParameterError(
            f"redemptions_per_member={redemptions_per_member!r} is not valid; expected a number >= 0."
        )
    lift = float(visits_treatment) - float(visits_control)
    anyway = min(max(r - lift, 0.0), r)
    if r == 0:
        warn_thin(
            "no coupon was redeemed, so the share of redemptions that would have happened anyway is NaN.",
            label,
        )
        return RedemptionsAnyway(r, lift, anyway, NAN, NAN, NAN)

    def share_at(visit_lift: float | None) -> float:
        if visit_lift is None or not math.isfinite(float(visit_lift)):
            return NAN
        return min(max(r - float(visit_lift), 0.0), r) / r

    return RedemptionsAnyway(
        redemptions=r,
        incremental_visits=lift,
        anyway=anyway,
        share=anyway / r,
        share_low=share_at(visit_lift_high),
        share_high=share_at(visit_lift_low),
    )
