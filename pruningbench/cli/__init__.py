"""Command-line interface: ``pruningbench run | bench | leaderboard | report | list | evaluate | worker | queue |
serve | token | export-run``.

Every user error (bad config, unknown name, missing data, bad store) ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import logging

import typer
from rich.logging import RichHandler

# The command modules register their commands on import; the help lists them in this order.
# isort: off
from pruningbench.cli import runs  # noqa: F401
from pruningbench.cli import queue  # noqa: F401
from pruningbench.cli import platform  # noqa: F401

# isort: on
from pruningbench.cli.common import cli, errors
from pruningbench.errors import UserError
from pruningbench.registry import load_plugins

__all__ = ["app"]


def app() -> None:
    """Console entry point: run the CLI, turning user errors into one line and exit code 2."""
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=errors, show_path=False)]
    )
    try:
        load_plugins()
        cli(standalone_mode=False)
    except UserError as error:
        errors.print(f"error: {error}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        errors.print("interrupted: stored results are intact; rerun to continue", highlight=False)
        raise SystemExit(130) from None
    except (typer.Exit, typer.Abort) as stop:
        raise SystemExit(getattr(stop, "exit_code", 1)) from None
    except Exception as error:  # click usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            raise SystemExit(error.exit_code) from None
        raise
