"""``python -m duckpond``: the ``pond`` command."""

from duckpond.cli.main import run

if __name__ == "__main__":
    run()
