"""Readable column headers (zh / en) for the key tables of a report, on screen and in Excel.

Columns are the ones the analyses document; a column without a label keeps its name.
"""

from __future__ import annotations

import pandas as pd

from workbench import i18n

# Decimals shown for numbers in report tables (shares 0-1, days, currency); Excel keeps full precision.
DISPLAY_DECIMALS = 3

COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "segment": ("分组", "Segment"),
    "age": ("期数", "Age (periods)"),
    "cohort": ("同期群", "Cohort"),
    "cohorts": ("同期群数", "Cohorts"),
    "cohort_size": ("同期群人数", "Cohort size"),
    "members": ("会员数", "Members"),
    "active": ("到店会员数", "Members who visited"),
    "retention": ("留存率", "Retention"),
    "ci_low": ("95% 下限", "95% low"),
    "ci_high": ("95% 上限", "95% high"),
    "revenue_per_member": ("人均营收", "Revenue per member"),
    "cumulative_revenue_per_member": ("人均累计营收", "Cumulative revenue per member"),
    "from_visit": ("第几次到店后", "After visit"),
    "returned": ("已回访", "Returned"),
    "median_days": ("中位天数", "Median (days)"),
    "median_ci_low": ("中位数 95% 下限", "Median 95% low"),
    "median_ci_high": ("中位数 95% 上限", "Median 95% high"),
    "horizon_days": ("期限（天）", "Horizon (days)"),
    "share_returned": ("回访占比", "Share returned"),
    "at_risk_start": ("仍在观察", "Still followed"),
    "churned": ("已流失", "Churned"),
    "censored": ("未流失（删失）", "Not churned (censored)"),
    "rmst_days": ("限制平均生存时间（天）", "Restricted mean (days)"),
    "se_days": ("标准误（天）", "Standard error (days)"),
    "horizon_observed": ("期限内可观察", "Horizon observed"),
    "covariate": ("因素", "Covariate"),
    "level": ("水平", "Level"),
    "reference": ("参照", "Reference"),
    "hazard_ratio": ("风险比", "Hazard ratio"),
    "p_value": ("p 值", "p-value"),
    "campaign_id": ("活动编号", "Campaign"),
    "metric": ("指标", "Metric"),
    "method": ("方法", "Method"),
    "arm": ("组别", "Arm"),
    "control_mean": ("对照组人均", "Control mean"),
    "treatment_mean": ("实验组人均", "Treatment mean"),
    "abs_lift": ("绝对增量", "Absolute lift"),
    "abs_low": ("绝对增量 95% 下限", "Absolute lift 95% low"),
    "abs_high": ("绝对增量 95% 上限", "Absolute lift 95% high"),
    "rel_lift": ("相对增量", "Relative lift"),
    "rel_low": ("相对增量 95% 下限", "Relative lift 95% low"),
    "rel_high": ("相对增量 95% 上限", "Relative lift 95% high"),
    "n_control": ("对照组人数", "Control members"),
    "n_treatment": ("实验组人数", "Treatment members"),
    "cuped_lift": ("CUPED 增量", "CUPED lift"),
    "cuped_low": ("CUPED 95% 下限", "CUPED 95% low"),
    "cuped_high": ("CUPED 95% 上限", "CUPED 95% high"),
    "variance_reduction": ("方差缩减", "Variance reduction"),
    "converted": ("转化率", "Conversion"),
    "visits_per_member": ("人均到店次数", "Visits per member"),
    "margin_per_member": ("人均毛利", "Margin per member"),
    "coupons_issued": ("发券数", "Coupons issued"),
    "coupons_redeemed": ("核销数", "Coupons redeemed"),
    "redemption_rate": ("核销率", "Redemption rate"),
    "coupon_cost": ("券成本", "Coupon cost"),
    "city": ("城市", "City"),
    "overdue_members": ("待唤醒会员数", "Overdue members"),
    "expected_value": ("唤醒预期价值", "Expected value of waking"),
    "median_days_since_last": ("未到店天数中位数", "Median days since last visit"),
    "median_overdue_ratio": ("逾期倍数中位数", "Median overdue (× cycle)"),
}
i18n.register({f"report.column.{k}": v for k, v in COLUMN_LABELS.items()})


def column_label(column: str, lang: str) -> str:
    """The header of ``column`` in ``lang`` (the column name itself when it has no label)."""
    i18n.check_lang(lang)
    return i18n.t(f"report.column.{column}", lang) if column in COLUMN_LABELS else str(column)


def localise(df: pd.DataFrame, *, lang: str, decimals: int | None = DISPLAY_DECIMALS) -> pd.DataFrame:
    """A copy for people: headers in ``lang``, dates as YYYY-MM-DD, floats rounded to ``decimals``."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
        elif decimals is not None and pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(decimals)
    out.columns = [column_label(str(c), lang) for c in out.columns]
    return out
