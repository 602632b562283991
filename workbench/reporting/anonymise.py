"""Anonymised reports for consultants: no member id of any kind, no store name, no small cells.

Two layers, both switched on by the notebooks' ``anonymise`` parameter:

1. :class:`AnonymisedStore` (``open_store(data, anonymise=True)``): the same contract tables seen through
   a view. Store ids and names become "Store 01", "Store 02" ... in the order of the store ids (stable
   from run to run); every member id (members, orders, assignments, coupons, group members, touches,
   referrers) becomes an opaque pseudonym; phone hashes and birthdays are nulled. Every analysis runs on it
   unchanged, so nothing downstream can print a real id or name.
2. :func:`protect` / :func:`suppress`: cells resting on fewer than ``k_min`` members (default
   K_MIN) are removed from a result before it is drawn (see :func:`suppress` for each result type), and
   member lists (the wake-up list) are replaced by counts per city (:func:`wake_up_counts`).

Cities, campaign names and amounts stay: they describe the business, not a person or a shop.
"""

from __future__ import annotations

import dataclasses
import warnings

import ibis
import pandas as pd

from workbench.data.store import Store, connect
from workbench.errors import ParameterError

# Cells with fewer members than this are suppressed: five is the usual minimum cell size of statistical
# disclosure control (a cell of 1-4 people can point at someone the reader knows).
K_MIN = 5
STORE_ALIAS = "Store {n:02d}"
# Pseudonyms: 16 hex digits (64 bits) of the SHA-256 of a fixed prefix and the id; collisions are
# negligible below billions of members, and the same id gets the same pseudonym in every table and run.
PSEUDONYM_PREFIX = "anon-"
PSEUDONYM_HEX_DIGITS = 16
_SALT = "workbench-anonymise:"
MEMBER_ID_COLUMNS = {
    "members": ("member_id", "referrer_id"),
    "orders": ("member_id",),
    "assignments": ("member_id",),
    "coupons": ("member_id",),
    "group_members": ("member_id",),
    "touches": ("member_id",),
}
STORE_ID_COLUMNS = {"stores": ("store_id",), "orders": ("store_id",), "members": ("join_store_id",), "groups": ("store_id",)}  # fmt: skip
# Personal columns nulled outright (a hash of a phone number is still an identifier).
NULLED_COLUMNS = {"members": ("phone_hash", "birthday_md")}


class AnonymisedStore(Store):
    """A :class:`Store` whose tables hide member ids, phone hashes, birthdays and store names."""

    def __init__(self, base: Store):
        super().__init__(base.backend, settings=base.settings, source="anonymised store", path=None)
        # Derived tables (workbench.data.derived: _visits, ...) are read straight from the engine and hold
        # real ids; marked stale here, every analysis computes them from the anonymised orders instead.
        self._derived_fresh = False
        self._aliases = store_aliases(base)
        self._alias_table = ibis.memtable(
            pd.DataFrame({"alias_key": list(self._aliases), "alias_value": list(self._aliases.values())})
        )

    @property
    def aliases(self) -> dict[str, str]:
        """Real store id -> alias ('Store 01'); keep it out of anything you hand over."""
        return dict(self._aliases)

    def table(self, name: str) -> ibis.Table:
        t = super().table(name)
        columns = t.columns
        for column in NULLED_COLUMNS.get(name, ()):
            if column in columns:
                t = t.mutate(**{column: ibis.null(t[column].type())})
        for column in MEMBER_ID_COLUMNS.get(name, ()):
            if column in columns:
                t = t.mutate(**{column: pseudonym(t[column])})
        for column in STORE_ID_COLUMNS.get(name, ()):
            if column in columns:
                t = self._alias(t, column)
        if name == "stores":
            t = t.mutate(name=t.store_id)
        return t.select(*columns)

    def _alias(self, t: ibis.Table, column: str) -> ibis.Table:
        a = self._alias_table
        joined = t.left_join(a, t[column] == a.alias_key)
        return joined.mutate(**{column: joined.alias_value}).drop("alias_key", "alias_value")


