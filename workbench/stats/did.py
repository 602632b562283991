"""Difference-in-differences against a comparison group matched by strata, from sufficient statistics.

For an observational campaign (no randomised control) each unit has d = outcome in the window − the same
outcome in an equal window just before. Units are grouped in strata of pre-campaign behaviour; within a
stratum, treated and comparison units are taken as alike. The effect on the treated (ATT) is

    sum_k w_k (mean_t,k − mean_c,k),   w_k = n_t,k / sum of n_t over strata that have comparison units

with variance sum_k w_k² (var_t,k / n_t,k + var_c,k / n_c,k) and a normal interval. Strata without
comparison units (or with fewer than 2 units on a side) are left out and counted in ``treated_unmatched``.
The result is observational: it assumes the two groups' outcomes would have moved in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from scipy import stats as st

from workbench.stats._common import warn_thin
from workbench.stats.moments import Moments


@dataclass(frozen=True)
class DidResult:
    """ATT by stratified difference-in-differences.

    effect, low, high   effect on the treated per unit (outcome units) and its interval
    p_value             two-sided, normal approximation
    treated_matched     treated units in strata with comparison units
    treated_unmatched   treated units left out (no comparable comparison units)
    comparison_units    comparison units in the used strata
    strata              strata used
    """

    effect: float
    low: float
    high: float
    p_value: float
    treated_matched: int
    treated_unmatched: int
    comparison_units: int
    strata: int

    def to_dict(self) -> dict:
        return asdict(self)


def stratified_did(
    treated: Mapping[str, Moments],
    comparison: Mapping[str, Moments],
    *,
    confidence: float = 0.95,
    label: str | None = None,
) -> DidResult:
    """ATT from per-stratum moments of the before/after difference d (see module docstring)."""
    used = [k for k, m in treated.items() if m.n >= 2 and k in comparison and comparison[k].n >= 2]
    n_treated = sum(m.n for m in treated.values())
    n_used = sum(treated[k].n for k in used)
    if n_used == 0:
        warn_thin("no stratum has both treated and comparison units; the effect cannot be estimated", label)
        nan = math.nan
        return DidResult(nan, nan, nan, nan, 0, int(n_treated), 0, 0)
    effect = variance = 0.0
    for k in used:
        t, c = treated[k], comparison[k]
        w = t.n / n_used
        effect += w * (t.mean - c.mean)
        variance += w * w * (t.variance / t.n + c.variance / c.n)
    se = math.sqrt(variance)
    z = st.norm.ppf(0.5 + confidence / 2)
    p = 2 * st.norm.sf(abs(effect) / se) if se > 0 else math.nan
    return DidResult(
        effect=effect,
        low=effect - z * se,
        high=effect + z * se,
        p_value=p,
        treated_matched=int(n_used),
        treated_unmatched=int(n_treated - n_used),
        comparison_units=int(sum(comparison[k].n for k in used)),
        strata=len(used),
    )
