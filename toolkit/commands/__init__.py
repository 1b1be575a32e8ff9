"""One module per concept, each exporting ``COMMANDS`` (see ``toolkit.cli``)."""

__all__: list[str] = []  # the command modules are found by ``toolkit.cli``
