"""The ``pond`` command: a thin shell over the library (docs/design.md, "Layers").

:mod:`duckpond.cli.parser` builds the argparse tree from one module per command in
:mod:`duckpond.cli.commands`; :func:`duckpond.cli.main.main` runs it and maps each
:class:`~duckpond.errors.PondError` family to its documented exit status. Nothing here imports
pyarrow, deltalake, DataFusion or rich at module level: ``pond --help`` must start fast.
"""
