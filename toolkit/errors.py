"""One error hierarchy for the toolkit.

Every error a user can cause (bad file, bad config, bad submission) is a ``ToolkitError`` whose
message is one line saying what is wrong and how to fix it; the CLI turns it into a
``ClickException`` instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "ToolkitError",
    "ConfigError",
    "FormatError",
    "ContractError",
    "DataError",
    "ModelError",
    "SubmissionError",
    "raise_if_problems",
    "one_line",
]

# Every line break str.splitlines() knows: a message printed after ``Error:`` must stay on its line.
_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(text: object, limit: int | None = None) -> str:
    """``text`` on one line (line breaks become spaces), cut to ``limit`` characters with an ellipsis.

    For embedding what a stranger's file or a library said (an entry name, an exception's text) in
    a one-line error.
    """
    out = str(text).translate(_BREAKS)
    return out if limit is None or len(out) <= limit else out[: max(0, limit - 1)] + "…"


class ToolkitError(Exception):
    """Base class: a user-facing problem with a one-line message (and an optional hint)."""

    def __init__(self, message: str, hint: str | None = None):
        # a safety net: a file name or a library's text with a line break must not split the message
        message, hint = one_line(message), None if hint is None else one_line(hint)
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(ToolkitError):
    """A track, recipe or option is invalid or unknown."""


class FormatError(ToolkitError):
    """A file does not follow the expected format."""


class ContractError(FormatError):
    """An array breaks the data contract (``signals``): wrong rank, shape, dtype, or a NaN/inf value."""


class DataError(ToolkitError):
    """A dataset or challenge file is missing or inconsistent."""


class ModelError(ToolkitError):
    """A model file is missing, corrupt or does not fit its architecture."""


class SubmissionError(ToolkitError):
    """A submission breaks one or more of the scorer's rules."""

    def __init__(self, problems: list[str], hint: str | None = None):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s): " + "; ".join(self.problems[:10])
        if len(self.problems) > 10:
            head += f"; … and {len(self.problems) - 10} more"
        super().__init__(head, hint)


def raise_if_problems(problems: list[str], error=SubmissionError, hint: str | None = None) -> None:
    """Raise ``error`` once with every collected problem, or return when there are none."""
    if problems:
        if error is SubmissionError or issubclass(error, SubmissionError):
            raise error(problems, hint)
        raise error("; ".join(problems), hint)
