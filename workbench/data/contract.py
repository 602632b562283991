"""The data contract as code: one schema per canonical table.

The loader, the validator and the simulator all read these definitions, and ``data/README.md`` documents
them for users. Logical types:

  id         text key (member, store, order ids are opaque strings)
  text       free text
  category   text restricted to ``allowed``
  timestamp  instant, time-zone aware (stored as UTC TIMESTAMPTZ; the chain's zone gives local days)
  date       calendar date
  decimal    money in the chain's currency, DECIMAL(18, 2): exact, never a float rounded by hand
  int        whole number
  share      number between 0 and 1
  month_day  'MM-DD' (a birthday without the year)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

MONEY_PRECISION, MONEY_SCALE = 18, 2

DUCKDB_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "category": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "decimal": f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})",
    "int": "BIGINT",
    "share": "DOUBLE",
    "month_day": "VARCHAR",
}

ARROW_TYPES = {
    "id": pa.string(),
    "text": pa.string(),
    "category": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "decimal": pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
    "int": pa.int64(),
    "share": pa.float64(),
    "month_day": pa.string(),
}


@dataclass(frozen=True)
class Column:
    """One column of a contract table.

    name        column name in the store
    type        logical type (see module docstring)
    required    must be present in every load, and non-null in every row
    allowed     permitted values for a category
    non_negative  numbers below zero are invalid (amounts, discounts)
    references  'table.column' this column points to (null means "none", e.g. a non-member order)
    description what the column means, for data/README.md
    """

    name: str
    type: str
    required: bool = False
    allowed: tuple[str, ...] = ()
    non_negative: bool = False
    references: str | None = None
    description: str = ""

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


@dataclass(frozen=True)
class Table:
    """A canonical table: its key, columns and what it holds."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str = ""
    required_table: bool = False
    # Rules that involve more than one column, checked by the validator: (rule name, explanation).
    row_rules: tuple[tuple[str, str], ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=not c.required) for c in self.columns])

    def create_sql(self, qualified_name: str | None = None) -> str:
        cols = ",\n  ".join(
            f'"{c.name}" {c.duckdb_type}' + (" NOT NULL" if c.required else "") for c in self.columns
        )
        return f'CREATE TABLE IF NOT EXISTS "{qualified_name or self.name}" (\n  {cols}\n)'


JOIN_CHANNELS = ("store_qr", "takeout_card", "mini_program", "referral", "official_account", "other")
LINK_MODES = ("friend_only", "group_only", "friend_then_group", "group_then_friend", "none")
ORDER_CHANNELS = ("dine_in", "takeout_platform", "mini_program", "pickup")
STORE_FORMATS = ("direct", "franchise")
ARMS = ("treatment", "control")
GROUP_KINDS = ("store", "welfare", "vip", "new_customer", "interest")
TOUCH_MEDIA = ("private_chat", "group", "moments", "sms")

C = Column

STORES = Table(
    "stores",
    key=("store_id",),
    required_table=True,
    description="One row per store of the chain.",
    columns=(
        C("store_id", "id", required=True, description="store identifier"),
        C("name", "text", required=True, description="store name as the chain writes it"),
        C("city", "text", required=True, description="city of the store"),
        C("region", "text", description="region or province"),
        C("opened_on", "date", description="first trading day; no orders before it"),
        C("format", "category", allowed=STORE_FORMATS, description="direct or franchise"),
        C("cuisine", "text", description="cuisine or brand line"),
    ),
)

MEMBERS = Table(
    "members",
    key=("member_id",),
    required_table=True,
    description="One row per member of the private domain. Never holds raw phone numbers or names.",
    columns=(
        C("member_id", "id", required=True, description="member identifier (opaque)"),
        C("joined_at", "timestamp", required=True, description="when the member joined"),
        C("join_channel", "category", allowed=JOIN_CHANNELS, description="how the member joined"),
        C("join_store_id", "id", references="stores.store_id", description="store where the member joined"),
        C(
            "link_mode",
            "category",
            allowed=LINK_MODES,
            description="how the member is linked: WeChat Work friend, community group, both (in which order), none",
        ),
        C("vip_since", "timestamp", description="when the member bought a VIP card; null if not VIP"),
        C("referrer_id", "id", references="members.member_id", description="member who referred this one"),
        C("birthday_md", "month_day", description="birthday as MM-DD"),
        C("phone_hash", "text", description="salted SHA-256 of the phone number (never the number)"),
    ),
)

