"""Every effect the simulated chain plants, as named constants.

The generator reads its parameters from here and the ground-truth file repeats them, so an analysis can be
checked against the numbers that produced the data. Days are local calendar days, money is CNY, rates are
per day unless the name says otherwise.
"""

from __future__ import annotations

from workbench.data.contract import JOIN_CHANNELS, LINK_MODES, ORDER_CHANNELS

# -- stores -------------------------------------------------------------------------------------------

MEMBERS_PER_STORE = 500
MIN_STORES, MAX_STORES = 8, 2000
# Share of stores that open inside the simulated period (at least one does).
NEW_STORE_SHARE = 0.06
DIRECT_STORE_SHARE = 0.7
# Store popularity: lognormal weight (sigma) that scales its members and non-member orders.
STORE_POPULARITY_SIGMA = 0.5

# city: (region, weight, districts used in store names)
CITIES: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "上海": ("华东", 0.16, ("人民广场", "徐家汇", "陆家嘴", "静安寺", "五角场", "七宝", "中山公园", "虹桥")),
    "北京": ("华北", 0.14, ("国贸", "三里屯", "中关村", "望京", "西单", "五道口", "亦庄", "通州万达")),
    "杭州": ("华东", 0.10, ("西湖", "武林", "滨江", "钱江新城", "西溪", "城西银泰", "湖滨", "下沙")),
    "成都": ("西南", 0.10, ("春熙路", "太古里", "高新", "宽窄巷子", "天府广场", "金牛万达", "双流", "交子")),
    "深圳": ("华南", 0.10, ("福田", "南山", "科技园", "宝安中心", "龙华", "海岸城", "东门", "前海")),
    "武汉": ("华中", 0.08, ("江汉路", "光谷", "楚河汉街", "汉街", "徐东", "武广", "沌口", "街道口")),
    "南京": ("华东", 0.08, ("新街口", "河西", "夫子庙", "仙林", "江宁", "湖南路", "百家湖", "大行宫")),
    "广州": ("华南", 0.10, ("天河城", "珠江新城", "北京路", "番禺", "体育西", "白云", "海珠", "琶洲")),
    "重庆": ("西南", 0.07, ("解放碑", "观音桥", "南坪", "沙坪坝", "杨家坪", "大坪", "北城天街", "江北嘴")),
    "西安": ("西北", 0.07, ("钟楼", "小寨", "曲江", "高新", "大雁塔", "赛格", "北大街", "龙首")),
}

# cuisine: (mean ticket CNY, repurchase-cycle factor, share of stores)
CUISINES: dict[str, tuple[float, float, float]] = {
    "火锅": (120.0, 1.35, 0.25),
    "中餐": (85.0, 1.0, 0.15),
    "烤鱼": (95.0, 1.2, 0.10),
    "面馆": (40.0, 0.8, 0.15),
    "快餐": (35.0, 0.65, 0.15),
    "茶饮": (35.0, 0.55, 0.20),
}

# -- members ------------------------------------------------------------------------------------------

# Share of members who joined in the year before the period (the initial stock).
STOCK_SHARE = 0.3
STOCK_YEARS_BACK_DAYS = 365
# Joins per day grow so that the last day of the period sees this many times the first day's joins.
JOIN_GROWTH_OVER_PERIOD = 2.5

JOIN_CHANNEL_SHARE = dict(
    zip(JOIN_CHANNELS, (0.45, 0.15, 0.15, 0.08, 0.10, 0.07), strict=True)
)  # store_qr, takeout_card, mini_program, referral, official_account, other

# link_mode mix per join channel (friend_only, group_only, friend_then_group, group_then_friend, none)
LINK_MODE_SHARE: dict[str, tuple[float, ...]] = {
    "store_qr": (0.34, 0.12, 0.18, 0.10, 0.26),
    "takeout_card": (0.22, 0.18, 0.12, 0.08, 0.40),
    "mini_program": (0.25, 0.15, 0.15, 0.10, 0.35),
    "referral": (0.30, 0.20, 0.20, 0.15, 0.15),
    "official_account": (0.15, 0.20, 0.10, 0.10, 0.45),
    "other": (0.20, 0.15, 0.10, 0.05, 0.50),
}
GROUP_LINK_MODES = ("group_only", "friend_then_group", "group_then_friend")
FRIEND_LINK_MODES = ("friend_only", "friend_then_group", "group_then_friend")
# Channels whose members have no join store recorded (they joined online).
NO_JOIN_STORE_CHANNELS = ("official_account",)

