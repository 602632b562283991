"""The words of a report notebook, in Chinese or English: titles, how to read each figure, summaries.

Notebooks print narrative through these functions so that it follows the ``lang`` parameter; the
Markdown cells of a notebook only say what it is for, for someone opening it in JupyterLab.

    rp.title("cohorts", lang=lang, week=week, as_of=as_of, client=client)
    rp.read("cohorts.heatmap", lang=lang)      # one sentence on how to read the next figure
    rp.say(result, lang=lang)                  # the result's own summary(lang=...)
"""

from __future__ import annotations

from IPython.display import Markdown

from workbench import i18n
from workbench.data import calendar

NOTEBOOK_TITLES = {
    "overview": ("每周经营概览", "Weekly overview"),
    "cohorts": ("会员同期群留存", "Member cohort retention"),
    "repurchase": ("复购周期", "Repurchase cycle"),
    "churn": ("会员流失与唤醒", "Member churn and wake-up list"),
    "campaigns": ("营销活动增量", "Campaign lift"),
    "lifecycle": ("会员生命周期与分层", "Member lifecycle and segments"),
}
i18n.register({f"report.title.{k}": v for k, v in NOTEBOOK_TITLES.items()})
i18n.register(
    {
        "report.subtitle": ("{week}（截至 {as_of}）", "{week} (as of {as_of})"),
        "report.subtitle_day": ("截至 {as_of}", "As of {as_of}"),
        "report.prepared_for": ("{client} · ", "{client} · "),
        "report.anonymised": (
            "已匿名：门店以编号显示，不含任何会员编号，少于 {k} 人的单元格已隐去。",
            "Anonymised: stores are numbered, no member id appears, cells of fewer than {k} members are hidden.",
        ),
        # how to read each figure or table
        "report.read.cohorts.heatmap": (
            "每一行是一个同期群（首次到店的月份），每一列是之后的第几个月；格子里是当月再次到店的会员占比。"
            "尚未结束的月份留空，不算作 0。",
            "Each row is a cohort (the month of the first visit), each column a month after it; a cell is the "
            "share of the cohort that visited in that month. Months not yet complete are blank, not zero.",
        ),
        "report.read.cohorts.curves": (
            "各同期群按人数加权的平均留存率，阴影为 95% 置信区间。",
            "Mean retention by age over cohorts, weighted by cohort size; the band is the 95% interval.",
        ),
        "report.read.cohorts.ltv": (
            "人均累计营收（LTV）：一位新会员在首次到店后各月累计带来的营收。",
            "Cumulative revenue per member (LTV): what a new member has brought in by each month after the "
            "first visit.",
        ),
        "report.read.repurchase.return": (
            "首次到店后多少天内回来：尚未回来的会员按截至日删失（Kaplan-Meier），所以中位数不会被低估。",
            "Days to come back after the first visit: members not back yet are censored at the as-of day "
            "(Kaplan-Meier), so the median is not understated.",
        ),
        "report.read.repurchase.cycle": (
            "各分组回访天数的中位数及 95% 置信区间，按第几次到店分开。",
            "Median days to the next visit per segment with its 95% interval, by visit number.",
        ),
        "report.read.repurchase.intervals": (
            "已完成的相邻两次到店间隔分布（仅描述，未回来的会员不在其中）。",
            "Distribution of completed intervals between visits (descriptive: members not back yet are not in it).",
        ),
        "report.read.repurchase.group": (
            "同一批会员入群前后的平均到店间隔：比值小于 1 表示入群后来得更勤。",
            "Mean interval between visits of the same members before and after joining a community group: a "
            "ratio below 1 means they come more often after joining.",
        ),
        "report.read.churn.survival": (
            "未流失会员占比随首次到店后天数的变化；连续 T 天未到店即视为流失，仍在 T 天内的会员按截至日删失。",
            "Share of members not churned by days since the first visit; a member has churned after T days "
            "without a visit, and members still inside T are censored at the as-of day.",
        ),
        "report.read.churn.drivers": (
            "Cox 比例风险模型的风险比：小于 1 表示流失更慢。这是相关关系，不是因果。",
            "Hazard ratios of a Cox model: below 1 means members churn more slowly. Associations, not effects.",
        ),
        "report.read.churn.wake_up": (
            "待唤醒名单：相对本人复购周期已逾期、但尚未流失的会员，按唤醒的预期价值排序。",
            "Wake-up list: members overdue against their own cycle but not yet lost, ranked by the expected "
            "value of waking them.",
        ),
        "report.read.campaigns.lift": (
            "实验组相对对照组的增量及 95% 置信区间；没有随机对照的活动标为观察性结果，不能视为因果。",
            "Lift of the treatment arm over the control arm with 95% intervals; a campaign without a "
            "randomised control is labelled observational and is not causal.",
        ),
        "report.read.campaigns.cumulative": (
            "活动开始后各组的人均累计到店次数。",
            "Cumulative visits per member by arm since the campaign started.",
        ),
        "report.read.campaigns.table": (
            "各指标的增量明细（按分组）。",
            "Lift by metric and segment.",
        ),
        # campaigns of the week
        "report.campaigns.active": (
            "本周在效果期内的活动：{ids}",
            "Campaigns in their outcome window this week: {ids}",
        ),
        "report.campaigns.latest": (
            "本周没有处于效果期的活动，以下为最近一次活动：{ids}",
            "No campaign was in its outcome window this week; showing the most recent one: {ids}",
        ),
        "report.campaigns.chosen": ("所选活动：{ids}", "Chosen campaigns: {ids}"),
        "report.campaigns.none": ("截至该日尚无活动。", "No campaign has started by this day."),
    }
)


