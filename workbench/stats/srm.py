"""Sample-ratio mismatch (SRM): do the observed arm sizes fit the planned split?

A randomised holdout that planned 10% control but got 12% usually means broken assignment or logging
(members dropped from one arm), and then no lift estimate can be trusted. The check is Pearson's
chi-square goodness-of-fit test of the observed counts against total × planned shares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from workbench.errors import ParameterError
from workbench.stats._common import NAN, check_share, warn_thin

# Flag a mismatch below this p-value. The SRM check runs on every campaign (and often every segment), so
# the industry convention (Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch"; GrowthBook,
# Optimizely) is a strict 0.001, keeping false alarms to 1 in 1,000 checks.
SRM_P_THRESHOLD = 0.001

# Planned shares may be typed by hand (0.9 / 0.1 or 1/3 each); accept sums this close to 1.
_SHARE_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SrmResult:
    """Result of the sample-ratio check.

    Fields:
      arms         arm names, in the order of the counts below
      observed     observed units per arm (counts)
      expected     total × planned share per arm (counts)
      chi2         Pearson chi-square statistic (k − 1 degrees of freedom)
      p_value      probability of a split at least this uneven under the plan
      mismatch     True when p_value < threshold: the arms do not follow the plan
      threshold    the p-value threshold used (default SRM_P_THRESHOLD = 0.001)
    """

    arms: tuple[str, ...]
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    mismatch: bool
    threshold: float


def sample_ratio_check(
    observed: Mapping[str, float] | Sequence[float],
    planned_shares: Mapping[str, float] | Sequence[float],
    *,
    threshold: float = SRM_P_THRESHOLD,
    label: str | None = None,
) -> SrmResult:
    """Chi-square test (``scipy.stats.chisquare``) of observed arm counts against the planned shares.

    ``observed`` and ``planned_shares`` are both mappings keyed by arm ({"treatment": 9012, "control":
    988} and {"treatment": 0.9, "control": 0.1}) or both sequences in the same order. Shares must be in
    (0, 1) and sum to 1. Returns an :class:`SrmResult`; with no units at all the statistic and p-value are
    NaN, ``mismatch`` is False, and a ThinDataWarning is emitted.
    """
    check_share("threshold", threshold)
    if isinstance(observed, Mapping) != isinstance(planned_shares, Mapping):
        raise ParameterError(
            "observed and planned_shares must both be mappings keyed by arm or both sequences."
        )
    if isinstance(observed, Mapping) and isinstance(planned_shares, Mapping):
        if set(observed) != set(planned_shares):
            raise ParameterError(
                f"observed arms {sorted(observed)} do not match planned arms {sorted(planned_shares)}; "
                "expected the same arm names."
            )
        arms = tuple(str(a) for a in planned_shares)
        counts = np.array([float(observed[a]) for a in planned_shares])
        shares = np.array([float(planned_shares[a]) for a in planned_shares])
    else:
        counts = np.asarray(observed, dtype=float).ravel()
        shares = np.asarray(planned_shares, dtype=float).ravel()
        if counts.size != shares.size:
            raise ParameterError(
                f"{counts.size} observed counts but {shares.size} planned shares; expected one share per arm."
            )
        arms = tuple(str(i) for i in range(counts.size))
    if counts.size < 2:
        raise ParameterError(f"the sample-ratio check needs at least 2 arms; got {counts.size}.")
    for arm, share in zip(arms, shares, strict=True):
        check_share(f"planned share of arm {arm}", share)
    if abs(shares.sum() - 1.0) > _SHARE_SUM_TOLERANCE:
        raise ParameterError(f"planned shares sum to {shares.sum():g}; expected them to sum to 1.")
    if (counts < 0).any() or not np.isfinite(counts).all():
        raise ParameterError(f"observed counts {counts.tolist()} are not valid; expected counts >= 0.")
    total = counts.sum()
    expected = total * shares
    if total <= 0:
        warn_thin("no units in any arm, so the sample-ratio check is NaN.", label)
        return SrmResult(arms, tuple(counts), tuple(expected), NAN, NAN, False, threshold)
    result = sps.chisquare(counts, expected)
    p = float(result.pvalue)
    return SrmResult(
        arms=arms,
        observed=tuple(float(c) for c in counts),
        expected=tuple(float(e) for e in expected),
        chi2=float(result.statistic),
        p_value=p,
        mismatch=bool(math.isfinite(p) and p < threshold),
        threshold=float(threshold),
    )
