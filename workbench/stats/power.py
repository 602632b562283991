"""Power of a two-arm comparison of means: the minimum detectable effect and the sample size it needs.

Both use the power function of the two-sample z-test, ``statsmodels.stats.power.NormalIndPower().power``
(campaign arms are hundreds to millions of members, where the t and z tests agree), two-sided, and solve
it with ``scipy.optimize.brentq`` to full precision (statsmodels' own ``solve_power`` stops at about 1e-4
relative, too loose for an MDE and a sample size to round-trip). With sd the per-member standard deviation
of the outcome (sqrt(p(1−p)) for a proportion p), the minimum detectable absolute effect is

    MDE ≈ (z_{1−α/2} + z_{power}) · sd · sqrt(1/n_treatment + 1/n_control)

(statsmodels also counts the negligible chance of rejecting in the wrong direction, so its MDE is a hair
smaller). The same sd is used in both arms: for proportions this is the baseline's variance, the usual
planning approximation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy.optimize import brentq
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower

from workbench.errors import ParameterError
from workbench.stats._common import NAN, check_positive, check_share

# Planning conventions: a 5% two-sided false-positive rate and 80% power (Cohen 1988).
DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.80

# Sample sizes are rounded up; first round away floating noise so that 10000.0000001 stays 10000.
_ROUND_DIGITS = 6
# Widen the closed-form bound a little so the root is strictly inside the bracket.
_BRACKET = 1.01


@dataclass(frozen=True)
class PowerResult:
    """A power calculation.

    Fields:
      n_treatment, n_control   units (members) per arm
      mde                      minimum detectable absolute effect (units of the outcome; share points for
                               a proportion: 0.012 = 1.2 points)
      mde_relative             mde / baseline mean (share, 0.10 = +10%); NaN without a baseline mean
      sd                       per-member standard deviation of the outcome used
      baseline_mean            control-arm mean assumed (NaN when not given)
      alpha, power             two-sided significance level and power
    """

    n_treatment: float
    n_control: float
    mde: float
    mde_relative: float
    sd: float
    baseline_mean: float
    alpha: float
    power: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
        return asdict(self)


def minimum_detectable_effect(
    n_treatment: float,
    n_control: float | None = None,
    *,
    sd: float | None = None,
    baseline_rate: float | None = None,
    baseline_mean: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> PowerResult:
    """The smallest true lift a two-sided test at ``alpha`` detects with probability ``power``.

    Give the arm sizes (``n_control`` defaults to ``n_treatment``: equal arms) and either the outcome's
    per-member ``sd`` (with ``baseline_mean`` for the relative MDE) or, for a conversion-type outcome, the
    control ``baseline_rate`` p (sd = sqrt(p(1−p)), baseline mean = p). Returns a :class:`PowerResult`
    with ``mde`` in the outcome's units. Solves ``NormalIndPower().power`` for the effect (brentq).
    """
    sd_, base = _outcome_scale(sd, baseline_rate, baseline_mean)
    a, pw = _levels(alpha, power)
    n_t = check_positive("n_treatment", n_treatment)
    n_c = n_t if n_control is None else check_positive("n_control", n_control)
    ratio = n_c / n_t
    upper = _closed_form_effect(n_t, ratio, a, pw)  # ignores the far tail, so power(upper) >= power
    effect = brentq(lambda d: _power(d, n_t, ratio, a) - pw, 0.0, upper * _BRACKET, xtol=1e-15, rtol=1e-13)
    mde = float(effect) * sd_
    return PowerResult(n_t, n_c, mde, _relative(mde, base), sd_, base, a, pw)


def required_sample_size(
    mde: float | None = None,
    *,
    relative_mde: float | None = None,
    sd: float | None = None,
    baseline_rate: float | None = None,
    baseline_mean: float | None = None,
    control_share: float = 0.5,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> PowerResult:
    """Members per arm needed to detect a true lift of ``mde`` (absolute, outcome units) or
    ``relative_mde`` (share of the baseline mean, 0.05 = +5%) with probability ``power``.

    ``control_share`` is the planned holdout share (0-1, campaigns.holdout_share; 0.5 = equal arms). The
    outcome's scale comes from ``sd`` (+ ``baseline_mean``) or ``baseline_rate`` as in
    :func:`minimum_detectable_effect`. Returns a :class:`PowerResult` whose n_treatment and n_control are
    rounded up to whole members. Solves ``NormalIndPower().power`` for n_treatment (brentq).
    """
    sd_, base = _outcome_scale(sd, baseline_rate, baseline_mean)
    a, pw = _levels(alpha, power)
    share = check_share("control_share", control_share)
    if (mde is None) == (relative_mde is None):
        raise ParameterError(
            "give exactly one of mde (absolute) or relative_mde (share of the baseline mean)."
        )
    if relative_mde is not None:
        if not math.isfinite(base) or base == 0:
            raise ParameterError(
                "relative_mde needs baseline_mean (or baseline_rate) to turn it into an absolute effect."
            )
        effect = check_positive("relative_mde", abs(float(relative_mde))) * abs(base)
    else:
        effect = check_positive("mde", abs(float(mde)))  # type: ignore[arg-type]
    ratio = share / (1.0 - share)  # control members per treated member
    d = effect / sd_
    # Closed form without the far tail: an upper bound of the n the exact power needs.
    upper = (_z(a, pw) / d) ** 2 * (1.0 + ratio) / ratio
    n_t = float(brentq(lambda n: _power(d, n, ratio, a) - pw, upper * 1e-6, upper * _BRACKET, rtol=1e-13))
    n_c = n_t * ratio
    return PowerResult(
        n_treatment=float(math.ceil(round(n_t, _ROUND_DIGITS))),
        n_control=float(math.ceil(round(n_c, _ROUND_DIGITS))),
        mde=effect,
        mde_relative=_relative(effect, base),
        sd=sd_,
        baseline_mean=base,
        alpha=a,
        power=pw,
    )


def _outcome_scale(
    sd: float | None, baseline_rate: float | None, baseline_mean: float | None
) -> tuple[float, float]:
    """(sd, baseline mean) from either sd (+ baseline_mean) or baseline_rate."""
    if (sd is None) == (baseline_rate is None):
        raise ParameterError("give exactly one of sd (a mean outcome) or baseline_rate (a proportion).")
    if baseline_rate is not None:
        p = check_share("baseline_rate", baseline_rate)
        if baseline_mean is not None and not math.isclose(float(baseline_mean), p):
            raise ParameterError(
                f"baseline_mean={baseline_mean!r} contradicts baseline_rate={baseline_rate!r}."
            )
        return math.sqrt(p * (1.0 - p)), p
    base = NAN if baseline_mean is None else float(baseline_mean)
    return check_positive("sd", sd), base  # type: ignore[arg-type]


def _levels(alpha: float, power: float) -> tuple[float, float]:
    a, pw = check_share("alpha", alpha), check_share("power", power)
    if pw <= a:
        raise ParameterError(f"power={power!r} is not valid with alpha={alpha!r}; expected power > alpha.")
    return a, pw


def _z(alpha: float, power: float) -> float:
    """z_{1−α/2} + z_{power}."""
    return float(norm.ppf(1.0 - alpha / 2) + norm.ppf(power))


def _closed_form_effect(n_treatment: float, ratio: float, alpha: float, power: float) -> float:
    """Standardised MDE of the textbook formula (the far rejection tail ignored)."""
    return _z(alpha, power) * math.sqrt(1.0 / n_treatment + 1.0 / (n_treatment * ratio))


def _power(effect: float, n_treatment: float, ratio: float, alpha: float) -> float:
    """Two-sided power of the z-test (``NormalIndPower().power``) at standardised effect ``effect``."""
    return float(NormalIndPower().power(effect, n_treatment, alpha, ratio=ratio, alternative="two-sided"))


def _relative(effect: float, base: float) -> float:
    return effect / base if math.isfinite(base) and base != 0 else NAN
