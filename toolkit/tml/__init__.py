"""The ``tml`` kind: the ResNet18 public/private task (pipeline, ``ids,score`` CSV, upload client);
``kind`` runs its stage."""

__all__: list[str] = []  # import the modules themselves