def title(
    notebook: str,
    *,
    lang: str = "zh",
    week: str | None = None,
    as_of=None,
    client: str | None = None,
    anonymise: bool = False,
    k_min: int = 5,
) -> Markdown:
    """'# Client · Member cohort retention' with the week and as-of day; the anonymisation note if any."""
    return Markdown(
        title_text(
            notebook, lang=lang, week=week, as_of=as_of, client=client, anonymise=anonymise, k_min=k_min
        )
    )


def title_text(notebook, *, lang="zh", week=None, as_of=None, client=None, anonymise=False, k_min=5) -> str:
    i18n.check_lang(lang)
    name = i18n.t(f"report.title.{notebook}", lang) if notebook in NOTEBOOK_TITLES else str(notebook)
    prefix = i18n.t("report.prepared_for", lang, client=client) if client else ""
    lines = [f"# {prefix}{name}"]
    if as_of is not None:
        day = calendar.as_date(as_of)
        label = week or calendar.iso_week_label(day)
        lines.append(f"**{i18n.t('report.subtitle', lang, week=label, as_of=day.isoformat())}**")
    if anonymise:
        lines.append(f"*{i18n.t('report.anonymised', lang, k=k_min)}*")
    return "\n\n".join(lines)


def read(key: str, *, lang: str = "zh") -> Markdown:
    """One sentence on how to read the next figure or table (``report.read.<key>``)."""
    return Markdown(i18n.t(f"report.read.{key}", lang))


def say(result, *, lang: str = "zh") -> Markdown:
    """The result's ``summary(lang=...)`` as Markdown: the first line in bold, the others as bullets."""
    i18n.check_lang(lang)
    lines = [line for line in str(result.summary(lang=lang)).splitlines() if line.strip()]
    if not lines:
        return Markdown("")
    return Markdown("\n".join([f"**{lines[0]}**", "", *[f"- {line}" for line in lines[1:]]]))


def campaign_note(ids, reason: str, *, lang: str = "zh") -> Markdown:
    """Which campaigns the report shows and why (see weeks.campaigns_for_week)."""
    listed = ", ".join(ids)
    return Markdown(i18n.t(f"report.campaigns.{reason}", lang, ids=listed))
