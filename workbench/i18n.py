"""Every label a user sees, in Chinese (zh-CN) and English.

Labels are looked up by key, never typed into figure or dashboard code. Modules add their own keys with
``register({...})`` at import; a key registered twice with different text is an error, so two modules cannot
silently disagree on a word. Business terms keep their Chinese beside the English where operators expect it
(客单价 / average ticket).
"""

from __future__ import annotations

from workbench.errors import ParameterError, choices_message

LANGS = ("zh", "en")

_LABELS: dict[str, tuple[str, str]] = {}
# Display names of attribute values, per attribute: {column: {value: (zh, en)}}.
_VALUES: dict[str, dict[str, tuple[str, str]]] = {}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ParameterError(choices_message("lang", lang, LANGS))
    return lang


def register(labels: dict[str, tuple[str, str]]) -> None:
    """Add label keys: {key: (zh, en)}."""
    for key, pair in labels.items():
        if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
            raise ValueError(f"label {key!r} needs a non-empty (zh, en) pair")
        if key in _LABELS and _LABELS[key] != tuple(pair):
            raise ValueError(f"label {key!r} registered twice with different text: {_LABELS[key]} vs {pair}")
        _LABELS[key] = tuple(pair)


def register_values(column: str, values: dict[str, tuple[str, str]]) -> None:
    """Add display names for the values of an attribute column."""
    _VALUES.setdefault(column, {}).update({k: tuple(v) for k, v in values.items()})


def t(key: str, lang: str = "zh", **fmt) -> str:
    """The label ``key`` in ``lang``, formatted with ``fmt``."""
    check_lang(lang)
    try:
        text = _LABELS[key][LANGS.index(lang)]
    except KeyError:
        raise KeyError(f"no label {key!r}; register it in the module that uses it") from None
    return text.format(**fmt) if fmt else text


def value_label(column: str, value, lang: str = "zh") -> str:
    """Display name of an attribute value (e.g. join_channel 'store_qr' -> 门店扫码); the value itself if unknown."""
    check_lang(lang)
    pair = _VALUES.get(column, {}).get(str(value))
    return pair[LANGS.index(lang)] if pair else str(value)


def keys() -> dict[str, tuple[str, str]]:
    return dict(_LABELS)


register(
    {
        "members": ("会员数", "Members"),
        "member": ("会员", "Member"),
        "orders": ("订单数", "Orders"),
        "visits": ("到店次数", "Visits"),
        "revenue": ("营收", "Revenue"),
        "average_ticket": ("客单价", "Average ticket"),
        "day": ("日", "Day"),
        "week": ("周", "Week"),
        "month": ("月", "Month"),
        "days": ("天", "Days"),
        "share": ("占比", "Share"),
        "segment": ("分组", "Segment"),
        "all": ("全部", "All"),
        "unknown": ("未知", "Unknown"),
        "cohort": ("同期群", "Cohort"),
        "cohort_size": ("同期群人数", "Cohort size"),
        "ci95": ("95% 置信区间", "95% interval"),
        "as_of": ("截至", "As of"),
        "no_data": ("所选条件下没有数据", "No data for the selected filters"),
        "observational": (
            "观察性结果（非随机对照，不能视为因果）",
            "Observational (no randomised control; not causal)",
        ),
        "treatment": ("实验组", "Treatment"),
        "control": ("对照组", "Control"),
        "currency_cny": ("元", "CNY"),
        "true": ("是", "Yes"),
        "false": ("否", "No"),
    }
)

register_values(
    "join_channel",
    {
        "store_qr": ("门店扫码", "Store QR code"),
        "takeout_card": ("外卖卡片", "Takeout card"),
        "mini_program": ("小程序", "Mini-program"),
        "referral": ("老带新", "Referral"),
        "official_account": ("公众号", "Official account"),
        "other": ("其他", "Other"),
        "unknown": ("未知", "Unknown"),
    },
)
register_values(
    "link_mode",
    {
        "friend_only": ("仅企微好友", "WeChat Work friend only"),
        "group_only": ("仅社群", "Group only"),
        "friend_then_group": ("先加好友后进群", "Friend, then group"),
        "group_then_friend": ("先进群后加好友", "Group, then friend"),
        "none": ("未连接", "Not linked"),
        "unknown": ("未知", "Unknown"),
    },
)
register_values(
    "channel",
    {
        "dine_in": ("堂食", "Dine-in"),
        "takeout_platform": ("外卖平台", "Takeout platform"),
        "mini_program": ("小程序点单", "Mini-program order"),
        "pickup": ("自提", "Pickup"),
    },
)
register_values("arm", {"treatment": ("实验组", "Treatment"), "control": ("对照组", "Control")})
register_values("store_format", {"direct": ("直营", "Direct"), "franchise": ("加盟", "Franchise")})
register_values(
    "medium",
    {
        "private_chat": ("私聊", "Private chat"),
        "group": ("社群消息", "Group message"),
        "moments": ("朋友圈", "Moments"),
        "sms": ("短信", "SMS"),
    },
)
register_values(
    "group_kind",
    {
        "store": ("门店群", "Store group"),
        "welfare": ("福利群", "Welfare group"),
        "vip": ("会员群", "VIP group"),
        "new_customer": ("新客群", "New-customer group"),
        "interest": ("兴趣群", "Interest group"),
    },
)
for _flag in ("vip", "in_group", "price_sensitive"):
    register_values(_flag, {"true": ("是", "Yes"), "false": ("否", "No"), "all": ("全部", "All")})
register_values("segment", {"all": ("全部", "All"), "unknown": ("未知", "Unknown")})


def segment_label(segment_by, value, lang: str = "zh") -> str:
    """Display name of a segment value split by ``segment_by`` (an attribute name, or 'custom' / None).

    The attribute's value label (join_channel 'store_qr' -> 门店扫码), else the shared words for 'all' and
    'unknown', else Yes / No for flags (the engine casts booleans to 'true' / 'false'), else the value.
    """
    text = str(value)
    column = segment_by if isinstance(segment_by, str) and segment_by != "custom" else "segment"
    label = value_label(column, text, lang)
    if label == text:
        label = value_label("segment", text, lang)
    if label == text and text.lower() in ("true", "false"):
        label = t(text.lower(), lang)
    return label
