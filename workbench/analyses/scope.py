"""What every analysis shares: the as_of day, the member filters, and member attributes to split by.

- ``resolve_as_of(db, as_of)``: an explicit day, or the data's last complete day (never the clock).
- ``member_attributes(db, as_of=...)``: one row per member (an Ibis table) with the attributes any
  analysis can split by (``SEGMENT_COLUMNS``).
- ``scoped_members(db, ...)``: those members narrowed by stores / cities / join channels, with an optional
  ``segment`` column from ``segment_by`` (an attribute name, or a pandas frame member_id -> segment);
  ``scoped_member_ids(db, ...)``: only their ids, without working out attributes when nothing filters.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from workbench.data import calendar, derived
from workbench.data.store import Store, read_meta
from workbench.errors import ParameterError

# Visits with a coupon at or above this share mark a member as price sensitive (DESIGN.md "Segments":
# price sensitivity = share of visits with a coupon). A third is the usual cut in chains' CRM tools.
PRICE_SENSITIVE_COUPON_SHARE = 1 / 3

SEGMENT_COLUMNS = (
    "join_channel",
    "link_mode",
    "vip",
    "in_group",
    "price_sensitive",
    "city",
    "home_store_id",
    "store_format",
    "cuisine",
    "first_ticket_band",
    "join_year_month",
)

# First-ticket bands in the chain's currency: lower bounds of each band (a member's first visit amount).
FIRST_TICKET_BANDS = (0, 50, 100, 200)


def resolve_as_of(db: Store, as_of=None) -> dt.date:
    """The analysis day: ``as_of`` if given, else the data's last complete local day.

    The last complete day is ``data_through`` recorded with the store (by the simulator or a load), else
    the day before the last order's local day (that day may still be filling up). A day before the first
    order raises a ParameterError naming the data's range.
    """
    first, last = order_day_range(db, required=True)
    if as_of is None:
        through = _meta(db).get("data_through")
        return calendar.as_date(through) if through else last - dt.timedelta(days=1)
    day = calendar.as_date(as_of)
    if day < first:
        raise ParameterError(
            f"as_of={day.isoformat()} is before the data starts ({first.isoformat()}); "
            f"expected a day between {first.isoformat()} and {last.isoformat()}."
        )
    return day


def order_day_range(db: Store, *, required: bool = False) -> tuple[dt.date | None, dt.date | None]:
    """Local days of the first and last order: (None, None) without orders, or with ``required`` a
    ParameterError saying the store has none. Read once per read-only store (``Store.remembered``)."""
    first, last = db.remembered(("order_day_range",), lambda: _order_day_range(db))
    if first is None and required:
        raise ParameterError(f"{db.source} has no orders; there is nothing to analyse.")
    return first, last


def _order_day_range(db: Store) -> tuple[dt.date | None, dt.date | None]:
    o = db.orders
    # The local day grows with the timestamp: the days of the first and last timestamps are the first and
    # last days, and the engine finds those two from its column statistics without casting every order.
    row = (
        o.aggregate(first=calendar.local_day(o.ordered_at.min()), last=calendar.local_day(o.ordered_at.max()))
        .to_pandas()
        .iloc[0]
    )
    if pd.isna(row["first"]):
        return None, None
    return pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()


def _meta(db: Store) -> dict[str, str]:
    return db.remembered(("meta",), lambda: _read_meta(db))


def _read_meta(db: Store) -> dict[str, str]:
    try:
        return read_meta(db.backend)
    except Exception:  # engines without the meta table
        return {}


# The members' columns :func:`member_attributes` reads.
ATTRIBUTE_INPUTS = ("member_id", "joined_at", "join_store_id", "join_channel", "link_mode", "vip_since")


def member_attributes(
    db: Store, *, as_of, members: ibis.Table | None = None, visits: ibis.Table | None = None
) -> ibis.Table:
    """One row per member who joined by ``as_of``, with the attributes analyses split by; ``members``: a
    narrowed members table (at least the ATTRIBUTE_INPUTS columns) to work the attributes out for those
    members only; ``visits``: the visits up to ``as_of`` to count, at least those of ``members`` (default:
    every visit).

    Columns:
      member_id, joined_at, join_day (local date)
      join_channel, link_mode         as recorded ('unknown' when missing)
      home_store_id                   join store, else the store of the first visit
      city, store_format, cuisine     of the home store ('unknown' when missing)
      vip                             bool: bought a VIP card on or before as_of
      in_group                        bool: joined a community group on or before as_of (false without groups)
      first_day                       local day of the first visit (null: never visited by as_of)
      first_ticket                    amount of the first visit (currency)
      first_ticket_band               '0-50', '50-100', '100-200', '200+' (or 'no visit')
      visits, coupon_visits           visits up to as_of, of which with a coupon
      price_sensitive                 bool: coupon_visits / visits >= PRICE_SENSITIVE_COUPON_SHARE
      join_year_month                 'YYYY-MM' of joining
    """
    from workbench.data.visits import visits as member_visits

    day = calendar.date_literal(as_of)
    # Instants, not local days, are compared: the engine then works out no local day of rows it drops.
    day_after = calendar.day_start(calendar.as_date(as_of) + dt.timedelta(days=1), db.settings.timezone)
    m = db.members if members is None else members
    m = m.filter(m.joined_at < day_after)
    m = m.mutate(join_day=calendar.local_day(m.joined_at))
    v = member_visits(db, as_of=as_of) if visits is None else visits
    first = first_visits(db, as_of=as_of)
    if members is not None:  # count the visits of these members only, not of every member
        v = v.filter(v.member_id.isin(members.member_id))
        first = first.filter(first.member_id.isin(members.member_id))
    counts = v.group_by("member_id").aggregate(
        visits=v.count(), coupon_visits=v.coupon_used.cast("int64").sum()
    )
    t = m.left_join(first, "member_id").drop("member_id_right")
    t = t.left_join(counts, "member_id").drop("member_id_right")
    t = t.mutate(home_store_id=t.join_store_id.coalesce(t.first_store_id))
    s = db.stores.select(store_key="store_id", city="city", store_format=db.stores.format, cuisine="cuisine")
    t = t.left_join(s, t.home_store_id == s.store_key).drop("store_key")
    in_group = ibis.literal(False)
    if db.has("group_members"):
        gm = db.group_members
        if members is not None:
            gm = gm.filter(gm.member_id.isin(m.member_id))
        joined = (
            gm.filter(gm.joined_at < day_after)
            .select(gm_member="member_id")
            .distinct()
            .mutate(in_group_flag=ibis.literal(True))
        )
        t = t.left_join(joined, t.member_id == joined.gm_member).drop("gm_member")
        in_group = t.in_group_flag.fill_null(False)
    visits_n = t.visits.fill_null(0)
    coupon_n = t.coupon_visits.fill_null(0)
    bands = FIRST_TICKET_BANDS
    band = ibis.cases(
        (t.first_ticket.isnull(), "no visit"),
        *[(t.first_ticket < hi, f"{lo}-{hi}") for lo, hi in zip(bands[:-1], bands[1:], strict=True)],
        else_=f"{bands[-1]}+",
    )
    return t.select(
        "member_id",
        "joined_at",
        "join_day",
        join_channel=t.join_channel.fill_null("unknown"),
        link_mode=t.link_mode.fill_null("unknown"),
        home_store_id=t.home_store_id,
        city=t.city.fill_null("unknown"),
        store_format=t.store_format.fill_null("unknown"),
        cuisine=t.cuisine.fill_null("unknown"),
        vip=t.vip_since.notnull() & (calendar.local_day(t.vip_since) <= day),
        in_group=in_group,
        first_day=t.first_day,
        first_ticket=t.first_ticket,
        first_ticket_band=band,
        visits=visits_n,
        coupon_visits=coupon_n,
        price_sensitive=(visits_n > 0)
        & (coupon_n.cast("float64") >= visits_n.cast("float64") * PRICE_SENSITIVE_COUPON_SHARE),
        join_year_month=t.join_day.strftime("%Y-%m"),
    )


def scoped_members(
    db: Store,
    *,
    as_of,
    segment_by=None,
    stores=None,
    cities=None,
    join_channels=None,
) -> ibis.Table:
    """Members in scope with their attributes and a ``segment`` column (always present).

    ``stores`` / ``cities`` keep members whose home store (join store, else first-visit store) is among
    them; ``join_channels`` keeps members who joined through those channels. ``segment_by`` is a column of
    :func:`member_attributes` (see ``SEGMENT_COLUMNS``), or a pandas DataFrame with ``member_id`` and one
    more column (e.g. a latent flag, a tag from a CRM export); ``None`` puts every member in segment 'all'.
    Members missing from a segment frame get segment 'unknown'. The segment is text.

    A read-only store works out a few stores' members once and keeps them (``Store.remembered``): the
    analyses of a page each read them again, and each would otherwise compile and run the same query.
    """
    if kept_per_scope(db, stores):
        key = _members_key(as_of, stores, cities, join_channels)
        rows = db.remembered(key, lambda: _scoped(db, as_of, stores, cities, join_channels).to_pyarrow())
        return with_segment(ibis.memtable(rows), segment_by)
    return with_segment(_scoped(db, as_of, stores, cities, join_channels), segment_by)


def _members_key(as_of, stores, cities, join_channels) -> tuple:
    """The key :func:`scoped_members` keeps a scope's members under."""
    return ("scope.members", calendar.as_date(as_of), scope_key(stores=stores, cities=cities,
            join_channels=join_channels))  # fmt: skip


