"""Packaging beyond setup.cfg: the built-in tracks/ folder ships inside the wheel as toolkit.builtin_tracks, and
auto's family prior (toolkit/choose/selection_prior.json) beside its rules."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["toolkit", "toolkit.*"]) + ["toolkit.builtin_tracks"],
    package_dir={"toolkit.builtin_tracks": "tracks"},
    package_data={"toolkit.builtin_tracks": ["*/track.toml"], "toolkit.choose": ["selection_prior.json"]},
)