ORDERS = Table(
    "orders",
    key=("order_id",),
    required_table=True,
    description="One row per order (ticket). member_id is null for non-member orders.",
    columns=(
        C("order_id", "id", required=True, description="order identifier"),
        C("store_id", "id", required=True, references="stores.store_id", description="store of the order"),
        C("ordered_at", "timestamp", required=True, description="when the order was placed"),
        C(
            "amount",
            "decimal",
            required=True,
            non_negative=True,
            description="amount paid after discount, in the chain's currency",
        ),
        C(
            "member_id",
            "id",
            references="members.member_id",
            description="member; null for a non-member order",
        ),
        C(
            "channel",
            "category",
            allowed=ORDER_CHANNELS,
            description="dine_in, takeout_platform, mini_program, pickup",
        ),
        C("discount", "decimal", non_negative=True, description="discount given (coupon face value used)"),
        C("coupon_id", "id", references="coupons.coupon_id", description="coupon redeemed on this order"),
    ),
)

CAMPAIGNS = Table(
    "campaigns",
    key=("campaign_id",),
    description="Marketing campaigns; a randomised holdout has holdout_share > 0.",
    row_rules=(("ends_after_start", "ends_at must not be before starts_at"),),
    columns=(
        C("campaign_id", "id", required=True, description="campaign identifier"),
        C("name", "text", required=True, description="campaign name"),
        C("kind", "text", required=True, description="e.g. coupon, wake_up, birthday, new_member"),
        C("starts_at", "timestamp", required=True, description="first moment of the campaign"),
        C("ends_at", "timestamp", required=True, description="last moment coupons are issued"),
        C("holdout_share", "share", description="planned share of eligible members held out as control"),
        C("coupon_value", "decimal", non_negative=True, description="face value of the campaign's coupon"),
        C(
            "outcome_window_days",
            "int",
            non_negative=True,
            description="days after assignment over which outcomes are counted",
        ),
    ),
)

ASSIGNMENTS = Table(
    "assignments",
    key=("campaign_id", "member_id"),
    description="Which arm each eligible member of a campaign was randomised to.",
    columns=(
        C("campaign_id", "id", required=True, references="campaigns.campaign_id", description="campaign"),
        C("member_id", "id", required=True, references="members.member_id", description="member"),
        C("arm", "category", required=True, allowed=ARMS, description="treatment or control"),
        C("assigned_at", "timestamp", description="when the member was assigned"),
    ),
)

COUPONS = Table(
    "coupons",
    key=("coupon_id",),
    description="Coupons issued to members; redeemed ones point to the order.",
    columns=(
        C("coupon_id", "id", required=True, description="coupon identifier"),
        C("campaign_id", "id", required=True, references="campaigns.campaign_id", description="campaign"),
        C("member_id", "id", required=True, references="members.member_id", description="member"),
        C("issued_at", "timestamp", required=True, description="when the coupon was issued"),
        C("redeemed_at", "timestamp", description="when it was redeemed; null if not"),
        C("order_id", "id", description="order it was redeemed on"),
        C("face_value", "decimal", non_negative=True, description="coupon value"),
    ),
)

GROUPS = Table(
    "groups",
    key=("group_id",),
    description="Community groups (WeChat groups) run by stores or the brand.",
    columns=(
        C("group_id", "id", required=True, description="group identifier"),
        C(
            "kind",
            "category",
            required=True,
            allowed=GROUP_KINDS,
            description="store, welfare, vip, new_customer, interest",
        ),
        C("store_id", "id", references="stores.store_id", description="store running the group"),
        C("created_at", "timestamp", description="when the group was created"),
    ),
)

