"""One module per ``pond`` command.

Each module defines ``add_parser(subparsers, parents)`` (argparse only, stdlib only) and
``run(args) -> int``, which calls the library and prints. Heavy imports stay inside ``run``.
"""

from __future__ import annotations

#: Command modules in the order ``pond --help`` lists them.
COMMANDS = (
    "init",
    "mkdir",
    "copy",
    "list",
    "cat",
    "describe",
    "rm",
    "mv",
    "show",
    "log",
    "status",
    "recover",
    "maintain",
)
