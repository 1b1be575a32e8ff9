"""The ``mia`` command: a thin layer over the library.

Each command lives in ``toolkit/commands/<concept>.py`` and exports ``COMMANDS`` (a list of click
commands or groups); this module collects them. Library errors (``ToolkitError``) become a
one-line ``ClickException`` with exit status 1, never a traceback; so do the storage errors a stage
meets while writing (a full disk, a read-only folder).

Each command module imports what its command needs inside the command, so that ``mia --help``
starts without scikit-learn, Optuna or torch.
"""

from __future__ import annotations

import errno
import importlib
import pkgutil

import click

from toolkit.errors import ToolkitError, one_line

__all__ = ["cli", "main"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# What the disk or the folder refuses while a stage writes: the user's to fix, so one line, not a traceback.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


class ToolkitGroup(click.Group):
    """A group whose commands turn ToolkitError into a one-line error."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ToolkitError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.errno not in _STORAGE_ERRNOS:
                raise
            where = f": {exc.filename}" if exc.filename else ""
            raise click.ClickException(
                one_line(
                    f"{exc.strerror or exc}{where} (free space or choose a writable "
                    "folder; files already written are whole)"
                )
            ) from None


@click.group(cls=ToolkitGroup, context_settings=CONTEXT)
@click.version_option(package_name="mia-toolkit")
def cli():
    """Membership-inference challenges, from the organisers' files to a leaderboard-ready submission.

    \b
    Example (the embedded demo, end to end):
      mia submit --track demo
    """


def _register() -> None:
    from toolkit import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        for cmd in getattr(module, "COMMANDS", []):
            cli.add_command(cmd)


_register()


def main() -> None:
    """The ``mia`` console script's entry point."""
    cli(prog_name="mia")


if __name__ == "__main__":
    main()
