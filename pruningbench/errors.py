"""The one exception type that the CLI turns into a single-line message and exit code 2."""

__all__ = ["UserError", "first_line"]


class UserError(Exception):
    """Bad input from the user (config, CLI arguments, missing data): shown as one line, never as a traceback."""


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its type name when the message is empty), for one-line reports."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
