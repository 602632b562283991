"""Our exception and warning types.

Every error a user can cause (a bad file, a bad mapping, a parameter outside its choices) is a
:class:`WorkbenchError`: the CLI prints its message as one paragraph and exits with code 2, without a
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem the user can fix; the message says what was expected and what was received."""

    exit_code = 2


class ContractError(WorkbenchError):
    """A table or column does not follow the data contract (workbench.data.contract)."""


class MissingTableError(ContractError):
    """An analysis needs a contract table the store does not have."""


class InputFileError(WorkbenchError):
    """A file cannot be read: missing, empty, unknown format or encoding."""


class MappingError(WorkbenchError):
    """A column mapping (YAML) is malformed or names a column the file does not have."""


class ValidationFailed(WorkbenchError):
    """Validation found problems; ``report`` holds the full ValidationReport."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class ParameterError(WorkbenchError):
    """A parameter is outside its valid choices (unknown segment column, unsupported period, ...)."""


class WorkbenchWarning(UserWarning):
    """Base class of our warnings."""


class ThinDataWarning(WorkbenchWarning):
    """A cell or segment is too small to estimate; its value is NaN instead of a crash."""


def choices_message(what: str, received, choices) -> str:
    """'what=received' is not valid; expected one of: a, b, c."""
    listed = ", ".join(str(c) for c in choices)
    return f"{what}={received!r} is not valid; expected one of: {listed}."
