"""What is in a store: rows per table, the date range, revenue, campaigns, quarantined rows."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from workbench.data import calendar
from workbench.data.store import Store, connect


@dataclass(frozen=True)
class StoreSummary:
    """A store at a glance.

    tables       one row per contract table present: table, rows
    first_day    local date of the first order
    last_day     local date of the last order
    revenue      sum of order amounts (chain's currency)
    member_revenue_share  share 0-1 of revenue from member orders
    stores, members, orders, campaigns  row counts (0 when the table is absent)
    quarantined  rows held in quarantine
    currency     the chain's currency code
    """

    tables: pd.DataFrame
    first_day: object
    last_day: object
    revenue: float
    member_revenue_share: float
    stores: int
    members: int
    orders: int
    campaigns: int
    quarantined: int
    currency: str
    source: str

    def format(self) -> str:
        lines = [
            f"Store: {self.source}",
            f"  stores     {self.stores:>12,}",
            f"  members    {self.members:>12,}",
            f"  orders     {self.orders:>12,}   {self.first_day} .. {self.last_day}",
            f"  revenue    {self.revenue:>15,.2f} {self.currency}"
            f"   (members {self.member_revenue_share:.0%})",
            f"  campaigns  {self.campaigns:>12,}",
            f"  quarantined rows {self.quarantined:,}",
            "  tables: " + ", ".join(f"{r.table} {r.rows:,}" for r in self.tables.itertuples()),
        ]
        return "\n".join(lines)


def store_summary(source) -> StoreSummary:
    """Summarise a store (a path, a Store or anything ``connect`` accepts)."""
    db = source if isinstance(source, Store) else connect(source)
    counts = pd.DataFrame([(name, db.count(name)) for name in db.tables], columns=["table", "rows"]).astype(
        {"rows": "int64"}
    )
    n = dict(zip(counts["table"], counts["rows"], strict=True))
    first = last = None
    revenue = member_share = float("nan")
    if db.has("orders") and n.get("orders"):
        o = db.orders
        row = (
            o.aggregate(  # the local days of the first and last timestamps: no day worked out per order
                first=calendar.local_day(o.ordered_at.min()),
                last=calendar.local_day(o.ordered_at.max()),
                revenue=o.amount.sum().cast("float64"),
                member_revenue=o.amount.sum(where=o.member_id.notnull()).cast("float64"),
            )
            .to_pandas()
            .iloc[0]
        )
        first, last = pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()
        revenue = float(row["revenue"])
        member_share = float(row["member_revenue"] or 0.0) / revenue if revenue else float("nan")
    return StoreSummary(
        tables=counts,
        first_day=first,
        last_day=last,
        revenue=revenue,
        member_revenue_share=member_share,
        stores=n.get("stores", 0),
        members=n.get("members", 0),
        orders=n.get("orders", 0),
        campaigns=n.get("campaigns", 0),
        quarantined=db.quarantined(),
        currency=db.settings.currency,
        source=db.source,
    )


__all__ = ["StoreSummary", "store_summary"]
