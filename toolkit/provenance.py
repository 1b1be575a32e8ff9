"""Where a result came from: the git commit, package versions and time, for every manifest."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

__all__ = ["manifest_base"]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def manifest_base() -> dict:
    """Creation time, git commit, Python and the versions of the packages that shape the numbers."""
    versions = {}
    for pkg in ("mia-toolkit", "torch", "numpy", "scikit-learn", "lightgbm", "optuna", "pandas"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "packages": versions,
    }
