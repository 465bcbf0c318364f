"""One module per ``pond`` command.

Each module defines ``add_parser(subparsers, parents)`` (argparse only, stdlib only) and
``run(args) -> int``, which calls the library and prints. Heavy imports stay inside ``run``.
"""

from __future__ import annotations

#: Command modules in the order ``pond --help`` lists them (a module may name its command
#: differently: ``list_factories`` is ``pond list-factories``).
COMMANDS = (
    "init",
    "mkdir",
    "copy",
    "list",
    "cat",
    "describe",
    "rm",
    "mv",
    "revert",
    "rm_rows",
    "diff",
    "show",
    "log",
    "status",
    "recover",
    "maintain",
    "list_factories",
    "mknod",
    "run",
    "apply",
    "export",
    "backup",
    "restore",
    "mirror",
    "completion",
)
