"""``mia report``: draw a submission's report again from its run folder's files."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["COMMANDS", "report"]


@click.command("report")
@click.argument("run", type=click.Path(path_type=Path))
def report(run):
    """Rebuild report.html and its PNGs from a run folder's report.npz (written by `mia submit`).

    RUN is a run folder (submissions/<track>/<run>/), or a file of one run (the zip, manifest.json,
    or the ResNet18 task's <run>.csv); a folder of ResNet18 runs rebuilds each run's report.

    \b
    Examples:
      mia report submissions/demo/20260101-120000
      mia report submissions/resnet18/mlp1.csv
    """
    from toolkit.report import rebuild

    for page in rebuild(run):
        click.echo(f"report: {page}")


COMMANDS = [report]
