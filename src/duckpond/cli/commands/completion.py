"""``pond completion bash|zsh|fish``: the shell code that completes ``pond`` command lines."""

from __future__ import annotations

import argparse
from typing import Any

SHELLS = ("bash", "zsh", "fish")

DESCRIPTION = """\
Print the shell code that completes pond's commands, options and the pond paths of the current
pond (--pond or $POND) as you press TAB. Load it from your shell's start-up file:

  bash   eval "$(pond completion bash)"          (~/.bashrc)
  zsh    eval "$(pond completion zsh)"           (~/.zshrc, after compinit)
  fish   pond completion fish | source           (~/.config/fish/config.fish)

The completion runs pond itself (argcomplete), so it always matches the installed version.
"""


def add_parser(subparsers: Any, *, common: argparse.ArgumentParser, **_: Any) -> None:
    p = subparsers.add_parser(
        "completion",
        parents=[common],
        help="print shell code for TAB completion (bash, zsh, fish)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["pond"], shell=args.shell))
    return 0
