"""The words of a campaign-lift result, in Chinese and English (used by ``CampaignLift.summary``)."""

from __future__ import annotations

import math

from workbench import i18n

i18n.register(
    {
        "lift.summary.randomised": (
            "{name}：实验组每位会员多到店 {lift:+.3f} 次（95% 区间 {low:+.3f} 至 {high:+.3f}），"
            "营收每人 {rev:+.1f} 元；优惠券成本 {cost:,.0f} 元，投资回报率 {roi}。",
            "{name}: treated members made {lift:+.3f} more visits each (95% interval {low:+.3f} to {high:+.3f}), "
            "revenue {rev:+.1f} per member; coupon cost {cost:,.0f}, ROI {roi}.",
        ),
        "lift.summary.observational": (
            "{name}：没有随机对照组，以下为观察性估计（双重差分，对比到店频次相近的非参与会员），不能视为因果：每位会员到店 "
            "{lift:+.3f} 次（95% 区间 {low:+.3f} 至 {high:+.3f}）。",
            "{name}: no randomised control, so this is an observational estimate (difference-in-differences "
            "against non-participants with similar visit frequency), not causal: {lift:+.3f} visits per member "
            "(95% interval {low:+.3f} to {high:+.3f}).",
        ),
        "lift.summary.anyway": (
            "约 {share:.0%} 的核销发生在本来就会发生的到店上（只是打了折）。",
            "About {share:.0%} of redemptions were on visits that would have happened anyway (a discount only).",
        ),
        "lift.summary.srm": (
            "警告：实验组与对照组人数比例与计划不符（p={p:.1e}），随机分组可能有问题，结果需谨慎。",
            "Warning: the arms' sizes do not match the planned split (p={p:.1e}); the randomisation may be "
            "broken, read the result with care.",
        ),
        "lift.summary.provisional": (
            "结果为临时结果：结果窗口 {window} 天中只观察到 {days} 天。",
            "Provisional: only {days} of the {window}-day outcome window are observed.",
        ),
        "lift.summary.cuped": (
            "用活动前行为校正（CUPED）后方差减少 {vr:.0%}：{lift:+.3f}（{low:+.3f} 至 {high:+.3f}）。",
            "Adjusted for pre-campaign behaviour (CUPED, variance {vr:.0%} lower): {lift:+.3f} ({low:+.3f} to {high:+.3f}).",
        ),
        "na": ("无法计算", "n/a"),
    }
)


def lift_summary(result, *, lang: str = "zh") -> str:
    lift = result.lift[(result.lift.segment == "all") & (result.lift.metric == "visits")]
    revenue = result.lift[(result.lift.segment == "all") & (result.lift.metric == "revenue")]
    impact = result.impact[result.impact.segment == "all"]
    if lift.empty:
        return i18n.t("no_data", lang)
    v, r, imp = lift.iloc[0], revenue.iloc[0], impact.iloc[0]
    name = f"{result.campaign.name} ({result.campaign.campaign_id})"
    parts = []
    if result.observational:
        parts.append(i18n.t("lift.summary.observational", lang, name=name, lift=v.abs_lift, low=v.abs_low,
                            high=v.abs_high))  # fmt: skip
    else:
        roi = imp.roi
        roi_text = i18n.t("na", lang) if not math.isfinite(roi) else f"{roi:.0%}"
        parts.append(i18n.t("lift.summary.randomised", lang, name=name, lift=v.abs_lift, low=v.abs_low,
                            high=v.abs_high, rev=r.abs_lift, cost=imp.coupon_cost, roi=roi_text))  # fmt: skip
        if math.isfinite(v.variance_reduction) and math.isfinite(v.cuped_lift):
            parts.append(i18n.t("lift.summary.cuped", lang, vr=v.variance_reduction, lift=v.cuped_lift,
                                low=v.cuped_low, high=v.cuped_high))  # fmt: skip
        if math.isfinite(imp.anyway_share):
            parts.append(i18n.t("lift.summary.anyway", lang, share=imp.anyway_share))
        if result.srm_mismatch:
            parts.append(i18n.t("lift.summary.srm", lang, p=float(result.srm["p_value"].iloc[0])))
    if not result.window_complete:
        parts.append(i18n.t("lift.summary.provisional", lang, days=result.days_observed,
                            window=result.campaign.window_days))  # fmt: skip
    return "\n".join(parts)