# Activation funnel per join channel:
#   (share whose first order is at the join visit, share of the others who order later, mean delay days)
ACTIVATION: dict[str, tuple[float, float, float]] = {
    "store_qr": (0.88, 0.50, 14.0),
    "takeout_card": (0.0, 0.65, 10.0),
    "mini_program": (0.45, 0.55, 12.0),
    "referral": (0.30, 0.70, 7.0),
    "official_account": (0.0, 0.45, 21.0),
    "other": (0.20, 0.40, 20.0),
}

PRICE_SENSITIVE_SHARE = 0.35
# Spend factor: lognormal with mean 1; price-sensitive members spend this much less.
SPEND_SIGMA = 0.35
PRICE_SENSITIVE_SPEND_FACTOR = 0.85

# -- repurchase ---------------------------------------------------------------------------------------

# Mean repurchase cycle (days) of a member by join channel, before the store cuisine factor, the member's
# own lognormal heterogeneity (mean 1) and the group / VIP multipliers.
BASE_CYCLE_DAYS = dict(
    zip(JOIN_CHANNELS, (26.0, 32.0, 22.0, 24.0, 38.0, 42.0), strict=True)
)  # store_qr, takeout_card, mini_program, referral, official_account, other
CYCLE_HETEROGENEITY_SIGMA = 0.55
MIN_CYCLE_DAYS, MAX_CYCLE_DAYS = 3.0, 400.0
# Intervals between organic visits are gamma with this shape (2: not memoryless, mode at half the mean).
INTERVAL_SHAPE = 2.0
# An interval that starts while the member is in a community group has its mean multiplied by this.
GROUP_CYCLE_FACTOR = 0.85
# After buying a VIP card a member's visit rate is multiplied by this (cycle divided by it): causal effect.
VIP_RATE_MULTIPLIER = 1.3

# -- dropout (latent end of the organic visit process) ------------------------------------------------

# Dropout hazard per day of the reference member (store_qr, link_mode none, not in a group, not VIP).
BASE_DROPOUT_HAZARD = 1 / 420
DROPOUT_HR_JOIN_CHANNEL = dict(zip(JOIN_CHANNELS, (1.0, 1.3, 0.9, 0.8, 1.2, 1.5), strict=True))
DROPOUT_HR_LINK_MODE = dict(zip(LINK_MODES, (0.75, 0.8, 0.55, 0.65, 1.0), strict=True))
DROPOUT_HR_IN_GROUP = 0.6
DROPOUT_HR_VIP = 0.5
# Trial customers: this share of activated members (by join channel) drops out at the first visit and never
# comes back on their own (only touches and coupons can still bring them in).
ONE_OFF_SHARE = dict(zip(JOIN_CHANNELS, (0.25, 0.35, 0.25, 0.2, 0.35, 0.4), strict=True))

# -- VIP ----------------------------------------------------------------------------------------------

# At each organic visit a non-VIP member buys a card with probability
#   VIP_BUY_PROB * (VIP_REFERENCE_CYCLE_DAYS / member's mean cycle) ** VIP_SELECTION_ELASTICITY,
# capped at VIP_BUY_PROB_CAP: frequent visitors both visit more often and buy more readily (selection).
VIP_BUY_PROB = 0.006
VIP_REFERENCE_CYCLE_DAYS = 28.0
VIP_SELECTION_ELASTICITY = 0.6
VIP_BUY_PROB_CAP = 0.2
VIP_TARGET_SHARE = 0.08

# -- community groups ---------------------------------------------------------------------------------

