"""Wake-up list: members now overdue against their own rhythm, ranked by what waking them is worth.

A member is overdue when the days since their last visit exceed ``overdue_factor`` times their own cycle
(the median of the days between their consecutive visits), and not yet lost: at most ``lost_factor`` times
the cycle and at most ``max_days`` days. The engine computes one row per member (cycles, counts, revenue)
and keeps only the overdue ones; pandas scores and ranks that list.

    wake = wake_up_list(db, as_of="2026-11-22", limit=500)
    export_wake_up_list(wake, "wake_up.csv", lang="zh")   # for the store team, opens in Excel

What leaves the analyst's hands (the dashboard's table and CSV) carries a member key in place of the id:
``member_key`` = 'k-' + the first 16 hex digits of HMAC-SHA256(member id) under a key that only a holder of
the store has (:func:`member_key_secret`). :func:`resolve_member_keys` (``workbench resolve-keys``) turns
keys back into member ids for whoever holds the store and has to act on the list.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from workbench import i18n
from workbench.analyses import scope
from workbench.data import calendar, privacy
from workbench.data.store import Store
from workbench.errors import InputFileError, ParameterError

# Overdue after 1.5 own cycles: a regular one half-cycle late is the usual "gently remind" point.
OVERDUE_FACTOR = 1.5
# Lost after 4 own cycles: a member whose gaps are exponential with median c is still absent after 4c
# with probability 2^-4 = 6%, so most of them have left; waking those costs more than it returns.
LOST_FACTOR = 4.0
# Whatever the cycle, a year without a visit is lost (a rare visitor's cycle can be months long).
MAX_DAYS = 365
# Two visits give one interval, the least an own cycle can rest on.
MIN_VISITS = 2
# expected_value counts the revenue of this many days back in rhythm (a quarter, the horizon of a campaign).
VALUE_HORIZON_DAYS = 90
# Prior probability that an overdue member is still active before looking at how late they are (even odds:
# the list says nothing on whom the chain has already lost).
PRIOR_ACTIVE = 0.5

COLUMNS = (
    "rank",
    "member_id",
    "segment",
    "home_store_id",
    "city",
    "last_day",
    "days_since_last",
    "own_cycle_days",
    "cycle_source",
    "overdue_ratio",
    "visits",
    "revenue",
    "avg_ticket",
    "p_active",
    "expected_value",
)
# The only columns an export may carry: ids as stored (opaque; with a secret, member keys in their place),
# never a phone hash, a name or a raw phone.
EXPORT_COLUMNS = COLUMNS
CYCLE_SOURCES = ("own", "segment", "chain")
# A member key: 'k-' and 16 hex digits (64 bits) of the HMAC; two of a chain's members share a key with
# probability about n^2 / 2^65 (3e-8 for a million members), and resolving checks that none do.
MEMBER_KEY_COLUMN = "member_key"
MEMBER_KEY_PREFIX = "k-"
MEMBER_KEY_HEX_DIGITS = 16
MEMBER_KEY_PATTERN = re.compile(rf"^{MEMBER_KEY_PREFIX}[0-9a-f]{{{MEMBER_KEY_HEX_DIGITS}}}$")
# The member-key secret is HMAC(salt, this tag): the salt is not used as it is, so a member key and a
# phone hash never come from the same key.
MEMBER_KEY_TAG = b"workbench member key v1"
# Members whose stored fields make the fallback secret of a store without a salt (see member_key_secret).
FALLBACK_SECRET_MEMBERS = 64
# Decimals of the exported floats: days to a tenth, ratios to a hundredth, money to the cent, shares to 0.1%.
EXPORT_DECIMALS = {
    "own_cycle_days": 1,
    "overdue_ratio": 2,
    "revenue": 2,
    "avg_ticket": 2,
    "p_active": 3,
    "expected_value": 2,
}

i18n.register(
    {
        "wake_up.column.rank": ("排名", "Rank"),
        "wake_up.column.member_id": ("会员编号", "Member ID"),
        "wake_up.column.member_key": ("会员代码（已加密）", "Member key (hashed)"),
        "wake_up.column.home_store_name": ("归属门店名称", "Home store name"),
        "wake_up.column.segment": ("分组", "Segment"),
        "wake_up.column.home_store_id": ("归属门店", "Home store"),
        "wake_up.column.city": ("城市", "City"),
        "wake_up.column.last_day": ("最近到店日", "Last visit"),
        "wake_up.column.days_since_last": ("未到店天数", "Days since last visit"),
        "wake_up.column.own_cycle_days": ("个人复购周期（天）", "Own cycle (days)"),
        "wake_up.column.cycle_source": ("周期来源", "Cycle from"),
        "wake_up.column.overdue_ratio": ("逾期倍数", "Overdue (× cycle)"),
        "wake_up.column.visits": ("到店次数", "Visits"),
        "wake_up.column.revenue": ("累计消费", "Revenue"),
        "wake_up.column.avg_ticket": ("客单价", "Average ticket"),
        "wake_up.column.p_active": ("仍活跃概率", "Probability still active"),
        "wake_up.column.expected_value": ("唤醒预期价值", "Expected value of waking"),
    }
)
i18n.register_values(
    "cycle_source",
    {
        "own": ("本人", "Own"),
        "segment": ("同分组中位数", "Segment median"),
        "chain": ("全品牌中位数", "Chain median"),
    },
)


def wake_up_list(
    db: Store,
    *,
    as_of=None,
    overdue_factor: float = OVERDUE_FACTOR,
    lost_factor: float = LOST_FACTOR,
    max_days: int | None = MAX_DAYS,
    min_visits: int = MIN_VISITS,
    segment_by=None,
    limit: int | None = None,
    stores=None,
    cities=None,
    join_channels=None,
) -> pd.DataFrame:
    """Members overdue against their own cycle but not yet lost, best to wake first.

    Own cycle: the median of the member's days between consecutive visits up to ``as_of`` (the engine's
    median; with an even count the mean of the middle two), for members with at least ``min_visits``
    visits. Members with fewer visits (a one-visit member has no cycle) get the median own cycle of the
    members of their segment who have one (``segment_by``; without it, or when their segment has none, of
    every member in scope: 'chain'). ``cycle_source`` says which.

    Kept: overdue_ratio = days_since_last / own_cycle_days > ``overdue_factor`` and <= ``lost_factor``, and
    days_since_last <= ``max_days`` (None: no cap).

    Score (a simple, stated model, not a fitted one). If the member's gaps were exponential with median
    equal to their cycle c, an active member would still be absent after d days with probability
    q = 2^(-d/c); with even prior odds of being active (PRIOR_ACTIVE), the probability they still are is
      p_active = q * PRIOR_ACTIVE / (q * PRIOR_ACTIVE + 1 - PRIOR_ACTIVE).
    expected_value = avg_ticket * VALUE_HORIZON_DAYS / c * p_active: the revenue of a quarter back in
    rhythm, times the chance there is still someone to wake. It favours valuable, frequent members who are
    only a little late. Ties: fewer days since last visit first, then member_id.

    Columns, ranked (1 = wake first):
      rank              1, 2, ... (int)
      member_id         as stored (opaque; never a phone number or its hash)
      segment           the member's segment ('all' without segment_by)
      home_store_id, city   join store (else first-visit store) and its city
      last_day          local day of the last visit (datetime64)
      days_since_last   as_of - last_day (days)
      own_cycle_days    the cycle used (days, float)
      cycle_source      'own', 'segment' or 'chain'
      overdue_ratio     days_since_last / own_cycle_days
      visits            visits up to as_of (int)
      revenue           amount paid up to as_of (currency)
      avg_ticket        revenue / visits (currency per visit, 客单价)
      p_active          probability still active (0-1, see above)
      expected_value    currency (see above)
    ``limit`` keeps the first rows. ``attrs``: as_of, overdue_factor, lost_factor, max_days, min_visits.
    """
    _check_positive("overdue_factor", overdue_factor)
    _check_positive("lost_factor", lost_factor)
    if lost_factor <= overdue_factor:
        raise ParameterError(
            f"lost_factor={lost_factor!r} must be larger than overdue_factor={overdue_factor!r}; a member is "
            "overdue first and lost later."
        )
    if max_days is not None:
        _check_int("max_days", max_days, 1)
    _check_int("min_visits", min_visits, 2)
    if limit is not None:
        _check_int("limit", limit, 1)
    as_of = scope.resolve_as_of(db, as_of)
    v = scope.visits_in_scope(db, as_of=as_of, stores=stores, cities=cities, numbered=True)
    per = v.group_by("member_id").aggregate(
        visits=v.count(),
        revenue=v.amount.sum(),
        last_day=v.day.max(),
        own=v.days_since_prev.cast("float64").median(),
    )
    members = scope.scoped_members(
        db, as_of=as_of, segment_by=segment_by, stores=stores, cities=cities, join_channels=join_channels
    ).select("member_id", "segment", "home_store_id", "city")
    t = members.inner_join(per, "member_id")
    has_own = t.visits >= min_visits
    own = ibis.ifelse(has_own, t.own, ibis.null("float64"))
    t = t.mutate(
        has_own=has_own,
        seg_cycle=own.median().over(ibis.window(group_by=t.segment)),
        chain_cycle=own.median().over(ibis.window()),
    )
    use_segment = ibis.literal(segment_by is not None) & t.seg_cycle.notnull()
    cycle = ibis.cases((t.has_own, t.own), (use_segment, t.seg_cycle), else_=t.chain_cycle)
    source = ibis.cases((t.has_own, "own"), (use_segment, "segment"), else_="chain")
    since = calendar.date_literal(as_of).delta(t.last_day, unit="day")
    t = t.mutate(own_cycle_days=cycle, cycle_source=source, days_since_last=since)
    t = t.mutate(overdue_ratio=t.days_since_last.cast("float64") / t.own_cycle_days)
    keep = t.own_cycle_days.notnull() & (t.overdue_ratio > overdue_factor) & (t.overdue_ratio <= lost_factor)
    if max_days is not None:
        keep = keep & (t.days_since_last <= max_days)
    frame = (
        t.filter(keep)
        .select(
            "member_id",
            "segment",
            "home_store_id",
            "city",
            "last_day",
            "days_since_last",
            "own_cycle_days",
            "cycle_source",
            "overdue_ratio",
            "visits",
            "revenue",
        )
        .to_pandas()
    )
    out = _score(frame)
    if limit is not None:
        out = out.head(int(limit))
    out.attrs.update(
        as_of=as_of,
        overdue_factor=overdue_factor,
        lost_factor=lost_factor,
        max_days=max_days,
        min_visits=min_visits,
    )
    return out


def _score(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["member_id"] = out["member_id"].astype(str)
    out["segment"] = out["segment"].astype(str)
    out["last_day"] = pd.to_datetime(out["last_day"]).astype("datetime64[ns]")
    out["days_since_last"] = pd.to_numeric(out["days_since_last"]).astype("int64")
    out["visits"] = pd.to_numeric(out["visits"]).astype("int64")
    for c in ("own_cycle_days", "overdue_ratio", "revenue"):
        out[c] = pd.to_numeric(out[c]).astype("float64")
    out["avg_ticket"] = out["revenue"] / out["visits"]
    q = np.power(2.0, -out["days_since_last"] / out["own_cycle_days"])
    out["p_active"] = q * PRIOR_ACTIVE / (q * PRIOR_ACTIVE + 1 - PRIOR_ACTIVE)
    out["expected_value"] = out["avg_ticket"] * VALUE_HORIZON_DAYS / out["own_cycle_days"] * out["p_active"]
    out = out.sort_values(
        ["expected_value", "days_since_last", "member_id"], ascending=[False, True, True], kind="mergesort"
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype="int64")
    return out[list(COLUMNS)]


def member_key(member_id, secret: bytes) -> str:
    """'k-' + the first MEMBER_KEY_HEX_DIGITS hex digits of HMAC-SHA256(secret, member id as UTF-8 text)."""
    digest = hmac.new(secret, str(member_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return MEMBER_KEY_PREFIX + digest[:MEMBER_KEY_HEX_DIGITS]


def member_key_secret(db: Store) -> bytes:
    """The secret of the store's member keys (HMAC(salt, MEMBER_KEY_TAG)); reads, never creates, a file.

    The salt is the store's phone-hash salt: ``WORKBENCH_HASH_SALT`` when set, else the file
    ``<store>.salt`` that ``workbench load`` writes beside the store (:func:`privacy.read_salt`). A store
    without either (``workbench simulate`` writes no salt file; a Spark or in-memory store has no path) gets
    a salt made of what it holds: member id, join time and phone hash of its first FALLBACK_SECRET_MEMBERS
    members by id. Every holder of the store can compute it (and can read member ids anyway); nobody else
    can while the store's phone hashes were made under a secret salt. A store with no phone hash at all
    has only guessable fields there: set ``WORKBENCH_HASH_SALT`` for it. The same store and salt give the
    same secret, run after run.
    """
    salt = os.environ.get(privacy.SALT_ENV) or None
    if salt is None and getattr(db, "path", None) is not None:
        salt = privacy.read_salt(db.path)
    if salt is None:
        m = db.members
        fields = [c for c in ("member_id", "joined_at", "phone_hash") if c in m.columns]
        rows = m.select(*fields).order_by("member_id").limit(FALLBACK_SECRET_MEMBERS).to_pandas()
        salt = "\n".join(
            "\t".join("" if pd.isna(v) else str(v) for v in row) for row in rows.itertuples(False)
        )
    return hmac.new(salt.encode("utf-8"), MEMBER_KEY_TAG, hashlib.sha256).digest()


def member_keys(db: Store, member_ids) -> list[str]:
    """The member keys (see :func:`member_key`) of ``member_ids`` in the store ``db``, in their order."""
    secret = member_key_secret(db)
    return [member_key(i, secret) for i in member_ids]


def resolve_member_keys(db: Store, keys) -> list[str | None]:
    """The member ids of ``keys`` (member keys of this store, as a dashboard's wake-up CSV carries), in
    their order; None for a key no member of the store has (a list from another store, or a typo).

    Computes every member's key, so it takes about a second per million members.
    """
    secret = member_key_secret(db)
    ids = db.members.select("member_id").to_pandas()["member_id"].astype(str)
    lookup: dict[str, str] = {}
    for member in ids:
        key = member_key(member, secret)
        if lookup.setdefault(key, member) != member:
            raise ParameterError(
                f"two members of the store share the key {key} ({lookup[key]} and {member}); the keys of this "
                "store cannot be resolved."
            )
    return [lookup.get(str(k).strip()) for k in keys]


@dataclass(frozen=True)
class ResolvedList:
    """What :func:`resolve_wake_up_csv` wrote: the file, its rows, and how many keys no member has."""

    path: Path
    rows: int
    unresolved: int

    def format(self) -> str:
        text = f"{self.path}: {self.rows:,} rows, member_id beside member_key"
        if self.unresolved:
            text += f"; {self.unresolved:,} keys match no member of this store (member_id left empty)"
        return text


def resolve_wake_up_csv(db: Store, path, out) -> ResolvedList:
    """Read a wake-up CSV that carries member keys (the dashboard's download, in any language) and write
    it to ``out`` with the member ids of this store in a column right after the keys (header 会员编号 /
    Member ID / member_id, in the file's language); every other column as it was.

    The key column is the one headed member_key (or its zh / en label). Keys no member has leave the id
    empty and are counted in ``unresolved``.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"No file at {path}: expected a wake-up CSV downloaded from the dashboard.")
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    headers = {MEMBER_KEY_COLUMN: "member_id"}
    headers.update({i18n.t(f"wake_up.column.{MEMBER_KEY_COLUMN}", lang): i18n.t("wake_up.column.member_id", lang)
                    for lang in i18n.LANGS})  # fmt: skip
    found = [c for c in frame.columns if c in headers]
    if not found:
        raise InputFileError(
            f"{path} has no member key column; expected one of: {', '.join(headers)} (columns: "
            f"{', '.join(map(str, frame.columns))})."
        )
    column = found[0]
    ids = resolve_member_keys(db, frame[column])
    frame.insert(frame.columns.get_loc(column) + 1, headers[column], [i or "" for i in ids])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, encoding="utf-8-sig")
    return ResolvedList(path=out, rows=len(frame), unresolved=sum(i is None for i in ids))


def wake_up_export_frame(
    df: pd.DataFrame,
    *,
    lang: str | None = None,
    secret: bytes | None = None,
    store_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The frame :func:`export_wake_up_list` writes (see there), before it is written."""
    if "member_id" not in df.columns:
        raise ParameterError(
            f"the frame to export has no member_id column; expected a wake_up_list result (columns: "
            f"{', '.join(map(str, df.columns))})."
        )
    if lang is not None:
        i18n.check_lang(lang)
    out = df[[c for c in EXPORT_COLUMNS if c in df.columns]].copy()
    out.attrs = dict(df.attrs)
    out["member_id"] = out["member_id"].astype(str)
    if secret is not None:
        at = out.columns.get_loc("member_id")
        keys = [member_key(i, secret) for i in out["member_id"]]
        out = out.drop(columns="member_id")
        out.insert(at, MEMBER_KEY_COLUMN, keys)
    if store_names is not None and "home_store_id" in out:
        names = [store_names.get(str(s), "") for s in out["home_store_id"]]
        out.insert(out.columns.get_loc("home_store_id") + 1, "home_store_name", names)
    if "last_day" in out:
        out["last_day"] = pd.to_datetime(out["last_day"]).dt.strftime("%Y-%m-%d")
    for column, digits in EXPORT_DECIMALS.items():
        if column in out:
            out[column] = pd.to_numeric(out[column]).round(digits)
    if lang is not None:
        if "segment" in out:
            out["segment"] = [i18n.segment_label(None, v, lang) for v in out["segment"]]
        if "cycle_source" in out:
            out["cycle_source"] = [i18n.value_label("cycle_source", v, lang) for v in out["cycle_source"]]
        out.columns = [i18n.t(f"wake_up.column.{c}", lang) for c in out.columns]
    return out


def export_wake_up_list(
    df: pd.DataFrame,
    path,
    *,
    lang: str | None = None,
    secret: bytes | None = None,
    store_names: Mapping[str, str] | None = None,
) -> Path:
    """Write a wake-up list to CSV for a store team; returns the path.

    Only the columns of :data:`EXPORT_COLUMNS` present in ``df`` are written (a ``phone_hash`` or name
    column added by someone is left out), with days as YYYY-MM-DD and floats rounded (EXPORT_DECIMALS).
    ``secret`` (:func:`member_key_secret` of the store): the column ``member_key`` (see :func:`member_key`)
    stands where ``member_id`` stood, and the ids are not written; None writes member ids as stored.
    ``store_names`` ({store_id: name}): a column ``home_store_name`` follows ``home_store_id``.
    Encoding utf-8-sig (UTF-8 with BOM), so Excel opens Chinese text correctly. ``lang='zh'`` / ``'en'``
    writes display headers (会员编号 ...) and labels for the codes of ``segment`` ('all' -> 全部) and
    ``cycle_source`` ('own' -> 本人); None keeps the column names and codes. The file is written to a
    temporary name and moved into place, so a reader never sees half a list.
    """
    out = wake_up_export_frame(df, lang=lang, secret=secret, store_names=store_names)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            out.to_csv(fh, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ParameterError(f"{name}={value!r} is not valid; expected a number > 0.")


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{name}={value!r} is not valid; expected a whole number >= {minimum}.")
