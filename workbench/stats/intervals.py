"""Confidence intervals for one group: a proportion (Wilson score) and a mean (from n, sum, sum of squares).

Both are vectorised: pass scalars, numpy arrays or pandas Series (a whole retention table at once) and get
the same container back (a Series keeps the index of the first argument). Cells that cannot be estimated
(n = 0 for a proportion, n < 2 for a mean) come back as NaN without a warning: in a table, such cells are
expected (incomplete cohorts), and the analysis that owns the table decides whether to warn.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from workbench.errors import ParameterError
from workbench.stats._common import DEFAULT_CONFIDENCE, check_share, shaped_like
from workbench.stats.moments import centered_sum_sq


def wilson_interval(successes: Any, n: Any, *, confidence: float = DEFAULT_CONFIDENCE) -> tuple[Any, Any]:
    """Wilson score interval of the proportion ``successes / n``.

    Returns ``(low, high)``, shares in [0, 1], shaped like ``successes`` (float, array or Series). n = 0
    (or a NaN input) gives NaN; k = 0 gives low = 0 exactly, k = n gives high = 1 exactly. Computed by
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``:
    (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = the normal (1+confidence)/2 quantile.

    Raises ParameterError when a count is negative or larger than its n, or confidence is not in (0, 1).
    """
    level = check_share("confidence", confidence)
    k = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    k, m = np.broadcast_arrays(k, m)
    known = np.isfinite(k) & np.isfinite(m)
    bad = known & ((m < 0) | (k < 0) | (k > m))
    if bad.any():
        i = np.flatnonzero(bad.ravel())[0]
        raise ParameterError(
            f"successes={k.ravel()[i]:g}, n={m.ravel()[i]:g} is not valid; expected 0 <= successes <= n."
        )
    usable = known & (m > 0)
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    if usable.any():
        lo, hi = proportion_confint(k[usable], m[usable], alpha=1.0 - level, method="wilson")
        low[usable] = np.clip(lo, 0.0, 1.0)
        high[usable] = np.clip(hi, 0.0, 1.0)
        # k = 0 and k = n are exact bounds of the score interval; keep them free of rounding.
        low[usable & (k == 0)] = 0.0
        high[usable & (k == m)] = 1.0
    return shaped_like(low, successes), shaped_like(high, successes)


def mean_interval(
    n: Any,
    total: Any,
    sum_sq: Any,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    method: Literal["t", "normal"] = "t",
) -> tuple[Any, Any, Any]:
    """Confidence interval of a mean from the group's count, sum and sum of squares.

    Returns ``(mean, low, high)`` in the units of the values, shaped like ``n``. The half-width is
    q · s / sqrt(n) with s the sample standard deviation (ddof=1); q is the Student t quantile with n - 1
    degrees of freedom (``method="t"``, the default: exact for normal data, and the normal quantile for
    large n) or the standard normal quantile (``method="normal"``), from ``scipy.stats``. The mean is NaN
    for n = 0; the bounds are NaN for n < 2.
    """
    level = check_share("confidence", confidence)
    if method not in ("t", "normal"):
        raise ParameterError(f"method={method!r} is not valid; expected one of: t, normal.")
    m = np.asarray(n, dtype=float)
    s = np.asarray(total, dtype=float)
    ss = np.asarray(sum_sq, dtype=float)
    m, s, ss = np.broadcast_arrays(m, s, ss)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(m > 0, s / m, np.nan)
        var = np.where(m >= 2, centered_sum_sq(m, ss, s) / (m - 1), np.nan)
        se = np.sqrt(var / m)
    tail = 0.5 + level / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = sps.t.ppf(tail, np.where(m >= 2, m - 1, np.nan)) if method == "t" else sps.norm.ppf(tail)
    low = mean - q * se
    high = mean + q * se
    return shaped_like(mean, n), shaped_like(low, n), shaped_like(high, n)