def kept_per_scope(db: Store, stores) -> bool:
    """True when :func:`scoped_members` keeps the members of ``stores`` (a few stores, a read-only store)."""
    return bool(stores) and db.remembers and len(_as_list(stores)) <= derived.STORE_ORDERS_MAX_STORES


def _scoped(db: Store, as_of, stores, cities, join_channels) -> ibis.Table:
    """:func:`scoped_members` before the segment: the attributes of the members the filters keep."""
    # A superset of the members of these stores first: their attributes only.
    from workbench.data.visits import home_store_visits

    home = home_store_visits(db, _as_list(stores), as_of=as_of) if stores else None
    t = member_attributes(
        db, as_of=as_of, members=_at_home_members(db, as_of=as_of, stores=stores, cities=cities), visits=home
    )
    if stores:
        t = t.filter(t.home_store_id.isin([str(s) for s in _as_list(stores)]))
    if cities:
        t = t.filter(t.city.isin([str(c) for c in _as_list(cities)]))
    if join_channels:
        t = t.filter(t.join_channel.isin([str(c) for c in _as_list(join_channels)]))
    return t


def scoped_member_ids(db: Store, *, as_of, stores=None, cities=None, join_channels=None) -> ibis.Table:
    """``member_id`` of the members :func:`scoped_members` keeps (an Ibis table), working out only the
    attributes the filters read: none without a filter (every member who joined by ``as_of``), the home
    store (and its city) for ``stores`` / ``cities``; never the visit counts or groups of the others. Those
    of a few stores a read-only store already keeps come from :func:`scoped_members`."""
    if (
        kept_per_scope(db, stores)
        and db.recalled(_members_key(as_of, stores, cities, join_channels)) is not None
    ):
        members = scoped_members(db, as_of=as_of, stores=stores, cities=cities, join_channels=join_channels)
        return members.select("member_id")
    m = db.members
    m = m.filter(
        m.joined_at < calendar.day_start(calendar.as_date(as_of) + dt.timedelta(days=1), db.settings.timezone)
    )
    if join_channels:
        m = m.filter(m.join_channel.fill_null("unknown").isin([str(c) for c in _as_list(join_channels)]))
    if stores or cities:
        m = at_home_stores(db, m, as_of=as_of, stores=stores, cities=cities)
        f = first_visits(db, as_of=as_of).select(f_member="member_id", f_store="first_store_id")
        m = m.left_join(f, m.member_id == f.f_member)
        m = m.mutate(home_store_id=m.join_store_id.coalesce(m.f_store))
        if stores:
            m = m.filter(m.home_store_id.isin([str(s) for s in _as_list(stores)]))
        if cities:
            s = db.stores.select(s_key="store_id", s_city="city")
            m = m.left_join(s, m.home_store_id == s.s_key)
            m = m.filter(m.s_city.fill_null("unknown").isin([str(c) for c in _as_list(cities)]))
    return m.select("member_id")


