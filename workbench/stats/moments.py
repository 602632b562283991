"""Sufficient statistics of one group: what the engine computes, and all the statistics need.

The engine (DuckDB, Spark, ...) reduces a group of members to a count, a sum and a sum of squares of the
outcome ``y`` and, for CUPED, the same of a pre-period covariate ``x`` plus the cross product ``sum(x*y)``
(see ``workbench.analyses.lift_outcomes.arm_moments``). A :class:`Moments` holds one such row; means,
variances and covariances follow from it without the member-level data. A proportion (conversion) is the
mean of a 0/1 outcome, so ``Moments.from_proportion(k, n)`` covers it (``sum = sum_sq = k``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ParameterError

NAN = math.nan

# Float64 carries ~16 digits; the one-pass formula sum(a²) − sum(a)²/n loses about log10(n) of them to
# rounding. A centered sum below 1e-12 of sum(a²) (a coefficient of variation under 1e-6) is rounding noise.
RELATIVE_ROUNDING = 1e-12


@dataclass(frozen=True)
class Moments:
    """Count, sum and sum of squares of an outcome y in one group (and, optionally, of a covariate x).

    Fields (units: those of y and x; n is a count of units, e.g. members):
      n                      number of units
      sum, sum_sq            sum of y, sum of y**2
      sum_x, sum_x_sq        sum of the covariate x, sum of x**2 (NaN when there is no covariate)
      sum_xy                 sum of x*y (NaN when there is no covariate)

    Moments of disjoint groups add (``a + b`` pools them). Properties use the sample (ddof=1) variance and
    are NaN when undefined (mean of 0 units, variance of fewer than 2).
    """

    n: float
    sum: float
    sum_sq: float
    sum_x: float = NAN
    sum_x_sq: float = NAN
    sum_xy: float = NAN

    def __post_init__(self) -> None:
        n = float(self.n)
        if not (math.isfinite(n) and n >= 0):
            raise ParameterError(f"Moments n={self.n!r} is not valid; expected a count >= 0.")

    # ---- constructors -------------------------------------------------------------------------------
    @classmethod
    def from_values(cls, y: Any, x: Any = None) -> Moments:
        """Moments of the values ``y`` (and of the covariate ``x``, same length), e.g. one arm's members.

        NaN values are not allowed (they would make every sum NaN): drop or fill them first.
        """
        ya = np.asarray(y, dtype=float).ravel()
        if x is None:
            return cls(n=ya.size, sum=float(ya.sum()), sum_sq=float(ya @ ya))
        xa = np.asarray(x, dtype=float).ravel()
        if xa.size != ya.size:
            raise ParameterError(f"x has {xa.size} values but y has {ya.size}; expected one x per y.")
        return cls(
            n=ya.size,
            sum=float(ya.sum()),
            sum_sq=float(ya @ ya),
            sum_x=float(xa.sum()),
            sum_x_sq=float(xa @ xa),
            sum_xy=float(xa @ ya),
        )

    @classmethod
    def from_proportion(cls, successes: float, n: float) -> Moments:
        """Moments of a 0/1 outcome with ``successes`` ones among ``n`` units (sum = sum_sq = successes)."""
        k, m = float(successes), float(n)
        if not (0 <= k <= m):
            raise ParameterError(
                f"successes={successes!r} is not valid for n={n!r}; expected 0 <= successes <= n."
            )
        return cls(n=m, sum=k, sum_sq=k)

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> Moments:
        """Moments from a mapping or a pandas row with keys n, sum, sum_sq and optionally sum_x, sum_x_sq,
        sum_xy (the columns of ``arm_moments``)."""
        missing = [k for k in ("n", "sum", "sum_sq") if k not in row]
        if missing:
            raise ParameterError(f"a moments row needs n, sum, sum_sq; missing: {', '.join(missing)}.")

        def get(key: str) -> float:
            value = row.get(key, None)
            return NAN if value is None or pd.isna(value) else float(value)

        return cls(
            n=float(row["n"]),
            sum=float(row["sum"]),
            sum_sq=float(row["sum_sq"]),
            sum_x=get("sum_x"),
            sum_x_sq=get("sum_x_sq"),
            sum_xy=get("sum_xy"),
        )

    def __add__(self, other: Moments) -> Moments:
        if not isinstance(other, Moments):
            return NotImplemented
        return Moments(
            n=self.n + other.n,
            sum=self.sum + other.sum,
            sum_sq=self.sum_sq + other.sum_sq,
            sum_x=self.sum_x + other.sum_x,
            sum_x_sq=self.sum_x_sq + other.sum_x_sq,
            sum_xy=self.sum_xy + other.sum_xy,
        )

    # ---- derived statistics -------------------------------------------------------------------------
    @property
    def has_covariate(self) -> bool:
        """True when sum_x, sum_x_sq and sum_xy are all known (finite)."""
        return all(math.isfinite(v) for v in (self.sum_x, self.sum_x_sq, self.sum_xy))

    @property
    def mean(self) -> float:
        """Mean of y (units of y); NaN when n = 0."""
        return self.sum / self.n if self.n > 0 else NAN

    @property
    def variance(self) -> float:
        """Sample variance of y, ddof=1 (units of y squared); NaN when n < 2."""
        return float(centered_sum_sq(self.n, self.sum_sq, self.sum)) / (self.n - 1) if self.n >= 2 else NAN

    @property
    def std(self) -> float:
        """Sample standard deviation of y (units of y); NaN when n < 2."""
        return math.sqrt(self.variance) if self.n >= 2 else NAN

    @property
    def mean_x(self) -> float:
        """Mean of the covariate x; NaN when n = 0 or there is no covariate."""
        return self.sum_x / self.n if self.n > 0 else NAN

    @property
    def variance_x(self) -> float:
        """Sample variance of x (ddof=1); NaN when n < 2 or there is no covariate."""
        return (
            float(centered_sum_sq(self.n, self.sum_x_sq, self.sum_x)) / (self.n - 1) if self.n >= 2 else NAN
        )

    @property
    def covariance_xy(self) -> float:
        """Sample covariance of x and y (ddof=1); NaN when n < 2 or there is no covariate."""
        if self.n < 2:
            return NAN
        return (self.sum_xy - self.sum_x * self.sum / self.n) / (self.n - 1)


def centered_sum_sq(n: Any, sum_sq: Any, total: Any) -> Any:
    """Sum of squared deviations from the mean, sum(a²) − sum(a)²/n, from the raw sums (vectorised).

    When every value is equal the two terms cancel and rounding leaves a tiny number of either sign (e.g.
    2e-18 for seven values of 0.1); anything within RELATIVE_ROUNDING of sum(a²) is that noise and is
    returned as exactly 0, so zero variance is recognised as zero.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        centered = sum_sq - total * total / n
        return np.where(centered <= RELATIVE_ROUNDING * np.abs(sum_sq), 0.0, centered) + 0.0
