"""The ``mico`` kind: MICO-layout challenges (seeds and challenge points, the local builder, scenarios,
validation folds, scoring, the ddp calibration, the packager and the checker); ``kind`` runs its stages."""

__all__: list[str] = []  # import the modules themselves
