"""Reproducible experiments: model size vs overfitting (``scaling``), class imbalance
(``imbalance``), leakage measures (``leakage``) and the machine-unlearning audit (``unlearning``)."""

__all__: list[str] = []  # import the modules themselves
