"""Member analytics workbench for restaurant chains' private domain (私域).

    import workbench as wb
    db = wb.connect("data/demo.duckdb")
    retention = wb.cohort_retention(db, period="month", segment_by="join_channel")
    wb.figures.retention_heatmap(retention, lang="en")

Every analysis of ``workbench.analyses`` is available as ``wb.<name>``; figures as ``wb.figures.<name>``.
"""

import importlib

from workbench.config import Settings
from workbench.data.store import Store, connect
from workbench.errors import (
    ContractError,
    InputFileError,
    MappingError,
    MissingTableError,
    ParameterError,
    ThinDataWarning,
    ValidationFailed,
    WorkbenchError,
    WorkbenchWarning,
)

__version__ = "0.1.0"

_LAZY = {
    "figures": "workbench.figures",
    "stats": "workbench.stats",
    "analyses": "workbench.analyses",
    "reporting": "workbench.reporting",
    "dashboards": "workbench.dashboards",
}


def __getattr__(name: str):
    analyses = importlib.import_module("workbench.analyses")
    if name in analyses.EXPORTS:
        # From the defining module: `lifecycle` is both a function and the module that defines it.
        return getattr(importlib.import_module(f"workbench.analyses.{analyses.EXPORTS[name]}"), name)
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name == "load_files":
        from workbench.data.load import load_files

        return load_files
    if name == "validate_store":
        from workbench.data.validate import validate_store

        return validate_store
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = [
    "ContractError",
    "InputFileError",
    "MappingError",
    "MissingTableError",
    "ParameterError",
    "Settings",
    "Store",
    "ThinDataWarning",
    "ValidationFailed",
    "WorkbenchError",
    "WorkbenchWarning",
    "connect",
]
