"""The Cox model behind ``churn_drivers``: design columns, time-varying episodes, fit, PH test, concordance.

Pure pandas / numpy / lifelines, with statsmodels' PHReg to find lifelines' starting point (no store), so each piece can be checked on hand-sized frames.

Time-varying covariates use the counting-process form: one row (episode) per member and stretch of time
with constant covariates, ``(start, stop]``, the event on the last row of a churned member. lifelines'
CoxPHFitter fits it with ``entry_col='start'`` (the Andersen-Gill likelihood: a row is at risk at t when
start < t <= stop). lifelines' Schoenfeld residuals and concordance ignore entry times, so both are
computed here with the right risk sets (and in O(n log n) rather than lifelines' row-by-row loop), then
the residuals go through lifelines' own ``proportional_hazard_test``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import proportional_hazard_test

try:  # optional (pyproject: threadpoolctl); without it the fit is the same, only slower on a busy machine
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

START, STOP, EVENT = "start", "stop", "event"
# A column whose variance left after regressing it on the earlier columns is below this share of its own
# variance is a linear combination of them (aliased): the model cannot tell their effects apart.
ALIAS_TOLERANCE = 1e-6


def member_episodes(members: pd.DataFrame, changes: pd.DataFrame, flags: tuple[str, ...]) -> pd.DataFrame:
    """Counting-process rows from members and the times their flags switch.

    ``members``: row (int, unique), stop (> 0), event (bool), one row per member.
    ``changes``: row, t (switch time, >= 0; 0 = status at the start), flag (one of ``flags``), delta (+1 on,
    -1 off). A flag is on while the running sum of its deltas is > 0 (so overlapping spells count once).
    Returns row, start, stop, event (on the member's last episode only), and one bool column per flag,
    ordered by row and start. Switches at or after a member's stop are ignored.
    """
    m = members[["row", STOP, EVENT]].copy()
    c = changes[["row", "t", "flag", "delta"]].copy()
    c = c.merge(m[["row", STOP]], on="row", how="inner")
    c = c[c["t"] < c[STOP]].drop(columns=STOP)
    wide = pd.DataFrame({"row": c["row"].to_numpy(), "t": c["t"].to_numpy(dtype=float)})
    for f in flags:
        wide[f] = np.where(c["flag"].to_numpy() == f, c["delta"].to_numpy(), 0)
    base = pd.DataFrame({"row": m["row"].to_numpy(), "t": 0.0, **{f: 0 for f in flags}})
    steps = pd.concat([base, wide], ignore_index=True).groupby(["row", "t"], as_index=False, sort=True).sum()
    for f in flags:
        steps[f] = steps.groupby("row")[f].cumsum() > 0
    stops = m.set_index("row")[STOP]
    events = m.set_index("row")[EVENT]
    nxt = steps.groupby("row")["t"].shift(-1)
    last = nxt.isna()
    steps[STOP] = np.where(last, steps["row"].map(stops).to_numpy(dtype=float), nxt.to_numpy(dtype=float))
    steps[EVENT] = last.to_numpy() & steps["row"].map(events).to_numpy(dtype=bool)
    steps = steps.rename(columns={"t": START})
    return steps[["row", START, STOP, EVENT, *flags]].reset_index(drop=True)


def aliased_columns(X: pd.DataFrame) -> dict[str, str]:
    """Columns that are linear combinations of earlier columns (plus a constant): {column: 'aliased'}.

    Sequential Gram-Schmidt on the centred columns, in the frame's order, so the earlier column wins.
    """
    names = list(X.columns)
    A = X.to_numpy(dtype=float)
    A = A - A.mean(axis=0)
    G = A.T @ A
    kept: list[int] = []
    out: dict[str, str] = {}
    for j in range(len(names)):
        total = G[j, j]
        if total <= 0:
            out[names[j]] = "constant"
            continue
        if kept:
            K = np.ix_(kept, kept)
            coef = np.linalg.lstsq(G[K], G[kept, j], rcond=None)[0]
            left = total - G[j, kept] @ coef
        else:
            left = total
        if left <= ALIAS_TOLERANCE * total:
            out[names[j]] = "aliased"
        else:
            kept.append(j)
    return out


@contextmanager
def one_blas_thread():
    """Run numpy's BLAS on one thread inside the block.

    lifelines' time-varying likelihood makes a few small matrix products per churn day; OpenBLAS threads
    spin between them, and on a busy two-core machine the fit of 22,000 members took 54 s instead of 7 s.
    """
    with threadpool_limits(limits=1, user_api="blas") if threadpool_limits is not None else nullcontext():
        yield


def fit_cox(
    data: pd.DataFrame, columns: list[str], *, entry: bool, alpha: float, fallback_penalizer: float
) -> tuple[CoxPHFitter, float]:
    """Fit lifelines' CoxPHFitter unpenalised; refit with ``fallback_penalizer`` if it does not converge."""
    cols = [*columns, STOP, EVENT] + ([START] if entry else [])
    frame = data[cols].copy()
    frame[EVENT] = frame[EVENT].astype(int)
    for penalizer in (0.0, fallback_penalizer):
        cph = CoxPHFitter(penalizer=penalizer, alpha=alpha)
        start = _start_point(frame, columns) if entry and penalizer == 0 else None
        with warnings.catch_warnings(record=True) as caught, one_blas_thread():
            warnings.simplefilter("always")
            try:
                cph.fit(
                    frame,
                    duration_col=STOP,
                    event_col=EVENT,
                    entry_col=START if entry else None,
                    initial_point=start,
                )
            except (ConvergenceError, np.linalg.LinAlgError):
                continue
        if penalizer > 0 or not any(issubclass(w.category, ConvergenceWarning) for w in caught):
            return cph, penalizer
    raise ConvergenceError("the Cox model did not converge, even penalised")


def _start_point(frame: pd.DataFrame, columns: list[str]) -> np.ndarray | None:
    """Where lifelines' Newton steps start on counting-process rows: the maximum of the same partial
    likelihood (Efron ties, risk sets start < t <= stop) found by statsmodels' PHReg, on lifelines' scale.

    lifelines' fit with entry times walks the risk set of every event time over all rows at each step
    (8-9 s for 67,000 rows and 700 event times); PHReg updates risk sets as rows enter and leave (1.6 s). From
    its maximum lifelines converges in one or two steps, so the model, its summary and the PH test stay
    lifelines' own. lifelines fits standardised columns, so the coefficients are scaled by each column's
    standard deviation. None (lifelines starts from zero) if PHReg fails or gives no finite maximum.
    """
    from statsmodels.duration.hazard_regression import PHReg

    X = frame[columns].to_numpy(dtype=float)
    try:
        with warnings.catch_warnings(), one_blas_thread():
            warnings.simplefilter("ignore")
            fit = PHReg(
                frame[STOP].to_numpy(dtype=float),
                X,
                status=frame[EVENT].to_numpy(dtype=int),
                entry=frame[START].to_numpy(dtype=float),
                ties="efron",
            ).fit()
    except (np.linalg.LinAlgError, ValueError):
        return None
    beta = np.asarray(fit.params, dtype=float)
    if not np.all(np.isfinite(beta)):
        return None
    return beta * frame[columns].std(0).to_numpy(dtype=float)


def _fit_order(start, stop, event) -> np.ndarray:
    """Row order of lifelines' fitted data: by stop, then event, then position (pandas' stable lexsort)."""
    return np.lexsort((np.arange(len(stop)), event.astype(int), stop))


def schoenfeld_residuals(
    X: np.ndarray, beta: np.ndarray, start, stop, event
) -> tuple[np.ndarray, np.ndarray]:
    """Schoenfeld residuals (Efron ties, as lifelines) with risk sets start < t <= stop.

    Returns (rows, residuals): the positions of the event rows in lifelines' fitted order (by stop, event,
    position) and one residual row x_i - mean_x(t_i) for each. ``start`` = -inf for rows without entry.
    """
    X = np.asarray(X, dtype=float)
    start = np.asarray(start, dtype=float)
    stop = np.asarray(stop, dtype=float)
    event = np.asarray(event, dtype=bool)
    phi = np.exp(X @ beta)
    phi_x = phi[:, None] * X
    order = _fit_order(start, stop, event)
    ev = order[event[order]]
    times = stop[ev]
    uniq, first_pos, counts = np.unique(times, return_index=True, return_counts=True)
    # sums over rows with stop >= t minus rows with start >= t (those have stop > t too)
    r0, r1 = _suffix_sums(stop, phi, phi_x, uniq)
    s0, s1 = _suffix_sums(start, phi, phi_x, uniq)
    R0, R1 = r0 - s0, r1 - s1
    group = np.repeat(np.arange(len(uniq)), counts)
    D0 = np.bincount(group, weights=phi[ev], minlength=len(uniq))
    D1 = np.stack(
        [np.bincount(group, weights=phi_x[ev, k], minlength=len(uniq)) for k in range(X.shape[1])], 1
    )
    m = counts[group].astype(float)
    ell = (np.arange(len(ev)) - first_pos[group]).astype(float)
    frac = (ell / m)[:, None]
    term = (R1[group] - frac * D1[group]) / (R0[group] - frac[:, 0] * D0[group])[:, None] / m[:, None]
    mean = np.stack(
        [np.bincount(group, weights=term[:, k], minlength=len(uniq)) for k in range(X.shape[1])], 1
    )
    return ev, X[ev] - mean[group]


def _suffix_sums(key, phi, phi_x, at):
    """Sums of phi and phi_x over rows with key >= each value of ``at``."""
    o = np.argsort(key, kind="stable")
    k = key[o]
    c0 = np.concatenate([np.cumsum(phi[o][::-1])[::-1], [0.0]])
    c1 = np.concatenate([np.cumsum(phi_x[o][::-1], axis=0)[::-1], np.zeros((1, phi_x.shape[1]))])
    idx = np.searchsorted(k, at, side="left")
    return c0[idx], c1[idx]


def ph_test(
    cph: CoxPHFitter, data: pd.DataFrame, columns: list[str], *, entry: bool
) -> tuple[pd.DataFrame, pd.Series]:
    """lifelines' proportional_hazard_test (rank transform) on correctly computed scaled Schoenfeld residuals.

    Returns (summary with test_statistic and p per column, slope per column): the slope is the sum of
    (centred event rank) x (scaled residual), whose sign against the coefficient says whether the effect
    weakens (opposite signs) or grows over time.
    """
    X = data[columns].to_numpy(dtype=float)
    start = data[START].to_numpy(dtype=float) if entry else np.full(len(data), -np.inf)
    stop = data[STOP].to_numpy(dtype=float)
    event = data[EVENT].to_numpy(dtype=bool)
    beta = cph.params_[columns].to_numpy(dtype=float)
    _, resid = schoenfeld_residuals(X, beta, start, stop, event)
    V = cph.variance_matrix_.loc[columns, columns].to_numpy(dtype=float)
    scaled = pd.DataFrame(event.sum() * resid @ V, columns=columns)
    result = proportional_hazard_test(cph, None, time_transform="rank", precomputed_residuals=scaled)
    ranks = np.arange(1, len(scaled) + 1, dtype=float)
    ranks -= ranks.mean()
    slope = pd.Series(ranks @ scaled.to_numpy(), index=columns)
    return result.summary, slope


def concordance(score, start, stop, event) -> float:
    """Harrell's C with risk sets start < t <= stop (time-varying covariates, one row per episode).

    A pair is comparable when row i has its event at t and row j is at risk at t and leaves later (or is
    censored at t), as in lifelines; it is concordant when i's risk score is higher, half when tied. With
    every start before the first event this equals lifelines' ``concordance_index_``. NaN without pairs.
    """
    score = np.asarray(score, dtype=float)
    start = np.asarray(start, dtype=float)
    stop = np.asarray(stop, dtype=float)
    event = np.asarray(event, dtype=bool)
    o = np.argsort(score, kind="stable")
    s, a, b, e = score[o], start[o], stop[o], event[o]
    correct = tied = pairs = 0.0
    for t in np.unique(stop[event]):
        comparable = (a < t) & ((b > t) | ((b == t) & ~e))
        pool = s[comparable]
        died = score[event & (stop == t)]
        lo = np.searchsorted(pool, died, side="left")
        hi = np.searchsorted(pool, died, side="right")
        correct += lo.sum()
        tied += (hi - lo).sum()
        pairs += len(pool) * len(died)
    return float((correct + 0.5 * tied) / pairs) if pairs else float("nan")
