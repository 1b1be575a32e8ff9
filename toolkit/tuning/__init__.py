"""Tuning a scenario's recipe with Optuna on validation folds: ``space`` (what is searched), ``study``
(the protocol and held-out verdict), ``report`` (plots)."""

__all__: list[str] = []  # import the modules themselves