def visits_in_scope(
    db: Store, *, as_of, stores=None, cities=None, channels=None, numbered: bool = False
) -> ibis.Table:
    """The visits up to ``as_of`` (:func:`workbench.data.visits.visits`; with ``numbered``, those of
    ``numbered_visits``; with ``channels``, visits made of those channels' orders, numbered among
    themselves) of the members a store or city filter may keep: join the members in scope after this.
    With a few ``stores`` and no ``channels``, exactly their members' visits, read from the visits the
    store keeps by home store (``visits.home_store_visits``); otherwise :func:`of_members_in_scope` of
    all the visits."""
    from workbench.data.visits import home_store_visits, numbered_visits
    from workbench.data.visits import visits as member_visits

    if stores and not channels:
        home = home_store_visits(db, _as_list(stores), as_of=as_of, numbered=numbered)
        if home is not None:
            return home
    read = numbered_visits if numbered else member_visits
    v = read(db, as_of=as_of, channels=channels)
    return of_members_in_scope(db, v, as_of=as_of, stores=stores, cities=cities)


def of_members_in_scope(db: Store, rows: ibis.Table, *, as_of, stores=None, cities=None) -> ibis.Table:
    """``rows`` (any table with ``member_id``, e.g. the visits) of the members a store or city filter may
    keep (:func:`at_home_stores`: a superset, exact but for members who joined after ``as_of``): join the
    members in scope after this. ``rows`` unchanged without such a filter. Aggregate per member after
    this, not before: a store's few hundred members, not a million. :func:`scoped_members` narrows its
    visit counts the same way, so a query reading both reads the narrowed visits once."""
    narrowed = _at_home_members(db, as_of=as_of, stores=stores, cities=cities)
    return rows if narrowed is None else rows.filter(rows.member_id.isin(narrowed.member_id))