def pseudonym(value: ibis.StringValue) -> ibis.StringValue:
    """An opaque, stable stand-in for an id column (null stays null)."""
    digest = (ibis.literal(_SALT) + value.cast("string")).hexdigest("sha256")
    return ibis.ifelse(value.isnull(), ibis.null("string"), PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS])


def store_aliases(db: Store) -> dict[str, str]:
    """Store id -> 'Store 01', 'Store 02' ... in the order of the store ids (stable from run to run)."""
    ids = sorted(str(s) for s in db.stores.select("store_id").to_pandas()["store_id"])
    return {sid: STORE_ALIAS.format(n=i) for i, sid in enumerate(ids, start=1)}


def _plain_warning(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {message}\n"


def open_store(data, *, anonymise: bool = False) -> Store:
    """``wb.connect(data)``, seen through :class:`AnonymisedStore` when ``anonymise`` is true.

    Also shows warnings as a plain line (category and message): a report page never carries the file
    and line of the code that warned, which would name folders of the machine that ran it.
    """
    warnings.formatwarning = _plain_warning
    db = connect(data)
    return AnonymisedStore(db) if anonymise else db


# -- small cells ---------------------------------------------------------------------------------------


def protect(result, *, anonymise: bool = False, k_min: int = K_MIN):
    """``suppress(result, k_min=k_min)`` when ``anonymise`` is true, else ``result`` unchanged."""
    _check_k(k_min)
    return suppress(result, k_min=k_min) if anonymise else result


def suppress(result, *, k_min: int = K_MIN):
    """The same result without the cells that rest on fewer than ``k_min`` members.

    CohortRetention    cohorts (per segment) with cohort_size < k_min leave ``table``; ``curve`` rows with
                       members < k_min leave ``curve``
    RepurchaseCycle    (segment, from_visit) cells with fewer than k_min members who made visit k leave every
                       frame; group_effect rows with members < k_min leave
    ChurnSurvival      segments with fewer than k_min members leave every frame (and the log-rank rows
                       that name them); at_risk_table counts below k_min become missing
    ChurnDrivers       levels (other than the reference) held by fewer than k_min members leave
    CampaignLift       segments where an arm has fewer than k_min members leave arms, lift and impact
    WeeklyKPIs         stores and join channels with fewer than k_min new members leave the rankings
    Lifecycle          state counts below k_min become missing; flows below k_min leave
    MemberTags         members of RFM classes with fewer than k_min members leave
    DataFrame          a frame with a member_id column is refused (use :func:`wake_up_counts`)
    Anything else raises ParameterError.
    """
    _check_k(k_min)
    kind = type(result).__name__
    if kind == "CohortRetention":
        t = result.table
        t = t[~((t["cohort_size"] > 0) & (t["cohort_size"] < k_min))].reset_index(drop=True)
        c = result.curve[result.curve["members"] >= k_min].reset_index(drop=True)
        return dataclasses.replace(result, table=t, curve=c)
    if kind == "RepurchaseCycle":
        m = result.medians
        small = m.loc[m["members"] < k_min, ["segment", "from_visit"]]
        keys = set(map(tuple, small.to_numpy().tolist()))

        def keep(frame: pd.DataFrame) -> pd.DataFrame:
            if frame.empty or not keys:
                return frame
            pairs = list(zip(frame["segment"], frame["from_visit"], strict=True))
            return frame[[p not in keys for p in pairs]].reset_index(drop=True)

        g = result.group_effect
        return dataclasses.replace(
            result,
            durations=keep(result.durations),
            intervals=keep(result.intervals),
            interval_histogram=keep(result.interval_histogram),
            returning=keep(result.returning),
            within=keep(result.within),
            medians=keep(result.medians),
            group_effect=g[g["members"] >= k_min].reset_index(drop=True),
        )
    if kind == "ChurnSurvival":
        small = set(result.medians.loc[result.medians["members"] < k_min, "segment"])
        drop = lambda f: f[~f["segment"].isin(small)].reset_index(drop=True)  # noqa: E731
        lr = result.logrank
        lr = lr[~(lr["segment_a"].isin(small) | lr["segment_b"].isin(small))].reset_index(drop=True)
        at = drop(result.at_risk_table).copy()
        at["at_risk"] = at["at_risk"].astype("float64").where(at["at_risk"] >= k_min)
        fitters = {k: v for k, v in result.fitters.items() if k not in small}
        return dataclasses.replace(
            result,
            curves=drop(result.curves),
            at_risk_table=at,
            medians=drop(result.medians),
            logrank=lr,
            rmst=drop(result.rmst),
            fitters=fitters,
        )
    if kind == "ChurnDrivers":
        hr = result.hazard_ratios
        keep = (hr["level"] == hr["reference"]) | (hr["members"] >= k_min)
        return dataclasses.replace(result, hazard_ratios=hr[keep].reset_index(drop=True))
    if kind == "CampaignLift":
        arms = result.arms
        small = set(arms.loc[arms["members"] < k_min, "segment"])
        if "all" in small:  # a campaign with a tiny arm cannot be shown at all
            small = set(arms["segment"])
        drop = lambda f: f[~f["segment"].isin(small)].reset_index(drop=True)  # noqa: E731
        return dataclasses.replace(
            result, arms=drop(arms), lift=drop(result.lift), impact=drop(result.impact)
        )
    if kind == "WeeklyKPIs":  # new members by store / channel: rows of fewer than k_min new members leave
        small = lambda f: f[f["new_members"] >= k_min].reset_index(drop=True)  # noqa: E731
        return dataclasses.replace(result, stores=small(result.stores), channels=small(result.channels))
    if kind == "Lifecycle":  # state counts below k_min become missing; flows below k_min leave
        counts = result.counts.copy()
        small = counts["members"] < k_min
        counts["members"] = counts["members"].astype("float64").where(~small)
        for column in ("visited", "share"):
            if column in counts:
                counts[column] = counts[column].astype("float64").where(~small)
        flows = result.flows[result.flows["members"] >= k_min].reset_index(drop=True)
        return dataclasses.replace(result, counts=counts, flows=flows)
    if kind == "MemberTags":  # members of RFM classes with fewer than k_min members leave
        m = result.members
        sizes = m.groupby("rfm_class", dropna=False)["member_id"].transform("size")
        return dataclasses.replace(result, members=m[sizes >= k_min].reset_index(drop=True))
    if isinstance(result, pd.DataFrame) and "member_id" in result.columns:
        raise ParameterError(
            "a frame with member_id cannot be anonymised cell by cell; use wake_up_counts(...) for a "
            "wake-up list, or leave the list out."
        )
    raise ParameterError(
        f"suppress() does not know results of type {kind}; expected one of: CohortRetention, "
        "RepurchaseCycle, ChurnSurvival, ChurnDrivers, CampaignLift, WeeklyKPIs, Lifecycle, MemberTags."
    )


def wake_up_counts(df: pd.DataFrame, *, k_min: int = K_MIN) -> pd.DataFrame:
    """A wake-up list reduced to counts per city, without any member id.

    Columns: city, overdue_members (int), expected_value (currency, sum over the city's members),
    median_days_since_last (days), median_overdue_ratio (x own cycle). Cities with fewer than ``k_min``
    overdue members are pooled into one row 'other'; if that pool is still smaller than k_min it is
    dropped. Sorted by overdue_members, most first.
    """
    _check_k(k_min)
    columns = ["city", "overdue_members", "expected_value", "median_days_since_last", "median_overdue_ratio"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    sizes = df.groupby("city")["member_id"].transform("size")
    city = df["city"].astype(str).where(sizes >= k_min, "other")
    g = df.assign(city=city).groupby("city", sort=True)
    out = pd.DataFrame(
        {
            "overdue_members": g.size().astype("int64"),
            "expected_value": g["expected_value"].sum(),
            "median_days_since_last": g["days_since_last"].median(),
            "median_overdue_ratio": g["overdue_ratio"].median(),
        }
    ).reset_index()
    out = out[out["overdue_members"] >= k_min]
    out = out.sort_values(["overdue_members", "city"], ascending=[False, True], kind="mergesort")
    return out[columns].reset_index(drop=True)


def _check_k(k_min) -> None:
    if isinstance(k_min, bool) or not isinstance(k_min, int) or k_min < 1:
        raise ParameterError(f"k_min={k_min!r} is not valid; expected a whole number of members >= 1.")
