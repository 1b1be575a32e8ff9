"""Hypothesis settings for the property tests of the readers of outside data.

No example database (nothing is written into the checkout) and no per-example deadline (the first
example of a test pays torch's import). Under CI (``CI`` set) the examples are derandomised, so a
red run can be re-run to the same inputs; elsewhere each run tries new ones.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "readers",
    database=None,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
settings.load_profile("readers")