GROUP_MEMBERS = Table(
    "group_members",
    key=("group_id", "member_id", "joined_at"),
    description="Spells of members in groups; a member may leave and re-join.",
    row_rules=(("left_after_joined", "left_at must not be before joined_at"),),
    columns=(
        C("group_id", "id", required=True, references="groups.group_id", description="group"),
        C("member_id", "id", required=True, references="members.member_id", description="member"),
        C("joined_at", "timestamp", required=True, description="when the member joined the group"),
        C("left_at", "timestamp", description="when the member left; null if still in"),
    ),
)

TOUCHES = Table(
    "touches",
    key=("touch_id",),
    description="Messages sent: to one member (member_id) or to a group (group_id).",
    row_rules=(("member_or_group", "a touch names a member_id or a group_id"),),
    columns=(
        C("touch_id", "id", required=True, description="touch identifier"),
        C("sent_at", "timestamp", required=True, description="when it was sent"),
        C(
            "medium",
            "category",
            required=True,
            allowed=TOUCH_MEDIA,
            description="private_chat, group, moments, sms",
        ),
        C("member_id", "id", references="members.member_id", description="member reached (one-to-one media)"),
        C("group_id", "id", references="groups.group_id", description="group reached (group messages)"),
        C(
            "campaign_id",
            "id",
            references="campaigns.campaign_id",
            description="campaign it belongs to, if any",
        ),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (STORES, MEMBERS, ORDERS, CAMPAIGNS, ASSIGNMENTS, COUPONS, GROUPS, GROUP_MEMBERS, TOUCHES)
}
REQUIRED_TABLES = tuple(name for name, t in TABLES.items() if t.required_table)

# Order in which tables load so that referenced tables exist first (orders reference coupons, coupons
# reference orders by id only, without a checked reference, so there is no cycle).
LOAD_ORDER = (
    "stores",
    "members",
    "campaigns",
    "assignments",
    "coupons",
    "orders",
    "groups",
    "group_members",
    "touches",
)
assert set(LOAD_ORDER) == set(TABLES)

# Tables the store keeps beside the contract tables.
QUARANTINE_TABLE = "_quarantine"
LOAD_LOG_TABLE = "_load_log"
META_TABLE = "_meta"


def table(name: str) -> Table:
    """The contract table called ``name``; a ContractError lists the valid names otherwise."""
    from workbench.errors import ContractError, choices_message

    try:
        return TABLES[name]
    except KeyError:
        raise ContractError(choices_message("table", name, TABLES)) from None


def references() -> list[tuple[str, str, str, str]]:
    """Every checked reference as (table, column, referenced table, referenced column)."""
    out = []
    for t in TABLES.values():
        for c in t.columns:
            if c.references:
                rt, rc = c.references.split(".")
                out.append((t.name, c.name, rt, rc))
    return out


def contract_markdown() -> str:
    """The contract as Markdown tables (the generated part of data/README.md)."""
    parts = []
    for t in TABLES.values():
        need = "required table" if t.required_table else "optional table"
        key = ", ".join(t.key)
        parts.append(f"### `{t.name}` ({need}; key: {key})\n\n{t.description}\n")
        parts.append("| column | type | required | rule | meaning |\n|---|---|---|---|---|")
        for c in t.columns:
            rules = []
            if c.allowed:
                rules.append("one of " + ", ".join(f"`{a}`" for a in c.allowed))
            if c.non_negative:
                rules.append(">= 0")
            if c.references:
                rules.append(f"refers to `{c.references}`")
            parts.append(
                f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {'; '.join(rules)} | {c.description} |"
            )
        for rule, text in t.row_rules:
            parts.append(f"\nRow rule `{rule}`: {text}.")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


README_BEGIN = "<!-- contract:begin (generated from workbench/data/contract.py; a test keeps it in step) -->"
README_END = "<!-- contract:end -->"


def render_data_readme(text: str) -> str:
    """``text`` (data/README.md) with the part between the contract markers regenerated."""
    head, _, rest = text.partition(README_BEGIN)
    _, _, tail = rest.partition(README_END)
    return f"{head}{README_BEGIN}\n{contract_markdown()}{README_END}{tail}"


if __name__ == "__main__":  # python -m workbench.data.contract data/README.md: regenerate the tables
    import sys

    target = sys.argv[1]
    with open(target, encoding="utf-8") as fh:
        current = fh.read()
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(render_data_readme(current))
