"""The one exception type that the CLI turns into a single-line message and exit code 2."""

__all__ = ["UserError"]


class UserError(Exception):
    """Bad input from the user (config, CLI arguments, missing data): shown as one line, never as a traceback."""
