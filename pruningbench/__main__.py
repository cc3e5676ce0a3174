"""``python -m pruningbench``: the command-line interface (how local workers are started)."""

from pruningbench.cli import app

if __name__ == "__main__":
    app()
