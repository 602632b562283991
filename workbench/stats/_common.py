"""Shared glue of the statistics modules: parameter checks, thin-cell warnings, array shapes."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ParameterError, ThinDataWarning

# The conventional two-sided confidence level of every interval in the workbench.
DEFAULT_CONFIDENCE = 0.95

NAN = math.nan


def check_share(name: str, value: float, *, closed: bool = False) -> float:
    """``value`` as a float strictly inside (0, 1) (or [0, 1] when ``closed``); a ParameterError otherwise."""
    v = float(value)
    inside = 0.0 <= v <= 1.0 if closed else 0.0 < v < 1.0
    if not inside:
        bounds = "[0, 1]" if closed else "(0, 1)"
        raise ParameterError(f"{name}={value!r} is not valid; expected a number in {bounds}.")
    return v


def check_positive(name: str, value: float) -> float:
    """``value`` as a finite float > 0; a ParameterError otherwise."""
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ParameterError(f"{name}={value!r} is not valid; expected a finite number > 0.")
    return v


def warn_thin(message: str, label: str | None = None) -> None:
    """Emit a ThinDataWarning, prefixed with the cell's label (segment, metric, ...) when given."""
    text = f"{label}: {message}" if label else message
    warnings.warn(text, ThinDataWarning, stacklevel=3)


def shaped_like(values: np.ndarray, template: Any) -> Any:
    """``values`` in the container of ``template``: a float for a scalar, a Series (same index) for a
    Series, otherwise a numpy array."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index)
    if np.ndim(template) == 0:
        return float(values)
    return values