def _at_home_members(db: Store, *, as_of, stores, cities) -> ibis.Table | None:
    """The members table narrowed by :func:`at_home_stores` (None: no store or city narrows it)."""
    if not (stores or cities):
        return None
    every = db.members.select(*ATTRIBUTE_INPUTS)  # the engine then reads these columns of the members only
    narrowed = at_home_stores(db, every, as_of=as_of, stores=stores, cities=cities)
    return None if narrowed is every else narrowed


def at_home_stores(db: Store, members: ibis.Table, *, as_of, stores=None, cities=None) -> ibis.Table:
    """``members`` (a members table) narrowed before their home store is worked out: those who joined at
    one of ``stores`` (or a store of ``cities``), or joined at none and first visited one. A superset of
    the members whose home store (city) matches, which the caller still filters exactly; the engine then
    joins the first visits of a few members, not of all. Unchanged when ``cities`` asks for 'unknown'."""
    if stores:
        wanted = [str(x) for x in _as_list(stores)]
    else:
        cities = [str(c) for c in _as_list(cities)]
        if not cities or "unknown" in cities:
            return members
        s = db.stores
        wanted = s.filter(s.city.isin(cities)).select("store_id").to_pandas()["store_id"].astype(str).tolist()
    f = first_visits(db, as_of=as_of)
    first_there = f.filter(f.first_store_id.isin(wanted)).member_id
    return members.filter(
        members.join_store_id.isin(wanted)
        | (members.join_store_id.isnull() & members.member_id.isin(first_there))
    )


def first_visits(db: Store, *, as_of) -> ibis.Table:
    """Each member's first visit on or before ``as_of`` (an Ibis table; members without one are absent).

    Columns: member_id; first_day (local day of the first visit); first_store_id (its store); first_ticket
    (its amount, currency). Read from the derived first-visit table when it is fresh (a first visit after
    as_of there means no visit yet), otherwise worked out from the visits with a window.
    """
    from workbench.data.visits import visits as member_visits

    day = calendar.date_literal(as_of)
    if derived.fresh(db):
        f = db.backend.table(derived.FIRST_VISIT)
        return f.filter(f.first_day <= day).select(
            "member_id", "first_day", "first_store_id", first_ticket=f.first_ticket.cast("float64")
        )
    v = member_visits(db, as_of=as_of)
    w = ibis.window(group_by=v.member_id, order_by=v.day)
    return (
        v.mutate(rn=ibis.row_number().over(w))
        .filter(lambda t: t.rn == 0)
        .select("member_id", first_day="day", first_store_id="store_id", first_ticket="amount")
    )


def with_segment(t: ibis.Table, segment_by) -> ibis.Table:
    """Add the text column ``segment`` to a member table (see :func:`scoped_members`)."""
    if segment_by is None:
        return t.mutate(segment=ibis.literal("all"))
    if isinstance(segment_by, str):
        if segment_by not in SEGMENT_COLUMNS:
            raise ParameterError(
                f"segment_by={segment_by!r} is not a member attribute; expected one of: "
                + ", ".join(SEGMENT_COLUMNS)
                + " (or a DataFrame with member_id and a segment column)."
            )
        return t.mutate(segment=t[segment_by].cast("string"))
    if isinstance(segment_by, pd.DataFrame):
        others = [c for c in segment_by.columns if c != "member_id"]
        if "member_id" not in segment_by.columns or len(others) != 1:
            raise ParameterError(
                "segment_by as a DataFrame needs exactly two columns: member_id and the segment; "
                f"received columns {list(segment_by.columns)}."
            )
        values = segment_by[others[0]]
        # Text as the engines write it: booleans become 'true' / 'false' (as a cast to string does).
        text = values.map({True: "true", False: "false"}) if values.dtype == bool else values.astype(str)
        frame = pd.DataFrame({"seg_member_id": segment_by["member_id"].astype(str), "segment": text})
        seg = ibis.memtable(frame)
        joined = t.left_join(seg, t.member_id == seg.seg_member_id).drop("seg_member_id")
        return joined.mutate(segment=joined.segment.fill_null("unknown"))
    raise ParameterError(
        f"segment_by must be an attribute name or a DataFrame; received {type(segment_by).__name__}."
    )


def scope_key(*, stores=None, cities=None, join_channels=None) -> tuple:
    """The member filters as a key for results remembered per scope (``Store.remembered``): the values as
    text tuples, None for a filter not set; equal for filters that keep the same members."""
    return tuple(
        tuple(str(v) for v in _as_list(value)) if value else None for value in (stores, cities, join_channels)
    )


def _as_list(value) -> list:
    if isinstance(value, str | int):
        return [value]
    return list(value)