# Messages per member per day of a group: lognormal (median, sigma) clipped to the range.
GROUP_INTENSITY_MEDIAN = 0.6
GROUP_INTENSITY_SIGMA = 0.9
GROUP_INTENSITY_RANGE = (0.1, 3.0)
# Leaving a group: hazard per day = intercept + slope * messages per member per day of the group.
GROUP_LEAVE_INTERCEPT = 0.0008
GROUP_LEAVE_SLOPE = 0.0025
# friend_then_group members join a group this many days after joining (gamma shape 2, this mean).
FRIEND_THEN_GROUP_DELAY_DAYS = 35.0
# group_then_friend members add the store's WeCom account this many days after joining (mean).
GROUP_THEN_FRIEND_DELAY_DAYS = 14.0
# Which group a group-linked member joins: store group of the home store, or a city / chain-wide group.
GROUP_CHOICE = {"store": 0.6, "new_customer": 0.2, "welfare": 0.15, "interest": 0.05}
REJOIN_SHARE = 0.2  # share of leavers who come back to the same group
REJOIN_DELAY_DAYS = 45.0  # mean days out of the group before re-joining
VIP_GROUP_SHARE = 0.5  # share of VIP buyers already in a group who also join the city's VIP group
STORES_PER_CITY_GROUP = 12  # one new_customer and one welfare group per this many stores of a city
INTEREST_GROUPS = ("火锅爱好者群", "周末吃货群", "咖啡茶饮控")

# -- touches ------------------------------------------------------------------------------------------

# One-to-one touches: mean days between touches of one member (while reachable through that medium).
TOUCH_EVERY_DAYS = {"private_chat": 120.0, "moments": 180.0, "sms": 300.0}
# Probability that one touch causes an extra visit within the next 7 days (days 1..7 after it).
TOUCH_RESPONSE = {"private_chat": 0.06, "group": 0.003, "moments": 0.005, "sms": 0.002}
TOUCH_RESPONSE_DAYS = 7

# -- orders -------------------------------------------------------------------------------------------

SAME_DAY_DOUBLE_SHARE = 0.05
# Share of a member's visits at the home store; the rest go to another store of the same city.
HOME_STORE_SHARE = 0.85
TICKET_SIGMA = 0.3
TICKET_ROUND_CENTS = 10
MIN_TICKET_CENTS = 800
CHANNEL_TICKET_FACTOR = dict(zip(ORDER_CHANNELS, (1.0, 0.9, 0.95, 0.85), strict=True))
# Order channel mix (dine_in, takeout_platform, mini_program, pickup) by cuisine, for members; non-members
# and takeout_card members use the takeout-heavy mix.
ORDER_CHANNEL_MIX = {
    "火锅": (0.85, 0.08, 0.05, 0.02),
    "中餐": (0.65, 0.20, 0.10, 0.05),
    "烤鱼": (0.70, 0.18, 0.08, 0.04),
    "面馆": (0.55, 0.25, 0.12, 0.08),
    "快餐": (0.40, 0.30, 0.18, 0.12),
    "茶饮": (0.25, 0.30, 0.30, 0.15),
}
TAKEOUT_HEAVY_MIX = (0.25, 0.55, 0.12, 0.08)
# Time of day (local): meal windows and the share of orders in lunch, dinner and off-peak by cuisine.
LUNCH_WINDOW = ("11:30", "13:30")
DINNER_WINDOW = ("17:30", "20:30")
OFF_PEAK_WINDOW = ("09:30", "22:00")
MEAL_SHARE = {  # (lunch, dinner, off-peak)
    "火锅": (0.30, 0.60, 0.10),
    "中餐": (0.42, 0.45, 0.13),
    "烤鱼": (0.35, 0.52, 0.13),
    "面馆": (0.50, 0.32, 0.18),
    "快餐": (0.52, 0.30, 0.18),
    "茶饮": (0.30, 0.25, 0.45),
}
# Non-member orders are this many times the member orders (a store's walk-in and platform trade).
NON_MEMBER_TO_MEMBER_ORDERS = 0.7
# Non-member orders use this blend of the store's member channel mix and the takeout-heavy mix.
NON_MEMBER_TAKEOUT_BLEND = 0.5

# -- seasonality --------------------------------------------------------------------------------------

