"""A reader that leaves early (`quantum-trader audit | head`) ends the command quietly, as `git log | head` does.

typer catches the closed pipe and exits 1, and rich (tables, help) does the same on its own; without a
flush inside the program, output still buffered at return meets the closed pipe in the interpreter's
final flush ("Exception ignored ... BrokenPipeError", exit 120). `PipeAwareGroup` is the app's command
group, so every command, present and future, gets this without handling a pipe itself.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Context  # typer vendors click: the Context its groups' methods take


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (poll says POLLERR), so a BrokenPipeError came from
    there and not from a socket or a child's pipe: only then is it the user's `| head` and not a failure."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
    except (AttributeError, OSError, ValueError):  # stdout replaced by an object without a descriptor; no poll()
        return False
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _discard_stdout() -> None:
    """Point stdout's descriptor at /dev/null: what is still buffered, and the interpreter's final flush, then go
    nowhere instead of raising BrokenPipeError again (the recipe of the Python docs, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _flush_stdout() -> None:
    """Write out what the command left buffered now, while a closed pipe can still be handled quietly; at
    interpreter exit it would print "Exception ignored ... BrokenPipeError" and exit 120."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()


def _rich_met_a_broken_pipe(exc: SystemExit) -> bool:
    """Whether this is rich's own way out of a closed pipe (`Console.on_broken_pipe`: stdout already pointed at
    /dev/null, then exit 1 raised while handling the BrokenPipeError), which tables and help printed with rich take."""
    return exc.code == 1 and isinstance(exc.__context__, BrokenPipeError)


@contextmanager
def _quiet_when_the_reader_leaves() -> Iterator[None]:
    """`quantum-trader audit | head` ends as `git log | head` does: when the reader of stdout has gone, the
    command stops where it is, says nothing and exits 0 (typer and rich would exit 1). Any other exception, and
    the command's own exit code when only the final flush meets the closed pipe, pass through unchanged."""
    try:
        yield
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        _discard_stdout()
        raise typer.Exit(0) from None
    except SystemExit as exc:
        if not _rich_met_a_broken_pipe(exc):
            raise
        raise typer.Exit(0) from None
    finally:
        _flush_stdout()


class PipeAwareGroup(TyperGroup):
    """The command group of `quantum-trader`: every command (and the help) runs inside
    `_quiet_when_the_reader_leaves`, so no command has to handle a closed pipe itself."""

    def make_context(self, info_name: str | None, args: list[str], parent: Context | None = None,
                     **extra: Any) -> Context:
        with _quiet_when_the_reader_leaves():  # `quantum-trader --help | head -1` prints here
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        with _quiet_when_the_reader_leaves():
            return super().invoke(ctx)
