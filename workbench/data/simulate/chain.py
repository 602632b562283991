"""The chain itself: stores in several cities and the community groups they run."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from workbench.data.simulate import params as P
from workbench.data.simulate.timeline import Timeline

CITY_NAMES = tuple(P.CITIES)
CUISINE_NAMES = tuple(P.CUISINES)
GROUP_KIND_CODES = {"store": 0, "welfare": 1, "vip": 2, "new_customer": 3, "interest": 4}
_NUMERALS = "一二三四五六七八九十"
# Stores that opened before the period did so between these many days before its first day.
OLD_STORE_OPENED_DAYS = (400, 8 * 365)
# Groups run by the brand (not a store) were created this many days before the period.
BRAND_GROUPS_CREATED_DAYS_BEFORE = 730


def stream(seed: int, *names: str) -> np.random.Generator:
    """An independent random generator for one component, keyed by name.

    Keys are stable hashes of the names, so adding a component never shifts the draws of another.
    """
    key = tuple(zlib.crc32(name.encode("utf-8")) for name in names)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


@dataclass
class Stores:
    """Stores as arrays (index = store number - 1).

    city, cuisine   codes into CITY_NAMES / CUISINE_NAMES
    direct          True for a direct store, False for a franchise
    opened_day      day index of the first trading day (negative: before the period)
    popularity      relative weight for members and walk-in trade
    names           Chinese store names ("杭州西湖店")
    """

    city: np.ndarray
    cuisine: np.ndarray
    direct: np.ndarray
    opened_day: np.ndarray
    popularity: np.ndarray
    names: list[str]

    @property
    def n(self) -> int:
        return len(self.city)

    def mean_ticket_cents(self) -> np.ndarray:
        means = np.array([v[0] for v in P.CUISINES.values()]) * 100
        return means[self.cuisine]

    def open_on(self, day: np.ndarray, store: np.ndarray) -> np.ndarray:
        return self.opened_day[store] <= day


def store_count(members: int) -> int:
    return int(np.clip(round(members / P.MEMBERS_PER_STORE), P.MIN_STORES, P.MAX_STORES))


def make_stores(n: int, tl: Timeline, rng: np.random.Generator) -> Stores:
    weights = np.array([v[1] for v in P.CITIES.values()])
    city = rng.choice(len(CITY_NAMES), size=n, p=weights / weights.sum())
    shares = np.array([v[2] for v in P.CUISINES.values()])
    cuisine = rng.choice(len(CUISINE_NAMES), size=n, p=shares / shares.sum())
    direct = rng.random(n) < P.DIRECT_STORE_SHARE
    popularity = rng.lognormal(0.0, P.STORE_POPULARITY_SIGMA, n)
    lo, hi = OLD_STORE_OPENED_DAYS
    opened = -rng.integers(lo, hi, n)
    n_new = max(1, round(n * P.NEW_STORE_SHARE))
    new = rng.choice(n, size=n_new, replace=False)
    first, last = min(30, tl.days // 4), max(min(30, tl.days // 4) + 1, tl.days - 60)
    opened[new] = rng.integers(first, last, n_new)
    # Names: city + district + 店; a district's second store is 二店 and so on.
    district_pick = rng.integers(0, 8, n)
    seen: dict[str, int] = {}
    names = []
    for c, d in zip(city.tolist(), district_pick.tolist(), strict=True):
        city_name = CITY_NAMES[c]
        base = city_name + P.CITIES[city_name][2][d]
        k = seen[base] = seen.get(base, 0) + 1
        suffix = "" if k == 1 else (_NUMERALS[k - 1] if k <= len(_NUMERALS) else str(k))
        names.append(f"{base}{suffix}店")
    return Stores(city, cuisine, direct, opened.astype(np.int64), popularity, names)


@dataclass
class Groups:
    """Community groups as arrays (index = group number - 1).

    kind        codes into GROUP_KIND_CODES
    store       store index running the group (-1: run by the brand)
    city        city code (-1: chain-wide)
    created_day day index of creation
    intensity   messages per member per day
    """

    kind: np.ndarray
    store: np.ndarray
    city: np.ndarray
    created_day: np.ndarray
    intensity: np.ndarray

    @property
    def n(self) -> int:
        return len(self.kind)

    def leave_hazard(self) -> np.ndarray:
        return P.GROUP_LEAVE_INTERCEPT + P.GROUP_LEAVE_SLOPE * self.intensity

    def of_kind_in_city(self, kind: str) -> list[np.ndarray]:
        """For each city code, the indices of its groups of ``kind`` (possibly empty)."""
        k = GROUP_KIND_CODES[kind]
        return [np.flatnonzero((self.kind == k) & (self.city == c)) for c in range(len(CITY_NAMES))]


def make_groups(stores: Stores, rng: np.random.Generator) -> Groups:
    kind, store, city, created = [], [], [], []
    brand_created = -BRAND_GROUPS_CREATED_DAYS_BEFORE
    for s in range(stores.n):  # one store group per store, created when the store opened
        kind.append(GROUP_KIND_CODES["store"])
        store.append(s)
        city.append(int(stores.city[s]))
        created.append(max(int(stores.opened_day[s]), brand_created))
    for c in range(len(CITY_NAMES)):
        n_city = int((stores.city == c).sum())
        if not n_city:
            continue
        per_kind = {
            "new_customer": -(-n_city // P.STORES_PER_CITY_GROUP),
            "welfare": -(-n_city // P.STORES_PER_CITY_GROUP),
            "vip": 1,
        }
        for name, count in per_kind.items():
            for _ in range(count):
                kind.append(GROUP_KIND_CODES[name])
                store.append(-1)
                city.append(c)
                created.append(brand_created)
    for _ in P.INTEREST_GROUPS:
        kind.append(GROUP_KIND_CODES["interest"])
        store.append(-1)
        city.append(-1)
        created.append(brand_created)
    n = len(kind)
    lo, hi = P.GROUP_INTENSITY_RANGE
    intensity = np.clip(rng.lognormal(np.log(P.GROUP_INTENSITY_MEDIAN), P.GROUP_INTENSITY_SIGMA, n), lo, hi)
    return Groups(
        np.array(kind, dtype=np.int8),
        np.array(store, dtype=np.int64),
        np.array(city, dtype=np.int64),
        np.array(created, dtype=np.int64),
        intensity,
    )