WEEKEND_MULTIPLIER = 1.3  # Saturday and Sunday visits relative to a weekday
SPRING_FESTIVAL_WEEK_MULTIPLIER = 0.6  # the 7 days from New Year's Eve
SPRING_FESTIVAL_WEEK_BEFORE_MULTIPLIER = 1.25  # the 7 days before New Year's Eve

# -- campaigns ----------------------------------------------------------------------------------------

# Campaign templates in priority order: the first n are run, placed in time order over the period.
#   kind, holdout share, coupon value CNY, outcome window days, extra-visit probability of treated
#   price-sensitive / other members, probability of redeeming on each visit that would have happened anyway
#   (price-sensitive / other), eligibility rule.
CAMPAIGN_TEMPLATES: tuple[dict, ...] = (
    dict(kind="coupon", holdout=0.2, value=15, window=14, p_ps=0.25, p_other=0.03, q_ps=0.6, q_other=0.25,
         eligible="active_90d", name="满减券·老客回流"),
    dict(kind="coupon", holdout=0.0, value=20, window=14, p_ps=0.22, p_other=0.03, q_ps=0.6, q_other=0.25,
         eligible="frequent_60d", name="会员日全员券"),
    dict(kind="birthday", holdout=0.2, value=30, window=7, p_ps=0.30, p_other=0.15, q_ps=0.7, q_other=0.4,
         eligible="birthday_month", name="生日礼券"),
    dict(kind="wake_up", holdout=0.3, value=20, window=30, p_ps=0.20, p_other=0.02, q_ps=0.6, q_other=0.25,
         eligible="lapsing", name="沉睡唤醒券"),
    dict(kind="new_member", holdout=0.5, value=10, window=30, p_ps=0.30, p_other=0.05, q_ps=0.7,
         q_other=0.3, eligible="new_30d", name="新人首单礼"),
    dict(kind="coupon", holdout=0.1, value=10, window=14, p_ps=0.25, p_other=0.03, q_ps=0.6, q_other=0.25,
         eligible="active_90d", name="周末聚餐券"),
    dict(kind="coupon", holdout=0.15, value=25, window=30, p_ps=0.28, p_other=0.04, q_ps=0.6,
         q_other=0.25, eligible="active_90d", name="季度回馈券"),
    dict(kind="wake_up", holdout=0.4, value=25, window=30, p_ps=0.18, p_other=0.02, q_ps=0.6, q_other=0.25,
         eligible="lapsing", name="想你了·回归券"),
    dict(kind="coupon", holdout=0.25, value=15, window=14, p_ps=0.25, p_other=0.03, q_ps=0.6,
         q_other=0.25, eligible="active_90d", name="周中回馈券"),
    dict(kind="coupon", holdout=0.1, value=20, window=14, p_ps=0.24, p_other=0.03, q_ps=0.6, q_other=0.25,
         eligible="active_90d", name="会员专享券"),
    dict(kind="new_member", holdout=0.3, value=15, window=30, p_ps=0.30, p_other=0.05, q_ps=0.7,
         q_other=0.3, eligible="new_30d", name="新会员回头礼"),
    dict(kind="coupon", holdout=0.2, value=20, window=14, p_ps=0.25, p_other=0.03, q_ps=0.6, q_other=0.25,
         eligible="active_90d", name="老友答谢券"),
)  # fmt: skip
WEEKS_PER_CAMPAIGN = 10  # about one campaign per ten weeks of history
MIN_CAMPAIGNS, MAX_CAMPAIGNS = 3, len(CAMPAIGN_TEMPLATES)
# A coupon needs a ticket of at least this multiple of its value (满减): members top up to reach it.
COUPON_MIN_SPEND_MULTIPLE = 1.5
# Eligibility windows (days before the start).
ACTIVE_DAYS = 90
FREQUENT_DAYS, FREQUENT_MIN_VISITS = 60, 2
LAPSING_DAYS = (45, 180)
NEW_MEMBER_DAYS = 30
BIRTHDAY_ACTIVE_DAYS = 365

# -- ground truth -------------------------------------------------------------------------------------

RETURN_WITHIN_DAYS = (7, 14, 30, 60, 90)
MONTE_CARLO_MEMBERS = 100_000
MONTE_CARLO_EXTRA_DAYS = 400  # follow-up after the period so no first visit is censored
