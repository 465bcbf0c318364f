"""Entry point of the ``pond`` command: parse, run one command, map errors to exit statuses.

Every error is one line on stderr, ``pond: <path>: <cause>``; a traceback is added only with
``DUCKPOND_LOG=debug``. Exit statuses are those of :class:`duckpond.errors.ExitCode`, each
error family's ``exit_code`` (the table in ``pond --help`` and README.md is
:data:`duckpond.errors.EXIT_STATUSES`). Anything that is not a :class:`PondError` is a bug: exit
70, with the traceback under ``DUCKPOND_LOG=debug``. A host ``OSError`` that reached here
untranslated is mapped as the library would (:func:`duckpond.errors.os_error`), so a full disk is
74, never 70.

A closed stdout (``pond cat ... | head``) ends the command quietly with status 0. Warnings (a
factory input pattern that matches nothing, a failed auto push after a commit) are one line each,
``pond: warning: <message>``, and do not change the status.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from duckpond.errors import ExitCode, PondError, first_line, os_error, printable

__all__ = ["GC_THRESHOLDS", "main", "run"]

#: The cyclic garbage collector's thresholds in a ``pond`` process (young generation,
#: middle, old: see :func:`gc.set_threshold`; Python's default is 700, 10, 10).
GC_THRESHOLDS: tuple[int, int, int] = (50_000, 20, 20)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pond`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    from duckpond import diagnostics
    from duckpond.cli.common import OUTPUT
    from duckpond.cli.parser import CliUsageError, build_parser

    argv = list(sys.argv[1:] if argv is None else argv)
    OUTPUT.set(None)
    diagnostics.configure()
    completing = "_ARGCOMPLETE" in os.environ
    parser = build_parser(None if completing else argv)
    if completing:  # the shell asks for completions (pond completion SHELL)
        import argcomplete

        argcomplete.autocomplete(parser)  # prints them and exits the process
    try:
        args = parser.parse_args(argv)
    except CliUsageError as exc:
        _fail(str(exc))
        return ExitCode.USAGE
    except SystemExit as exc:  # --help, --version
        if isinstance(exc.code, int):
            return exc.code
        return ExitCode.OK if exc.code is None else ExitCode.USAGE
    args.argv = _recorded_args(argv)
    OUTPUT.set(args)
    if OUTPUT.verbose:
        diagnostics.configure("debug" if OUTPUT.verbose > 1 else "info")
    try:
        with _warnings_as_lines():
            return int(args.func(args) or 0)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        _fail("interrupted")
        return ExitCode.INTERRUPTED
    except PondError as exc:
        _fail(str(exc))
        return exc.exit_code
    except OSError as exc:  # a host error no library call translated: the same mapping
        error = os_error(exc)
        _fail(str(error))
        return error.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug: one line and status 70, not a traceback
        _fail(f"internal error: {type(exc).__name__}: {first_line(exc)}", hint=True)
        return ExitCode.INTERNAL


def run() -> None:
    """Console entry point (``pond = duckpond.cli.main:run``).

    The process ends with ``os._exit`` once its output is flushed: the interpreter's own
    finalization can race the native thread pools of DataFusion, deltalake and pyarrow (a worker
    still attached to the interpreter is force-unwound and glibc aborts: a rare SIGABRT seen after
    a command had already printed its result). Every file the command wrote is closed by then.
    """
    import gc
    import logging

    # a command is one short process that allocates many objects and makes few cycles: at the
    # default pace a 5-year site build spent ~50 ms in collections (one full collection ~21 ms)
    # and collected a few hundred objects; with these thresholds ~25 ms (no full collection).
    # The collector still runs, less often, in a long command.
    gc.set_threshold(*GC_THRESHOLDS)
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show each warning the command raises as one line ``pond: warning: <message>`` on stderr.

    User warnings (a factory input matching nothing: ``EmptyInputWarning``) are always shown,
    once per distinct message; other categories follow the interpreter's filters.
    """
    import warnings

    seen: set[str] = set()

    def show(message: Warning | str, *_: object, **__: object) -> None:
        text = " ".join(str(message).split())
        if text not in seen:
            seen.add(text)
            from duckpond.cli.common import warn

            warn(text)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show  # restored by catch_warnings
        yield


def _fail(message: str, *, hint: bool = False) -> None:
    from duckpond import diagnostics
    from duckpond.cli.common import OUTPUT

    debug = diagnostics.level_from_env() == "debug" or OUTPUT.verbose > 1
    if debug and sys.exc_info()[0] is not None:
        import traceback

        traceback.print_exc(file=sys.stderr)
    elif hint:
        message += " (set DUCKPOND_LOG=debug for a traceback)"
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    print(f"pond: {printable(' '.join(message.split()))}", file=sys.stderr)


#: Global options that do not change what a command does (not recorded in the log); those
#: with a value (``--pond PATH``) are followed by it.
_UNRECORDED_VALUE = frozenset({"--pond", "--color"})
_UNRECORDED_FLAG = frozenset({"-q", "--quiet", "-v", "--verbose", "-vv", "-vvv"})


def _recorded_args(argv: list[str]) -> list[str]:
    """The command line a transaction records: argv without the global ``--pond``, ``--color``,
    ``-q`` and ``-v`` options."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--":  # what follows belongs to the command
            return out + argv[i:]
        if arg in _UNRECORDED_VALUE:
            skip = True
            continue
        if arg.split("=", 1)[0] in _UNRECORDED_VALUE or arg in _UNRECORDED_FLAG:
            continue
        out.append(arg)
    return out


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush cannot fail."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
