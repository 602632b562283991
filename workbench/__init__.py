"""Member analytics workbench for restaurant chains' private domain (私域).

    import workbench as wb
    db = wb.connect("data/demo.duckdb")
"""

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
